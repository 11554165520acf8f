from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimization.capabilities import ProviderCapabilities
from optimization.config import (
    FIELDS,
    OPTIMIZATION_DEFAULTS,
    OptimizationConfig,
    validate_field,
)
from optimization.exceptions import ConfigValidationError

ANTHROPIC = ProviderCapabilities.detect("anthropic", "claude-sonnet-4-5")
OPENAI = ProviderCapabilities.detect("openAI", "gpt-4o")
OLLAMA = ProviderCapabilities.detect("ollama", "llama3")


def strict_error(configuration, provider=None):
    with pytest.raises(ConfigValidationError) as caught:
        OptimizationConfig.from_dict(configuration, strict=True, provider=provider)
    return caught.value.errors


def test_the_defaults_are_the_phase_1_plan_schema():
    assert dict(OPTIMIZATION_DEFAULTS) == {
        "optimizationEnabled": False,
        "batchingEnabled": False,
        "batchMaxSize": 10000,
        "batchTimeout": 30,
        "cachingEnabled": False,
        "cacheTTL": 300,
        "cacheBreakpoints": "auto",
        "fallbackToStandard": True,
        "optimizationStrategy": "auto",
    }
    assert [spec.name for spec in FIELDS] == list(OPTIMIZATION_DEFAULTS)
    assert all(spec.default == OPTIMIZATION_DEFAULTS[spec.name] for spec in FIELDS)
    assert all(spec.help.endswith(".") for spec in FIELDS)


def test_an_empty_configuration_takes_every_default():
    config = OptimizationConfig.from_dict({}, strict=True)
    assert config == OptimizationConfig()
    assert config.batch_timeout == 30.0
    assert config.warnings == ()
    assert config.to_dict() == dict(OPTIMIZATION_DEFAULTS)


def test_null_means_not_set():
    config = OptimizationConfig.from_dict({"batchMaxSize": None}, strict=True)
    assert config.batch_max_size == 10000
    assert validate_field("cacheTTL", None) == 300


def test_it_reads_every_field():
    config = OptimizationConfig.from_dict(
        {
            "optimizationEnabled": True,
            "batchingEnabled": True,
            "batchMaxSize": 500,
            "batchTimeout": 2.5,
            "cachingEnabled": True,
            "cacheTTL": 3600,
            "cacheBreakpoints": ["tools", "system", "messages:-1"],
            "fallbackToStandard": False,
            "optimizationStrategy": "both",
        },
        strict=True,
    )
    assert config.optimization_enabled
    assert config.batching_enabled
    assert config.batch_max_size == 500
    assert config.batch_timeout == 2.5
    assert config.caching_enabled
    assert config.cache_ttl == 3600
    assert config.cache_breakpoints == ("tools", "system", "messages:-1")
    assert not config.fallback_to_standard
    assert config.optimization_strategy == "both"


def test_unknown_keys_round_trip_untouched_and_in_order():
    document = {
        "model": "claude-sonnet-4-5",
        "apiKey": "sk-ant-secret",
        "batchMaxSize": 42,
        "nested": {"a": [1, 2]},
    }
    config = OptimizationConfig.from_dict(document, strict=True)
    result = config.to_dict()
    assert list(result)[:4] == ["model", "apiKey", "batchMaxSize", "nested"]
    assert result["apiKey"] == "sk-ant-secret"
    assert result["nested"] == {"a": [1, 2]}
    result["nested"]["a"].append(3)
    assert document["nested"] == {"a": [1, 2]}
    assert set(result) == set(document) | set(OPTIMIZATION_DEFAULTS)


def test_a_directly_built_config_writes_its_extra_keys_too():
    config = OptimizationConfig(cache_ttl=3600, extra={"model": "m"})
    assert config.to_dict() == {**OPTIMIZATION_DEFAULTS, "cacheTTL": 3600, "model": "m"}


def test_secrets_never_show_in_the_repr():
    config = OptimizationConfig.from_dict({"apiKey": "sk-ant-secret"})
    assert "sk-ant-secret" not in repr(config)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("true", True),
        (" TRUE ", True),
        ("yes", True),
        ("on", True),
        ("1", True),
        (1, True),
        (False, False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("0", False),
        (0, False),
    ],
)
def test_it_accepts_the_documented_boolean_spellings(value, expected):
    assert validate_field("cachingEnabled", value) is expected


