"""Malformed `aiconfigs` documents in the store: pages, the kill switch and the API say what is
wrong with which document or entry, switch off what they can, and never answer 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from llmopt_admin.configs.models import AuditEntry, EmbeddedConfigDocument
from llmopt_admin.configs.services import ACTION_DISABLE_ALL, config_optimizations_disable_all
from llmopt_admin.configs.stores import EmbeddedConfigStore
from optimization.stores.base import AI_MODELS_KEY, StoredDocument, StoreError
from tests.llmopt_admin.configs.htmx_forms import htmx_submission

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
API = "/api/config/ai-models"


def good_entry(provider: str = "anthropic", *, on: bool = True) -> dict[str, Any]:
    return {
        "provider": provider,
        "configuration": {
            "model": "claude-sonnet-4-5",
            "apiKey": "sk-x",
            "optimizationEnabled": on,
        },
    }


def plant(key: str, body: Any) -> None:
    """Store `body` as it is, bypassing the store's checks (as a script or the backend might)."""
    EmbeddedConfigDocument.objects.create(key=key, body=body, revision=1)


# Each malformed shape, the document key it is planted under, and words the notice must contain.
MALFORMED: list[tuple[str, Any, str]] = [
    ("a_list_body", [good_entry()], "list, not an object"),
    ("b_llm_not_a_list", {"llm": {"0": good_entry()}}, "'llm' is an object, not a list"),
    ("c_entry_not_an_object", {"llm": ["anthropic"]}, "llm[0] is a string, not an object"),
    ("d_no_configuration", {"llm": [{"provider": "openAI"}]}, "llm[0] has no configuration"),
    (
        "e_configuration_not_an_object",
        {"llm": [{"provider": "openAI", "configuration": ["gpt-4o"]}]},
        "llm[0].configuration is a list, not an object",
    ),
]


@pytest.fixture
def malformed(store: EmbeddedConfigStore) -> None:
    for key, body, _words in MALFORMED:
        plant(key, body)


@pytest.mark.parametrize(("key", "body", "words"), MALFORMED)
def test_the_config_page_names_the_malformed_document_and_what_is_wrong(
    staff_client: Client, ai_models: StoredDocument, key: str, body: Any, words: str
) -> None:
    plant(key, body)

    response = staff_client.get("/config/")

    page = response.content.decode()
    assert response.status_code == 200
    notice = page[page.index(f'id="doc-{key}"') :]
    assert key in notice
    assert words in notice.replace("&#x27;", "'")
    assert 'id="entry-ai_models_config-0"' in page  # the good document is still shown


@pytest.mark.parametrize(("key", "body", "words"), MALFORMED)
def test_an_entry_page_of_a_malformed_document_says_what_is_wrong(
    staff_client: Client, store: EmbeddedConfigStore, key: str, body: Any, words: str
) -> None:
    plant(key, body)

    for path in (f"/config/{key}/llm/0/", f"/config/{key}/llm/0/edit/"):
        response = staff_client.get(path, **HTMX)
        assert response.status_code == 200, path
        assert words in response.content.decode().replace("&#x27;", "'"), path


@pytest.mark.parametrize(("key", "body", "words"), MALFORMED)
def test_saving_into_a_malformed_document_is_refused_and_changes_nothing(
    staff_client: Client, store: EmbeddedConfigStore, key: str, body: Any, words: str
) -> None:
    plant(key, body)

    switched = staff_client.post(
        f"/config/{key}/llm/0/switch/cachingEnabled/", {"revision": "1", "value": "on"}, **HTMX
    )
    edited = staff_client.post(
        f"/config/{key}/llm/0/edit/",
        {"revision": "1", "batchMaxSize": "5", "batchTimeout": "30", "cacheTTL": "300"},
        **HTMX,
    )

    for response in (switched, edited):
        assert response.status_code == 400
        assert words in response.content.decode().replace("&#x27;", "'")
    row = EmbeddedConfigDocument.objects.get(key=key)
    assert (row.body, row.revision) == (body, 1)


