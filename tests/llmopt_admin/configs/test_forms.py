from __future__ import annotations

import json

from llmopt_admin.configs.forms import (
    FORM_FIELDS,
    SWITCH_FIELDS,
    DisableAllForm,
    EntrySettingsForm,
    loaded_snapshot,
)
from llmopt_admin.configs.selectors import entry_view
from optimization.config import FIELDS

ENTRY = {
    "provider": "anthropic",
    "configuration": {
        "model": "claude-sonnet-4-5",
        "apiKey": "sk-ant-secret-1234",
        "batchMaxSize": 500,
        "cacheBreakpoints": ["system", "messages:-1"],
    },
}


def form_for(data: dict | None = None) -> EntrySettingsForm:
    return EntrySettingsForm.for_entry(entry_view("doc", 0, ENTRY), "7", data=data)


def test_the_form_and_the_switches_cover_every_field_of_the_core_schema_once() -> None:
    names = [spec.name for spec in FORM_FIELDS] + list(SWITCH_FIELDS)

    assert sorted(names) == sorted(spec.name for spec in FIELDS)
    assert set(form_for().fields) == {spec.name for spec in FORM_FIELDS} | {
        "revision",
        "loaded",
        "entry",
    }


def test_the_form_starts_from_the_stored_values_and_the_defaults() -> None:
    form = form_for()

    assert form["batchMaxSize"].value() == "500"
    assert form["cacheBreakpoints"].value() == "system, messages:-1"
    assert form["cacheTTL"].value() == "300"
    assert form["revision"].value() == "7"
    assert json.loads(form["loaded"].value()) == {
        "batchMaxSize": 500,
        "cacheBreakpoints": ["system", "messages:-1"],
    }


def test_the_form_never_holds_the_api_key() -> None:
    assert "sk-ant-secret-1234" not in str(form_for().as_p())


def test_changes_are_only_the_fields_the_operator_edited() -> None:
    data = {
        "revision": "7",
        "loaded": "{}",
        "batchMaxSize": "500",
        "batchTimeout": "45",
        "cacheTTL": "3600",
        "cacheBreakpoints": "system, messages:-1",
        "optimizationStrategy": "auto",
    }
    form = form_for(data)

    assert form.is_valid(), form.errors
    assert form.changes() == {"batchTimeout": "45", "cacheTTL": "3600"}


def test_choices_come_from_the_core_schema() -> None:
    form = form_for()

    assert [value for value, _ in form.fields["cacheTTL"].choices] == ["300", "3600"]
    assert [value for value, _ in form.fields["optimizationStrategy"].choices] == [
        "auto",
        "batch_only",
        "cache_only",
        "both",
    ]


def test_service_errors_land_on_the_field_they_name() -> None:
    form = form_for({"revision": "7", "batchMaxSize": "0"})
    form.is_valid()

    form.add_service_errors(
        {
            "llm[0].batchMaxSize": "batchMaxSize must be a whole number from 1 to 100000",
            "llm[0].cachingEnabled": "cachingEnabled must be true or false",
        }
    )

    assert form.errors["batchMaxSize"] == ["batchMaxSize must be a whole number from 1 to 100000"]
    assert form.non_field_errors() == ["cachingEnabled must be true or false"]


def test_each_entry_gets_its_own_html_ids() -> None:
    first = EntrySettingsForm.for_entry(entry_view("doc", 0, ENTRY), "1")
    second = EntrySettingsForm.for_entry(entry_view("doc", 1, ENTRY), "1")

    assert first["batchMaxSize"].id_for_label != second["batchMaxSize"].id_for_label


def test_the_kill_switch_form_requires_the_confirmation() -> None:
    refused = DisableAllForm({})
    confirmed = DisableAllForm({"confirm": "on"})

    assert not refused.is_valid()
    assert "Tick the confirmation box" in refused.errors["confirm"][0]
    assert confirmed.is_valid()


def test_a_loaded_snapshot_that_is_not_a_json_object_is_ignored() -> None:
    assert loaded_snapshot('{"cacheTTL": 300}') == {"cacheTTL": 300}
    assert loaded_snapshot("") is None
    assert loaded_snapshot("{broken") is None
    assert loaded_snapshot("[1]") is None