@pytest.mark.parametrize("value", [2, -1, 0.5, "maybe", "", [], {}, "tru"])
def test_it_rejects_other_booleans_with_a_clear_message(value):
    errors = strict_error({"cachingEnabled": value})
    assert errors["cachingEnabled"].startswith("cachingEnabled must be true or false; got ")


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1), (100000, 100000), ("300", 300), (" +42 ", 42), (500.0, 500)]
)
def test_it_accepts_whole_numbers_for_batch_max_size(value, expected):
    assert validate_field("batchMaxSize", value) == expected


@pytest.mark.parametrize("value", [0, -5, 100001, 2.5, "abc", "1e4", "10_000", True, False, None])
def test_it_rejects_a_bad_batch_max_size(value):
    if value is None:
        assert validate_field("batchMaxSize", value) == 10000
        return
    with pytest.raises(ConfigValidationError) as caught:
        validate_field("batchMaxSize", value)
    assert caught.value.errors == {
        "batchMaxSize": "batchMaxSize must be a whole number from 1 to 100000 (the largest "
        f"batch any provider accepts); got {value!r}"
    }


def test_it_rejects_a_batch_size_above_the_provider_limit():
    errors = strict_error({"batchMaxSize": 60000}, provider="openAI")
    assert errors == {
        "batchMaxSize": "batchMaxSize must be a whole number from 1 to 50000 "
        "(openAI's per-batch limit); got 60000"
    }
    assert (
        OptimizationConfig.from_dict({"batchMaxSize": 60000}, provider="anthropic").batch_max_size
        == 60000
    )


def test_it_names_anthropic_limit_for_garbage():
    errors = strict_error({"batchMaxSize": "abc"}, provider="anthropic")
    assert errors["batchMaxSize"] == (
        "batchMaxSize must be a whole number from 1 to 100000 (anthropic's per-batch limit); "
        "got 'abc'"
    )


def test_a_provider_without_a_published_limit_uses_the_general_ceiling():
    assert validate_field("batchMaxSize", 100000, provider="gemini") == 100000
    assert validate_field("batchMaxSize", 100000, provider="ollama") == 100000


def test_tolerant_mode_clamps_an_over_limit_batch_size_to_what_the_provider_accepts():
    config = OptimizationConfig.from_dict({"batchMaxSize": "lots"}, provider="openAI")
    assert config.batch_max_size == 10000
    assert "batchMaxSize" in config.warnings[0]


@pytest.mark.parametrize(
    ("value", "expected"), [(30, 30.0), (0.5, 0.5), ("30.5", 30.5), (".5", 0.5), (86400, 86400.0)]
)
def test_it_accepts_seconds_for_batch_timeout(value, expected):
    assert validate_field("batchTimeout", value) == expected


@pytest.mark.parametrize(
    "value", [0, -1, 86401, float("nan"), float("inf"), "nan", "inf", "1e3", "soon", True, [30]]
)
def test_it_rejects_a_bad_batch_timeout(value):
    errors = strict_error({"batchTimeout": value})
    assert errors["batchTimeout"].startswith(
        "batchTimeout must be a number of seconds above 0 and at most 86400 (one day); got "
    )


def test_a_fractional_timeout_survives_to_dict_and_a_whole_one_is_written_as_an_integer():
    assert OptimizationConfig.from_dict({"batchTimeout": "2.5"}).to_dict()["batchTimeout"] == 2.5
    written = OptimizationConfig.from_dict({"batchTimeout": 60.0}).to_dict()["batchTimeout"]
    assert written == 60
    assert isinstance(written, int)


@pytest.mark.parametrize(
    ("value", "expected"), [(300, 300), (3600, 3600), ("300", 300), ("5m", 300), ("1H", 3600)]
)
def test_it_accepts_the_two_cache_ttls(value, expected):
    assert validate_field("cacheTTL", value) == expected


