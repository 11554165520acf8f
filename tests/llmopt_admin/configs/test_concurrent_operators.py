"""Two operators on /config/ at once: a lost race never reverts the other's change, the page says
which entry changed and by whom, and a re-applied change is shown before it is saved."""

from __future__ import annotations

import copy

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from llmopt_admin.configs.selectors import dom_safe
from llmopt_admin.configs.stores import EmbeddedConfigStore
from optimization.stores.base import AI_MODELS_KEY, StoredDocument
from tests.llmopt_admin.configs.htmx_forms import htmx_submission, input_value

pytestmark = pytest.mark.django_db

ENTRY = f"/config/{AI_MODELS_KEY}/llm"
HTMX = {"HTTP_HX_REQUEST": "true"}
CARD = f"entry-{AI_MODELS_KEY}"


@pytest.fixture
def bob(db: None) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_user("bob", is_staff=True))
    return client


def configuration(store: EmbeddedConfigStore, index: int) -> dict:
    return store.read(AI_MODELS_KEY).body["llm"][index]["configuration"]


def open_form(client: Client, index: int, revision: str) -> dict[str, str]:
    """Open an entry's settings form the way the page does; what Save would post, unchanged."""
    card = client.get(f"{ENTRY}/{index}/edit/", **HTMX).content.decode()
    _url, values = htmx_submission(card, "/edit/")
    return values | {"revision": revision}


def save_form(client: Client, index: int, values: dict[str, str]):
    return client.post(f"{ENTRY}/{index}/edit/", values, **HTMX)


