from __future__ import annotations

import json

import pytest
from django.test import Client

from llmopt_admin.configs.models import AuditEntry
from llmopt_admin.configs.stores import EmbeddedConfigStore
from optimization.stores.base import AI_MODELS_KEY, StoredDocument
from tests.llmopt_admin.configs.htmx_forms import htmx_submission
from tests.llmopt_admin.conftest import ANTHROPIC_KEY, OPENAI_KEY

pytestmark = pytest.mark.django_db

ENTRY = f"/config/{AI_MODELS_KEY}/llm"
HTMX = {"HTTP_HX_REQUEST": "true"}


def stored(store: EmbeddedConfigStore, index: int) -> dict:
    return store.read(AI_MODELS_KEY).body["llm"][index]["configuration"]


def switch(client: Client, index: int, name: str, on: bool, revision: str, loaded: str = ""):
    data = {"revision": revision, "loaded": loaded} | ({"value": "on"} if on else {})
    return client.post(f"{ENTRY}/{index}/switch/{name}/", data, **HTMX)


def edit(client: Client, index: int, revision: str, **fields: str):
    data = {
        "revision": revision,
        "batchMaxSize": "10000",
        "batchTimeout": "30",
        "cacheTTL": "300",
        "cacheBreakpoints": "auto",
        "optimizationStrategy": "auto",
    } | fields
    return client.post(f"{ENTRY}/{index}/edit/", data, **HTMX)


# --- who may see the pages ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/config/", "/audit/", f"{ENTRY}/0/", f"{ENTRY}/0/edit/"])
def test_an_anonymous_visitor_is_sent_to_the_login_page(
    path: str, ai_models: StoredDocument
) -> None:
    response = Client().get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("path", ["/config/", "/audit/", f"{ENTRY}/0/", f"{ENTRY}/0/edit/"])
def test_a_signed_in_non_staff_user_is_refused(
    path: str, outsider_client: Client, ai_models: StoredDocument
) -> None:
    assert outsider_client.get(path).status_code == 403


