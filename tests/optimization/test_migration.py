"""migrate_aiconfigs: adds the nine fields to chat-model entries, keeps everything else."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimization.capabilities import PROVIDERS
from optimization.config import OPTIMIZATION_DEFAULTS, OptimizationConfig
from optimization.migration import CHAT_MODEL_LISTS, migrate_aiconfigs

NINE = list(OPTIMIZATION_DEFAULTS)

json_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
# Valid and invalid values an operator may already have written for each field.
field_values = {
    "optimizationEnabled": st.sampled_from([True, False, "true", "off", 1, None, "maybe", 7]),
    "batchingEnabled": st.sampled_from([True, False, "yes", 0, None, [], "x"]),
    "batchMaxSize": st.sampled_from([1, 500, 10000, "200", 0, -5, 10**9, "lots", None]),
    "batchTimeout": st.sampled_from([30, 0.5, "12.5", 0, -1, "soon", None]),
    "cachingEnabled": st.sampled_from([True, False, "on", None, 3]),
    "cacheTTL": st.sampled_from([300, 3600, "5m", "1h", 60, "forever", None]),
    "cacheBreakpoints": st.sampled_from(["auto", "off", ["system", "messages:-1"], 5, [], None]),
    "fallbackToStandard": st.sampled_from([True, False, None, "nope"]),
    "optimizationStrategy": st.sampled_from(
        ["auto", "both", "cache_only", "BATCH_ONLY", "fast", None]
    ),
}
extra_keys = st.text(max_size=10).filter(lambda k: k not in OPTIMIZATION_DEFAULTS)


@st.composite
def configurations(draw: st.DrawFn) -> dict[str, Any]:
    config: dict[str, Any] = draw(st.dictionaries(extra_keys, json_values, max_size=4))
    config.setdefault("model", draw(st.sampled_from(["claude-sonnet-4-5", "gpt-4o", "llama3"])))
    config.setdefault("apiKey", "sk-secret")
    for name in draw(st.lists(st.sampled_from(NINE), unique=True, max_size=9)):
        config[name] = draw(field_values[name])
    return config


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    entry: dict[str, Any] = draw(st.dictionaries(extra_keys, json_values, max_size=2))
    entry["provider"] = draw(st.sampled_from(PROVIDERS))
    entry["configuration"] = draw(configurations())
    entry["isDefault"] = draw(st.booleans())
    return entry


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = draw(
        st.dictionaries(
            extra_keys.filter(lambda k: k not in CHAT_MODEL_LISTS), json_values, max_size=3
        )
    )
    document["llm"] = draw(st.lists(entries(), max_size=3))
    for name in ("slm", "reasoning", "multiModal", "embedding", "ocr"):
        if draw(st.booleans()):
            document[name] = draw(st.lists(entries(), max_size=2))
    return document


def assert_preserved(old: Any, new: Any, path: str = "$") -> None:
    """Every key and value of `old` is in `new`, unchanged, in the same order."""
    if isinstance(old, dict):
        assert isinstance(new, dict), path
        assert list(new)[: len(old)] == list(old), f"key order changed at {path}"
        for key, value in old.items():
            assert_preserved(value, new[key], f"{path}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list), path
        assert len(new) == len(old), path
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            assert_preserved(a, b, f"{path}[{index}]")
    else:
        assert type(new) is type(old), path
        assert new == old, path


def added_paths(old: Any, new: Any, path: str = "$") -> dict[str, Any]:
    """Paths (and values) present in `new` but not in `old`."""
    found: dict[str, Any] = {}
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in new.items():
            if key in old:
                found.update(added_paths(old[key], value, f"{path}.{key}"))
            else:
                found[f"{path}.{key}"] = value
    elif isinstance(old, list) and isinstance(new, list):
        for index, (a, b) in enumerate(zip(old, new, strict=False)):
            found.update(added_paths(a, b, f"{path}[{index}]"))
    return found


PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(documents())
def test_it_is_idempotent(document: dict[str, Any]) -> None:
    once, first = migrate_aiconfigs(document)
    twice, second = migrate_aiconfigs(once)

    assert twice == once
    assert not second.changed
    assert second.invalid == first.invalid


@PROPERTY
@given(documents())
def test_it_preserves_every_existing_field_value_and_key_order(document: dict[str, Any]) -> None:
    original = copy.deepcopy(document)

    migrated, _ = migrate_aiconfigs(document)

    assert document == original  # the input is not modified
    assert_preserved(original, migrated)


@PROPERTY
@given(documents())
def test_it_only_adds_missing_optimization_fields_to_chat_model_entries(
    document: dict[str, Any],
) -> None:
    migrated, changes = migrate_aiconfigs(document)

    added = added_paths(document, migrated)
    assert added == {change.path: change.value for change in changes.added}
    for path, value in added.items():
        head, _, name = path.rpartition(".")
        list_name = head.split(".")[1].split("[")[0]
        assert list_name in CHAT_MODEL_LISTS
        assert head.endswith("].configuration")
        assert value == OPTIMIZATION_DEFAULTS[name]
    for name in ("embedding", "ocr"):
        assert migrated.get(name) == document.get(name)


@PROPERTY
@given(documents())
def test_every_chat_model_entry_ends_up_with_all_nine_fields(document: dict[str, Any]) -> None:
    migrated, changes = migrate_aiconfigs(document)

    assert not changes.malformed
    for list_name in CHAT_MODEL_LISTS:
        for entry in migrated.get(list_name, []):
            assert set(NINE) <= set(entry["configuration"])


@PROPERTY
@given(st.lists(entries(), max_size=3))
def test_an_entry_without_invalid_values_passes_strict_validation_after_migration(
    llm: list[dict[str, Any]],
) -> None:
    migrated, changes = migrate_aiconfigs({"llm": llm})

    bad_entries = {finding.path.split(".configuration")[0] for finding in changes.invalid}
    for index, entry in enumerate(migrated["llm"]):
        if f"$.llm[{index}]" not in bad_entries:
            OptimizationConfig.from_dict(
                entry["configuration"], strict=True, provider=entry["provider"]
            )


@PROPERTY
@given(json_values)
def test_any_json_at_all_is_either_migrated_or_reported_never_an_exception(value: Any) -> None:
    migrated, changes = migrate_aiconfigs(value)

    assert json.loads(json.dumps(migrated)) == migrated
    if changes.malformed:
        assert migrated == value
        assert not changes.changed


def test_it_adds_the_nine_defaults_after_the_existing_keys() -> None:
    document = {
        "llm": [
            {
                "provider": "anthropic",
                "isDefault": True,
                "configuration": {"model": "claude-sonnet-4-5", "apiKey": "sk-ant-x"},
            }
        ],
        "customSystemPrompt": "Be brief.",
    }

    migrated, changes = migrate_aiconfigs(document)

    configuration = migrated["llm"][0]["configuration"]
    assert list(configuration) == ["model", "apiKey", *NINE]
    assert {k: configuration[k] for k in NINE} == dict(OPTIMIZATION_DEFAULTS)
    assert [c.field for c in changes.added] == NINE
    assert changes.added[0].path == "$.llm[0].configuration.optimizationEnabled"
    assert (changes.entries[0].provider, changes.entries[0].model) == (
        "anthropic",
        "claude-sonnet-4-5",
    )
    assert migrated["customSystemPrompt"] == "Be brief."


def test_it_migrates_slm_reasoning_and_multimodal_but_never_embeddings_or_ocr() -> None:
    entry = {"provider": "openAI", "configuration": {"model": "m"}}
    document = {name: [copy.deepcopy(entry)] for name in (*CHAT_MODEL_LISTS, "embedding", "ocr")}

    migrated, changes = migrate_aiconfigs(document)

    assert changes.lists == CHAT_MODEL_LISTS
    for name in CHAT_MODEL_LISTS:
        assert set(NINE) <= set(migrated[name][0]["configuration"])
    assert migrated["embedding"] == [entry]
    assert migrated["ocr"] == [entry]


def test_a_valid_existing_value_is_kept_exactly_as_written() -> None:
    configuration = {"model": "m", "cachingEnabled": "true", "cacheTTL": "1h", "batchMaxSize": None}
    migrated, changes = migrate_aiconfigs(
        {"llm": [{"provider": "anthropic", "configuration": configuration}]}
    )

    kept = migrated["llm"][0]["configuration"]
    assert (kept["cachingEnabled"], kept["cacheTTL"], kept["batchMaxSize"]) == ("true", "1h", None)
    assert "cachingEnabled" not in [c.field for c in changes.added]
    assert not changes.invalid


def test_an_invalid_existing_value_is_kept_and_reported_by_path() -> None:
    document = {
        "llm": [
            {"provider": "openAI", "configuration": {"model": "gpt-4o"}},
            {"provider": "openAI", "configuration": {"model": "gpt-4o", "batchMaxSize": 60000}},
        ]
    }

    migrated, changes = migrate_aiconfigs(document)

    assert migrated["llm"][1]["configuration"]["batchMaxSize"] == 60000
    assert [f.path for f in changes.invalid] == ["$.llm[1].configuration.batchMaxSize"]
    assert "50000" in changes.invalid[0].message
    assert "kept as it is" in changes.invalid[0].message
    # The rest of the document is still migrated.
    assert migrated["llm"][1]["configuration"]["cacheTTL"] == 300
    assert not changes.malformed


def test_a_second_run_reports_nothing_to_do() -> None:
    once, _ = migrate_aiconfigs({"llm": [{"provider": "ollama", "configuration": {}}]})

    _, changes = migrate_aiconfigs(once)

    assert not changes.changed
    assert changes.added == ()
    assert changes.to_json() == {"added": {}, "malformed": [], "invalid": []}


@pytest.mark.parametrize(
    ("document", "paths"),
    [
        (["not", "an", "object"], ["$"]),
        ({"embedding": []}, ["$.llm"]),
        ({"llm": {"provider": "openAI"}}, ["$.llm"]),
        ({"llm": [], "slm": "gpt"}, ["$.slm"]),
        ({"llm": ["openAI"]}, ["$.llm[0]"]),
        (
            {"llm": [{"provider": "openAI", "configuration": "model=gpt"}]},
            ["$.llm[0].configuration"],
        ),
        ({"llm": [{"provider": "openAI"}]}, ["$.llm[0].configuration"]),
        ({"llm": [{"provider": 7, "configuration": {}}]}, ["$.llm[0].provider"]),
        (
            {
                "llm": [{"provider": "openAI", "configuration": {}}, {"configuration": None}],
                "reasoning": [None],
            },
            ["$.llm[1].provider", "$.llm[1].configuration", "$.reasoning[0]"],
        ),
    ],
)
def test_a_malformed_document_is_reported_by_path_and_left_untouched(
    document: Any, paths: list[str]
) -> None:
    migrated, changes = migrate_aiconfigs(document)

    assert migrated == document
    assert migrated is not document
    assert [f.path for f in changes.malformed] == paths
    assert all(f.message for f in changes.malformed)
    assert not changes.changed
    assert changes.to_json()["malformed"][0]["path"] == paths[0]