def test_the_kill_switch_switches_off_every_document_it_can_and_reports_the_rest(
    store: EmbeddedConfigStore, ai_models: StoredDocument, malformed: None
) -> None:
    plant("f_mixed", {"llm": [7, good_entry("openAI")], "slm": "none"})
    plant("z_last", {"llm": [good_entry()]})

    result = config_optimizations_disable_all(store=store, actor=None)

    assert set(result.switched_off) == {AI_MODELS_KEY, "f_mixed", "z_last"}
    assert store.read("z_last").body["llm"][0]["configuration"]["optimizationEnabled"] is False
    assert store.read("f_mixed").body["llm"][1]["configuration"]["optimizationEnabled"] is False
    assert set(result.malformed) == {key for key, _, _ in MALFORMED} | {"f_mixed"}
    assert "list, not an object" in result.malformed["a_list_body"]["$"]
    assert "is a number" in result.malformed["f_mixed"]["llm[0]"]
    assert "is a string" in result.malformed["f_mixed"]["slm"]
    assert EmbeddedConfigDocument.objects.get(key="a_list_body").body == MALFORMED[0][1]


def test_the_kill_switch_audits_what_it_could_not_switch_off(
    store: EmbeddedConfigStore, malformed: None
) -> None:
    plant("f_mixed", {"llm": [7, good_entry("openAI")]})

    config_optimizations_disable_all(store=store, actor=None)

    audited = {entry.target: entry.changes for entry in AuditEntry.objects.all()}
    assert {entry.action for entry in AuditEntry.objects.all()} == {ACTION_DISABLE_ALL}
    assert "list, not an object" in audited["a_list_body"]["left untouched"]["$"]
    assert "llm[0]" in audited["f_mixed"]["left untouched"]
    assert audited["f_mixed"]["llm[1].optimizationEnabled"] == {"old": True, "new": False}


def test_the_kill_switch_page_reports_the_documents_it_could_not_switch_off(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument, malformed: None
) -> None:
    plant("z_last", {"llm": [good_entry()]})

    response = staff_client.post("/config/disable-all/", {"confirm": "on"}, **HTMX)

    page = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 200
    assert "2 LLM entries switched off" in page
    assert "a_list_body: left untouched" in page
    assert "list, not an object" in page
    assert store.read("z_last").body["llm"][0]["configuration"]["optimizationEnabled"] is False


def test_the_kill_switch_without_javascript_reports_them_too(
    staff_client: Client, store: EmbeddedConfigStore, malformed: None
) -> None:
    response = staff_client.post("/config/disable-all/", {"confirm": "on"}, follow=True)

    page = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 200
    assert "a_list_body: left untouched" in page


def test_get_of_a_document_that_is_not_an_object_says_so(staff_token: str, db: None) -> None:
    plant(AI_MODELS_KEY, [good_entry()])

    response = Client().get(API, HTTP_AUTHORIZATION=f"Bearer {staff_token}")

    assert response.status_code == 409
    assert "list, not an object" in response.json()["errors"]["document"]