@pytest.mark.parametrize("value", [600, 0, "10m", True, 300.5, "forever"])
def test_it_rejects_any_other_cache_ttl(value):
    errors = strict_error({"cacheTTL": value})
    assert errors["cacheTTL"] == (
        "cacheTTL must be 300 (5 minutes) or 3600 (1 hour), the two lifetimes Anthropic offers; "
        f"got {value!r}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("auto", "auto"),
        (" OFF ", "off"),
        (["system"], ("system",)),
        (("tools", "messages:-2"), ("tools", "messages:-2")),
        ("system, messages:-1", ("system", "messages:-1")),
        (["Messages: +3"], ("messages:3",)),
        (
            ["tools", "system", "messages:0", "messages:-1"],
            ("tools", "system", "messages:0", "messages:-1"),
        ),
    ],
)
def test_it_accepts_breakpoint_modes_and_rules(value, expected):
    assert validate_field("cacheBreakpoints", value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ([], 'has no rules; use "off"'),
        ("", 'has no rules; use "off"'),
        (["tools", "system", "messages:-1", "messages:-2", "messages:-3"], "at most 4 rules"),
        (["system", "system"], "names the same rule twice"),
        (["messages:-1", "messages: -1"], "names the same rule twice"),
        (["everything"], 'rules must be "tools", "system" or "messages:N"'),
        (["messages:1000"], 'rules must be "tools", "system" or "messages:N"'),
        (["messages:last"], 'rules must be "tools", "system" or "messages:N"'),
        ([4], 'rules must be "tools", "system" or "messages:N"'),
        (7, 'must be "auto", "off" or a list of rules'),
        ({"system": True}, 'must be "auto", "off" or a list of rules'),
    ],
)
def test_it_rejects_bad_breakpoint_rules(value, fragment):
    errors = strict_error({"cacheBreakpoints": value})
    assert errors["cacheBreakpoints"].startswith("cacheBreakpoints ")
    assert fragment in errors["cacheBreakpoints"]


@pytest.mark.parametrize("value", ["auto", "BATCH_ONLY", " cache_only ", "both"])
def test_it_accepts_the_four_strategies(value):
    assert validate_field("optimizationStrategy", value) == value.strip().lower()


@pytest.mark.parametrize("value", ["batch", "", 3, None])
def test_it_rejects_an_unknown_strategy(value):
    if value is None:
        assert validate_field("optimizationStrategy", value) == "auto"
        return
    errors = strict_error({"optimizationStrategy": value})
    assert errors["optimizationStrategy"] == (
        f"optimizationStrategy must be one of auto, batch_only, cache_only, both; got {value!r}"
    )


def test_strict_mode_reports_every_bad_field_at_once():
    errors = strict_error({"batchMaxSize": 0, "cacheTTL": 5, "optimizationEnabled": "si"})
    assert set(errors) == {"batchMaxSize", "cacheTTL", "optimizationEnabled"}


def test_tolerant_mode_falls_back_to_defaults_and_warns():
    config = OptimizationConfig.from_dict(
        {"batchMaxSize": 0, "cacheTTL": 5, "cachingEnabled": True, "model": "m"}
    )
    assert config.batch_max_size == 10000
    assert config.cache_ttl == 300
    assert config.caching_enabled
    assert len(config.warnings) == 2
    assert config.warnings[0].endswith("; using 10000")
    assert config.to_dict()["model"] == "m"


def test_a_configuration_that_is_not_an_object_is_rejected_or_defaulted():
    errors = strict_error(["not", "a", "dict"])
    assert errors == {
        "configuration": "configuration must be a JSON object; got ['not', 'a', 'dict']"
    }
    config = OptimizationConfig.from_dict("nonsense")  # type: ignore[arg-type]
    assert config == OptimizationConfig(warnings=config.warnings)
    assert "using the defaults" in config.warnings[0]


def test_validate_field_rejects_an_unknown_field_name():
    with pytest.raises(ConfigValidationError) as caught:
        validate_field("batchSize", 10)
    assert "batchSize is not an optimization field" in caught.value.errors["batchSize"]


def test_long_values_are_shortened_in_messages():
    errors = strict_error({"optimizationStrategy": "x" * 500})
    assert len(errors["optimizationStrategy"]) < 150