def test_a_non_staff_user_cannot_save_a_switch_or_pull_the_kill_switch(
    outsider_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    assert switch(outsider_client, 0, "cachingEnabled", True, ai_models.revision).status_code == 403
    assert outsider_client.post("/config/disable-all/", {"confirm": "on"}).status_code == 403
    assert stored(store, 0)["cachingEnabled"] is False
    assert stored(store, 0)["optimizationEnabled"] is True


def test_an_expired_session_during_an_htmx_save_redirects_the_whole_page(
    ai_models: StoredDocument,
) -> None:
    response = switch(Client(), 0, "cachingEnabled", True, ai_models.revision)

    assert response.status_code == 401
    assert response["HX-Redirect"].startswith("/login/")


# --- the config page ---------------------------------------------------------------------


def test_the_page_lists_each_entry_with_its_settings_and_never_the_api_key(
    staff_client: Client, ai_models: StoredDocument
) -> None:
    response = staff_client.get("/config/")

    page = response.content.decode()
    assert response.status_code == 200
    for text in ("anthropic", "claude-sonnet-4-5", "openAI", "gpt-4o", "ollama", "default"):
        assert text in page
    for label in (
        "Optimizations (master switch)",
        "Batching",
        "Prompt caching",
        "Cache TTL",
        "Batch size",
        "Batch timeout",
        "Cache breakpoints",
        "Strategy",
        "Fall back to the standard API",
    ):
        assert label in page
    assert "API key set" in page
    assert "API key not set" in page  # the ollama entry
    assert ANTHROPIC_KEY not in page
    assert ANTHROPIC_KEY[-4:] not in page
    assert OPENAI_KEY not in page
    assert f'value="{ai_models.revision}"' in page


def test_a_switch_the_provider_cannot_use_is_disabled_with_the_reason(
    staff_client: Client, ai_models: StoredDocument
) -> None:
    page = staff_client.get("/config/").content.decode()

    ollama = page[page.index(f'id="entry-{AI_MODELS_KEY}-2"') :]
    batching = ollama[ollama.index('data-field="batchingEnabled"') :][:600]
    assert "disabled" in batching
    assert "ollama model llama3.2 does not support batching" in ollama


def test_the_page_says_so_when_the_store_has_no_document(
    staff_client: Client, store: EmbeddedConfigStore
) -> None:
    response = staff_client.get("/config/")

    assert response.status_code == 200
    assert "holds no" in response.content.decode()


# --- switches (htmx, saved at once) --------------------------------------------------------


def test_flipping_a_switch_saves_it_and_answers_with_the_saved_card(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = switch(staff_client, 0, "cachingEnabled", True, ai_models.revision)

    page = response.content.decode()
    assert response.status_code == 200
    assert "✓ Prompt caching on" in page
    assert stored(store, 0)["cachingEnabled"] is True
    new_revision = store.read(AI_MODELS_KEY).revision
    assert f'value="{new_revision}" hx-swap-oob="true"' in page
    assert ANTHROPIC_KEY not in page
    assert AuditEntry.objects.get().actor.username == "operator"


def test_unticking_a_switch_turns_it_off(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = switch(staff_client, 0, "optimizationEnabled", False, ai_models.revision)

    assert response.status_code == 200
    assert stored(store, 0)["optimizationEnabled"] is False


def test_the_server_refuses_a_switch_the_provider_cannot_use(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = switch(staff_client, 2, "batchingEnabled", True, ai_models.revision)

    assert response.status_code == 400
    assert "does not support batching" in response.content.decode()
    assert "batchingEnabled" not in stored(store, 2)


def test_only_switches_can_be_flipped(staff_client: Client, ai_models: StoredDocument) -> None:
    assert switch(staff_client, 0, "apiKey", True, ai_models.revision).status_code == 404
    assert switch(staff_client, 0, "batchMaxSize", True, ai_models.revision).status_code == 404


def test_a_switch_without_a_revision_is_refused(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = staff_client.post(f"{ENTRY}/0/switch/cachingEnabled/", {"value": "on"}, **HTMX)

    assert response.status_code == 400
    assert "no revision" in response.content.decode()
    assert stored(store, 0)["cachingEnabled"] is False


def test_an_unknown_entry_or_document_is_404(
    staff_client: Client, ai_models: StoredDocument
) -> None:
    assert switch(staff_client, 9, "cachingEnabled", True, ai_models.revision).status_code == 404
    response = staff_client.post(
        "/config/nope/llm/0/switch/cachingEnabled/", {"revision": "1", "value": "on"}, **HTMX
    )
    assert response.status_code == 404


def test_a_switch_based_on_a_stale_revision_shows_the_conflict_and_what_changed(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    page = staff_client.get("/config/").content.decode()
    marker = f'id="loaded-entry-{AI_MODELS_KEY}-0" name="loaded" value="'
    loaded = page[page.index(marker) + len(marker) :].split('"', 1)[0].replace("&quot;", '"')
    # Someone else changes the batch size meanwhile.
    body = ai_models.body
    body["llm"][0]["configuration"]["batchMaxSize"] = 500
    store.write(AI_MODELS_KEY, body, expected_revision=ai_models.revision)

    response = switch(staff_client, 0, "cachingEnabled", True, ai_models.revision, loaded)

    text = response.content.decode()
    assert response.status_code == 409
    assert response["HX-Retarget"] == f"#doc-{AI_MODELS_KEY}"
    assert "changed since you opened it" in text
    assert "<code>batchMaxSize</code>: 10000 → 500" in text
    assert "Re-apply my change" in text
    assert '<input type="hidden" name="value" value="on">' in text
    assert stored(store, 0)["cachingEnabled"] is False


def test_re_applying_after_a_conflict_saves_on_top_of_the_other_change(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    body = ai_models.body
    body["llm"][0]["configuration"]["batchMaxSize"] = 500
    current = store.write(AI_MODELS_KEY, body, expected_revision=ai_models.revision)
    assert switch(staff_client, 0, "cachingEnabled", True, ai_models.revision).status_code == 409

    response = switch(staff_client, 0, "cachingEnabled", True, current.revision)

    assert response.status_code == 200
    assert stored(store, 0)["cachingEnabled"] is True
    assert stored(store, 0)["batchMaxSize"] == 500


# --- the settings form ---------------------------------------------------------------------


def test_the_edit_form_shows_the_current_values(
    staff_client: Client, ai_models: StoredDocument
) -> None:
    response = staff_client.get(f"{ENTRY}/0/edit/", **HTMX)

    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="batchMaxSize"' in page
    assert 'value="10000"' in page
    assert "Save settings" in page
    assert ANTHROPIC_KEY not in page


def test_the_form_saves_only_what_changed(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = edit(staff_client, 1, ai_models.revision, batchMaxSize="250", cacheTTL="3600")

    assert response.status_code == 200
    assert "Settings saved" in response.content.decode()
    configuration = stored(store, 1)
    assert configuration == {
        "model": "gpt-4o",
        "apiKey": OPENAI_KEY,
        "batchMaxSize": 250,
        "cacheTTL": 3600,
    }


def test_a_bad_batch_size_is_rejected_with_the_field_and_the_rule(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = edit(staff_client, 0, ai_models.revision, batchMaxSize="0", batchTimeout="-5")

    page = response.content.decode()
    assert response.status_code == 422
    assert 'data-field="batchMaxSize"' in page
    assert "batchMaxSize must be a whole number from 1 to 100000" in page
    assert "batchTimeout must be a number of seconds above 0" in page
    assert 'value="0"' in page  # the operator's input is kept for correction
    assert stored(store, 0)["batchMaxSize"] == 10000


def test_bad_breakpoint_rules_are_rejected_by_name(
    staff_client: Client, ai_models: StoredDocument
) -> None:
    response = edit(staff_client, 0, ai_models.revision, cacheBreakpoints="system, everything")

    assert response.status_code == 422
    assert "cacheBreakpoints rules must be" in response.content.decode()


def test_an_unchanged_form_writes_nothing(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = edit(staff_client, 0, ai_models.revision)

    assert "Nothing changed" in response.content.decode()
    assert store.read(AI_MODELS_KEY).revision == ai_models.revision


def test_a_stale_form_shows_the_conflict_and_offers_to_reapply_the_edits(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    store.write(
        AI_MODELS_KEY, ai_models.body | {"touched": True}, expected_revision=ai_models.revision
    )
    loaded = json.dumps(
        {
            name: value
            for name, value in ai_models.body["llm"][0]["configuration"].items()
            if name not in ("model", "apiKey", "customHeader")
        }
    )

    response = edit(staff_client, 0, ai_models.revision, batchMaxSize="99", loaded=loaded)

    text = response.content.decode()
    assert response.status_code == 409
    assert "another part of the document did" in text
    assert htmx_submission(text, f"{ENTRY}/0/edit/")[1]["batchMaxSize"] == "99"
    assert "Batch size = 99" in text


# --- the kill switch -----------------------------------------------------------------------


def test_the_kill_switch_needs_the_confirmation(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = staff_client.post("/config/disable-all/", {}, **HTMX)

    assert response.status_code == 400
    assert "Tick the confirmation box" in response.content.decode()
    assert stored(store, 0)["optimizationEnabled"] is True


def test_the_kill_switch_turns_everything_off_and_says_how_much(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = staff_client.post("/config/disable-all/", {"confirm": "on"}, **HTMX)

    assert response.status_code == 200
    assert "1 LLM entry switched off" in response.content.decode()
    assert stored(store, 0)["optimizationEnabled"] is False
    assert AuditEntry.objects.get().action == "config.disable_all"


def test_the_kill_switch_works_without_javascript(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    response = staff_client.post("/config/disable-all/", {"confirm": "on"}, follow=True)

    assert response.redirect_chain == [("/config/", 302)]
    assert "Optimizations disabled" in response.content.decode()
    assert stored(store, 0)["optimizationEnabled"] is False


# --- the audit log -------------------------------------------------------------------------


def test_the_audit_log_shows_who_what_and_old_to_new_newest_first(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    switch(staff_client, 0, "cachingEnabled", True, ai_models.revision)
    staff_client.post("/config/disable-all/", {"confirm": "on"}, **HTMX)

    page = staff_client.get("/audit/").content.decode()

    assert page.index("config.disable_all") < page.index("config.update")
    assert "operator" in page
    assert "<code>cachingEnabled</code>: false → true" in page
    assert "<code>llm[0].optimizationEnabled</code>: true → false" in page


def test_the_audit_log_filters_by_action_and_target(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    switch(staff_client, 0, "cachingEnabled", True, ai_models.revision)
    staff_client.post("/config/disable-all/", {"confirm": "on"}, **HTMX)

    by_action = staff_client.get("/audit/", {"action": "config.update"}).content.decode()
    by_target = staff_client.get("/audit/", {"target": "ANTHROPIC"}).content.decode()
    nothing = staff_client.get("/audit/", {"target": "no-such-target"}).content.decode()

    assert "<code>config.disable_all</code>" not in by_action
    assert "<code>config.update</code>" in by_action
    assert "<code>config.disable_all</code>" not in by_target
    assert "No audit entries match these filters" in nothing


def test_the_audit_log_is_paginated(staff_client: Client, staff_user) -> None:
    AuditEntry.objects.bulk_create(
        AuditEntry(action="config.update", target=f"doc/llm[{n}]", actor_label="operator")
        for n in range(30)
    )

    first = staff_client.get("/audit/").content.decode()
    second = staff_client.get("/audit/", {"page": 2}).content.decode()

    assert "Page 1 of 2" in first
    assert "Older →" in first
    assert second.count("<tr>") == 5 + 1  # five rows and the header


# --- the store is down ---------------------------------------------------------------------


def test_the_page_says_the_store_is_unreachable(staff_client: Client, unreachable_store) -> None:
    response = staff_client.get("/config/")

    assert response.status_code == 503
    assert "connection refused" in response.content.decode()


def test_a_save_while_the_store_is_unreachable_is_503_with_the_reason(
    staff_client: Client, unreachable_store
) -> None:
    response = switch(staff_client, 0, "cachingEnabled", True, "1")

    assert response.status_code == 503
    assert "connection refused" in response.content.decode()