def test_a_lost_race_reports_only_the_fields_this_operator_changed(
    staff_client: Client, bob: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    mine = open_form(staff_client, 0, ai_models.revision)
    theirs = open_form(bob, 0, ai_models.revision)
    assert save_form(bob, 0, theirs | {"batchTimeout": "60"}).status_code == 200

    response = save_form(staff_client, 0, mine | {"batchMaxSize": "99"})

    text = response.content.decode()
    assert response.status_code == 409
    assert "Batch size = 99" in text
    assert "Batch timeout (seconds) = 30" not in text
    assert configuration(store, 0)["batchMaxSize"] == 10000
    assert configuration(store, 0)["batchTimeout"] == 60


def test_re_applying_after_a_conflict_keeps_the_other_operators_change(
    staff_client: Client, bob: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    mine = open_form(staff_client, 0, ai_models.revision)
    theirs = open_form(bob, 0, ai_models.revision)
    assert save_form(bob, 0, theirs | {"batchTimeout": "60"}).status_code == 200
    conflict = save_form(staff_client, 0, mine | {"batchMaxSize": "99"}).content.decode()

    url, replay = htmx_submission(conflict, f"{ENTRY}/0/edit/")
    response = staff_client.post(url, replay, **HTMX)

    assert response.status_code == 200, response.content.decode()
    assert "Settings saved" in response.content.decode()
    assert configuration(store, 0)["batchMaxSize"] == 99
    assert configuration(store, 0)["batchTimeout"] == 60


def test_the_re_applied_change_is_shown_on_top_of_the_current_values_before_it_is_saved(
    staff_client: Client, bob: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    mine = open_form(staff_client, 0, ai_models.revision)
    theirs = open_form(bob, 0, ai_models.revision)
    saved = save_form(bob, 0, theirs | {"batchTimeout": "60"})
    assert saved.status_code == 200

    conflict = save_form(staff_client, 0, mine | {"batchMaxSize": "99"}).content.decode()

    _url, replay = htmx_submission(conflict, f"{ENTRY}/0/edit/")
    assert replay["batchMaxSize"] == "99"  # mine
    assert replay["batchTimeout"] == "60"  # theirs, kept
    assert "nothing is saved until you press" in conflict.lower()
    assert 'class="error' not in conflict  # the re-applied values are shown as valid
    assert "<code>batchTimeout</code>: 30 → 60" in conflict
    assert configuration(store, 0)["batchMaxSize"] == 10000  # not saved yet


def test_when_both_changed_the_same_field_the_preview_shows_mine_over_theirs(
    staff_client: Client, bob: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    mine = open_form(staff_client, 0, ai_models.revision)
    theirs = open_form(bob, 0, ai_models.revision)
    assert save_form(bob, 0, theirs | {"batchMaxSize": "500"}).status_code == 200

    conflict = save_form(staff_client, 0, mine | {"batchMaxSize": "99"}).content.decode()
    url, replay = htmx_submission(conflict, f"{ENTRY}/0/edit/")

    assert "<code>batchMaxSize</code>: 10000 → 500" in conflict
    assert replay["batchMaxSize"] == "99"
    assert staff_client.post(url, replay, **HTMX).status_code == 200
    assert configuration(store, 0)["batchMaxSize"] == 99


def test_a_third_change_before_the_confirmation_is_caught_again(
    staff_client: Client, bob: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    mine = open_form(staff_client, 0, ai_models.revision)
    theirs = open_form(bob, 0, ai_models.revision)
    assert save_form(bob, 0, theirs | {"batchTimeout": "60"}).status_code == 200
    conflict = save_form(staff_client, 0, mine | {"batchMaxSize": "99"}).content.decode()
    url, replay = htmx_submission(conflict, f"{ENTRY}/0/edit/")
    again = open_form(bob, 0, store.read(AI_MODELS_KEY).revision)
    assert save_form(bob, 0, again | {"cacheTTL": "3600"}).status_code == 200

    second = staff_client.post(url, replay, **HTMX)
    url, replay = htmx_submission(second.content.decode(), f"{ENTRY}/0/edit/")
    final = staff_client.post(url, replay, **HTMX)

    assert second.status_code == 409
    assert final.status_code == 200
    assert configuration(store, 0)["batchMaxSize"] == 99
    assert configuration(store, 0)["batchTimeout"] == 60
    assert configuration(store, 0)["cacheTTL"] == 3600


def test_the_conflict_says_which_entry_someone_else_changed_and_who(
    staff_client: Client, bob: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    page = staff_client.get("/config/").content.decode()
    url, values = htmx_submission(page, f"{ENTRY}/0/switch/cachingEnabled/")
    theirs = open_form(bob, 1, ai_models.revision)
    assert save_form(bob, 1, theirs | {"batchMaxSize": "500"}).status_code == 200

    response = staff_client.post(url, values | {"value": "on"}, **HTMX)

    text = response.content.decode()
    assert response.status_code == 409
    assert "This entry's settings did not change" in text
    assert "llm[1] (openAI)" in text
    assert "by bob" in text


def test_when_entries_moved_the_conflict_is_shown_on_the_entry_that_was_edited(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    page = staff_client.get("/config/").content.decode()
    _url, values = htmx_submission(page, f"{ENTRY}/1/switch/cachingEnabled/")
    # The backend removes the first model: openAI's entry is llm[0] now, ollama's llm[1].
    body = copy.deepcopy(ai_models.body)
    del body["llm"][0]
    store.write(AI_MODELS_KEY, body, expected_revision=ai_models.revision)

    response = staff_client.post(
        f"{ENTRY}/1/switch/cachingEnabled/", values | {"value": "on"}, **HTMX
    )

    text = response.content.decode()
    assert response.status_code == 409
    conflict = text[text.index('class="conflict"') :]
    card = text[: text.index('class="conflict"')]
    assert card.rindex(f'id="{CARD}-0"') > card.rindex('class="entry"') - 40
    assert "now llm[0]" in conflict
    url, replay = htmx_submission(text, "/switch/cachingEnabled/")
    assert url == f"{ENTRY}/0/switch/cachingEnabled/"
    assert staff_client.post(url, replay, **HTMX).status_code == 200
    assert configuration(store, 0)["cachingEnabled"] is True  # openAI, the entry edited
    assert "cachingEnabled" not in configuration(store, 1)  # ollama untouched


def test_when_the_edited_entry_is_gone_the_conflict_says_so_and_offers_no_replay(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    page = staff_client.get("/config/").content.decode()
    _url, values = htmx_submission(page, f"{ENTRY}/1/switch/cachingEnabled/")
    body = copy.deepcopy(ai_models.body)
    del body["llm"][1]
    store.write(AI_MODELS_KEY, body, expected_revision=ai_models.revision)

    response = staff_client.post(
        f"{ENTRY}/1/switch/cachingEnabled/", values | {"value": "on"}, **HTMX
    )

    text = response.content.decode()
    assert response.status_code == 409
    assert "openAI gpt-4o" in text
    assert "no longer in this document" in text
    assert "Re-apply my change" not in text
    assert "cachingEnabled" not in configuration(store, 1)


def test_documents_whose_keys_differ_only_in_punctuation_get_different_ids(
    staff_client: Client, store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    for key in ("tenant.a", "tenant_a", "tenant-a"):
        store.write(key, copy.deepcopy(ai_models.body), expected_revision=None)

    page = staff_client.get("/config/").content.decode()

    ids = {dom_safe(key) for key in ("tenant.a", "tenant_a", "tenant-a")}
    assert len(ids) == 3
    for key in ("tenant.a", "tenant_a", "tenant-a"):
        assert page.count(f'id="doc-{dom_safe(key)}"') == 1
        assert input_value(page, f"rev-doc-{dom_safe(key)}") == "1"