# The strategy truth table of the module docstring, row by row.
@pytest.mark.parametrize(
    ("strategy", "batching", "caching"),
    [
        ("auto", True, True),
        ("both", True, True),
        ("batch_only", True, False),
        ("cache_only", False, True),
    ],
)
def test_each_strategy_allows_the_documented_features(strategy, batching, caching):
    config = OptimizationConfig.from_dict(
        {
            "optimizationEnabled": True,
            "batchingEnabled": True,
            "cachingEnabled": True,
            "optimizationStrategy": strategy,
        }
    )
    assert config.wants_batching(ANTHROPIC) is batching
    assert config.wants_caching(ANTHROPIC) is caching


@pytest.mark.parametrize("strategy", ["auto", "both", "batch_only", "cache_only"])
def test_switches_are_hard_vetoes_whatever_the_strategy(strategy):
    off = OptimizationConfig.from_dict(
        {"optimizationEnabled": True, "optimizationStrategy": strategy}
    )
    assert not off.wants_batching(ANTHROPIC)
    assert not off.wants_caching(ANTHROPIC)
    master_off = OptimizationConfig.from_dict(
        {"batchingEnabled": True, "cachingEnabled": True, "optimizationStrategy": strategy}
    )
    assert not master_off.wants_batching(ANTHROPIC)
    assert not master_off.wants_caching(ANTHROPIC)


def test_unsupported_features_are_never_wanted():
    config = OptimizationConfig.from_dict(
        {"optimizationEnabled": True, "batchingEnabled": True, "cachingEnabled": True}
    )
    assert not config.wants_batching(OLLAMA)
    assert not config.wants_caching(OLLAMA)
    assert config.wants_caching(OPENAI)


def test_breakpoints_off_stops_explicit_caching_but_not_automatic():
    config = OptimizationConfig.from_dict(
        {"optimizationEnabled": True, "cachingEnabled": True, "cacheBreakpoints": "off"}
    )
    assert not config.wants_caching(ANTHROPIC)
    assert config.wants_caching(OPENAI)


# --- properties -------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from([spec.name for spec in FIELDS])
# Values aimed at each field's edges as well as arbitrary JSON.
edgy_values = st.one_of(
    json_values,
    st.sampled_from(
        [
            "true",
            "off",
            "300",
            "3600",
            "5m",
            "1h",
            "30.5",
            "auto",
            "both",
            "messages:-1",
            "system, tools",
            "0",
            "-1",
            "100001",
            "nan",
            " 42 ",
        ]
    ),
    st.lists(
        st.sampled_from(["tools", "system", "messages:-1", "messages:2", "bogus"]), max_size=5
    ),
)
configurations = st.dictionaries(field_names | st.text(max_size=8), edgy_values, max_size=12)
providers = st.none() | st.sampled_from(["anthropic", "openAI", "gemini", "ollama", "nope"])


@settings(max_examples=300, deadline=None)
@given(configuration=configurations | json_values, provider=providers)
def test_tolerant_mode_never_raises_on_arbitrary_json(configuration, provider):
    config = OptimizationConfig.from_dict(configuration, provider=provider)
    # Whatever came in, what comes out passes strict validation unchanged.
    again = OptimizationConfig.from_dict(config.to_dict(), strict=True, provider=provider)
    for spec in FIELDS:
        assert getattr(again, spec.attribute) == getattr(config, spec.attribute)


@settings(max_examples=300, deadline=None)
@given(configuration=configurations, provider=providers)
def test_strict_mode_accepts_exactly_what_tolerant_mode_accepts_without_warnings(
    configuration, provider
):
    tolerant = OptimizationConfig.from_dict(configuration, provider=provider)
    errors: dict[str, str] = {}
    try:
        strict = OptimizationConfig.from_dict(configuration, strict=True, provider=provider)
    except ConfigValidationError as error:
        errors = error.errors
    if errors:
        assert set(errors) == {warning.split(" ", 1)[0] for warning in tolerant.warnings}
    else:
        assert tolerant.warnings == ()
        assert strict == tolerant


@settings(max_examples=300, deadline=None)
@given(configuration=configurations, provider=providers)
def test_strict_mode_never_accepts_an_invalid_value(configuration, provider):
    try:
        config = OptimizationConfig.from_dict(configuration, strict=True, provider=provider)
    except ConfigValidationError:
        return
    for spec in FIELDS:
        value = getattr(config, spec.attribute)
        if spec.type == "bool":
            assert isinstance(value, bool)
        elif spec.type == "int":
            assert type(value) is int
            assert 1 <= value <= 100000
        elif spec.type == "float":
            assert 0 < value <= 86400
        elif spec.type == "breakpoints":
            assert value in ("auto", "off") or (isinstance(value, tuple) and 1 <= len(value) <= 4)
        else:
            assert value in spec.choices