@pytest.mark.parametrize(("key", "body", "words"), MALFORMED)
def test_patch_of_a_malformed_document_is_refused_naming_the_problem(
    staff_token: str, db: None, key: str, body: Any, words: str
) -> None:
    plant(AI_MODELS_KEY, body)

    response = Client().patch(
        API,
        json.dumps({"llm": {"0": {"cachingEnabled": True}}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
        HTTP_IF_MATCH='"1"',
    )

    assert response.status_code == 400
    assert any(words in message for message in response.json()["errors"].values())
    row = EmbeddedConfigDocument.objects.get(key=AI_MODELS_KEY)
    assert (row.body, row.revision) == (body, 1)


def test_a_get_of_a_document_with_malformed_entries_still_returns_it_masked(
    staff_token: str, db: None
) -> None:
    plant(AI_MODELS_KEY, {"llm": ["x", {"provider": "a", "configuration": {"apiKey": "sk-1"}}]})

    response = Client().get(API, HTTP_AUTHORIZATION=f"Bearer {staff_token}")

    assert response.status_code == 200
    assert response.json()["llm"][1]["configuration"]["apiKey"] == "********"


def test_a_stored_value_too_large_to_read_is_shown_as_a_problem_not_a_500(
    staff_client: Client, store: EmbeddedConfigStore
) -> None:
    configuration = {"model": "m", "batchMaxSize": "9" * 5000, "batchTimeout": 10**400}
    plant(AI_MODELS_KEY, {"llm": [{"provider": "anthropic", "configuration": configuration}]})

    page = staff_client.get("/config/")
    card = staff_client.get(f"/config/{AI_MODELS_KEY}/llm/0/edit/", **HTMX)

    assert page.status_code == 200
    assert card.status_code == 200
    assert "batchMaxSize" in card.content.decode()


def test_a_document_the_store_refuses_to_write_does_not_stop_the_kill_switch(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    plant("a_first", {"llm": [good_entry()]})

    class Refusing(EmbeddedConfigStore):
        def write(self, key: str, body: Any, *, expected_revision: str | None) -> StoredDocument:
            if key == "a_first":
                raise StoreError("the store refused the write")
            return super().write(key, body, expected_revision=expected_revision)

    result = config_optimizations_disable_all(store=Refusing(), actor=None)

    assert result.failed == {"a_first": "not written: the store refused the write"}
    assert result.switched_off == {AI_MODELS_KEY: ["llm[0]"]}
    refused = AuditEntry.objects.get(target="a_first")
    assert refused.changes == {"left untouched": {"$": "not written: the store refused the write"}}


def test_saving_the_form_repairs_a_stored_value_too_large_to_read(
    staff_client: Client, store: EmbeddedConfigStore
) -> None:
    configuration = {"model": "m", "batchMaxSize": 7, "batchTimeout": 10**400, "cacheTTL": 7}
    plant(AI_MODELS_KEY, {"llm": [{"provider": "anthropic", "configuration": configuration}]})
    card = staff_client.get(f"/config/{AI_MODELS_KEY}/llm/0/edit/", **HTMX).content.decode()
    _url, values = htmx_submission(card, "/edit/")

    response = staff_client.post(
        f"/config/{AI_MODELS_KEY}/llm/0/edit/",
        values | {"revision": "1", "batchMaxSize": "8"},
        **HTMX,
    )

    assert response.status_code == 200, response.content.decode()
    saved = store.read(AI_MODELS_KEY).body["llm"][0]["configuration"]
    assert (saved["batchMaxSize"], saved["batchTimeout"], saved["cacheTTL"]) == (8, 30, 300)


@pytest.mark.parametrize("key", ["%00", "a%00b", "x" * 300, "%F0%9F%98%80"])
def test_a_hostile_document_key_in_the_url_is_not_found(
    staff_client: Client, ai_models: StoredDocument, key: str
) -> None:
    for path in (f"/config/{key}/llm/0/", f"/config/{key}/llm/0/edit/"):
        assert staff_client.get(path, **HTMX).status_code == 404
    switch = f"/config/{key}/llm/0/switch/cachingEnabled/"
    assert staff_client.post(switch, {"revision": "1", "value": "on"}, **HTMX).status_code == 404


def test_the_embedded_store_refuses_a_key_it_cannot_hold(store: EmbeddedConfigStore) -> None:
    for key in ("a\x00b", "x" * 255):
        with pytest.raises(StoreError, match="key"):
            store.write(key, {"llm": []}, expected_revision=None)


@pytest.mark.parametrize(
    "query", ["target=%00", "action=%00x", "target=" + "y" * 5000, "page=%00", "page=-1"]
)
def test_hostile_audit_filters_answer_a_page_not_a_500(staff_client: Client, query: str) -> None:
    response = staff_client.get(f"/audit/?{query}")

    assert response.status_code == 200