@settings(max_examples=300, deadline=None)
@given(configuration=configurations, provider=providers)
def test_to_dict_round_trips_and_is_json(configuration, provider):
    config = OptimizationConfig.from_dict(configuration, provider=provider)
    document = config.to_dict()
    json.dumps(document, allow_nan=True)
    assert OptimizationConfig.from_dict(document, provider=provider).to_dict() == document
    for key, value in configuration.items():
        if key not in OPTIMIZATION_DEFAULTS:
            assert document[key] == value or value != value  # NaN is never equal to itself


HOSTILE_VALUES = st.one_of(
    st.integers(min_value=-(10**5000), max_value=10**5000),
    st.just(10**5000),
    st.text(alphabet="0123456789", min_size=4_000, max_size=6_000),
    st.sampled_from(["٣٠٠", "３００", "1e400", "-0", "+30", "messages:" + "9" * 5000]),
    st.floats(),
    st.lists(st.integers(min_value=10**4000, max_value=10**4000 + 1), max_size=2),
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([spec.name for spec in FIELDS]), HOSTILE_VALUES)
def test_hostile_numbers_never_break_tolerant_parsing_and_strict_names_the_field(
    name: str, value: object
) -> None:
    config = OptimizationConfig.from_dict({name: value}, strict=False)
    assert config.to_dict()  # usable whatever arrived
    errors: dict[str, str] = {}
    try:
        OptimizationConfig.from_dict({name: value}, strict=True)
    except ConfigValidationError as error:
        errors = dict(error.errors)
    assert set(errors) <= {name}
    assert all(len(message) < 400 for message in errors.values())


def test_digits_outside_ascii_are_not_numbers() -> None:
    with pytest.raises(ConfigValidationError) as caught:
        OptimizationConfig.from_dict({"cacheTTL": "٣٠٠", "batchMaxSize": "１０"}, strict=True)
    assert set(caught.value.errors) == {"cacheTTL", "batchMaxSize"}


# --- the pydantic schema is the one place the fields are declared ---------------------------


def test_fields_defaults_and_bounds_are_read_from_the_pydantic_schema() -> None:
    from optimization._config_fields import OptimizationFields

    schema = OptimizationFields.model_fields
    assert [spec.attribute for spec in FIELDS] == list(schema)
    for spec in FIELDS:
        assert spec.name == schema[spec.attribute].alias
        assert spec.help == schema[spec.attribute].description
        assert getattr(OptimizationConfig(), spec.attribute) == schema[spec.attribute].default
    by_name = {spec.name: spec for spec in FIELDS}
    assert (by_name["batchMaxSize"].minimum, by_name["batchMaxSize"].maximum) == (1, 100000)
    assert not by_name["batchMaxSize"].minimum_exclusive
    assert (by_name["batchTimeout"].minimum, by_name["batchTimeout"].maximum) == (0, 86400)
    assert by_name["batchTimeout"].minimum_exclusive
    assert by_name["cacheTTL"].choices == (300, 3600)
    assert by_name["optimizationStrategy"].choices == ("auto", "batch_only", "cache_only", "both")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cachingEnabled", "t"),
        ("cachingEnabled", "y"),
        ("cachingEnabled", 1.0),
        ("batchMaxSize", "1_000"),
        ("batchMaxSize", b"10"),
        ("batchTimeout", b"30"),
        ("cacheTTL", 300.5),
        ("cacheTTL", "300.0"),
        ("optimizationStrategy", b"auto"),
    ],
)
def test_pydantic_lax_spellings_we_do_not_document_are_rejected(name: str, value: object) -> None:
    with pytest.raises(ConfigValidationError) as caught:
        validate_field(name, value)
    assert set(caught.value.errors) == {name}
    assert caught.value.errors[name].startswith(f"{name} ")


def test_a_whole_float_ttl_is_accepted_as_before() -> None:
    assert validate_field("cacheTTL", 3600.0) == 3600
    assert type(validate_field("cacheTTL", 3600.0)) is int
