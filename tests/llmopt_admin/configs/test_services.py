from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser

from llmopt_admin.configs.models import AuditEntry
from llmopt_admin.configs.selectors import config_changes_since
from llmopt_admin.configs.services import (
    ACTION_DISABLE_ALL,
    ACTION_UPDATE,
    ConfigChangeRejected,
    config_document_update,
    config_entry_update,
    config_optimizations_disable_all,
)
from llmopt_admin.configs.stores import EmbeddedConfigStore
from optimization.stores.base import AI_MODELS_KEY, RevisionConflict, StoredDocument
from tests.llmopt_admin.conftest import AI_MODELS_DOCUMENT, ANTHROPIC_KEY

pytestmark = pytest.mark.django_db


def configuration(store: EmbeddedConfigStore, index: int) -> dict:
    return store.read(AI_MODELS_KEY).body["llm"][index]["configuration"]


def update(store, document, index, changes, actor=None):
    return config_entry_update(
        store=store,
        key=AI_MODELS_KEY,
        index=index,
        changes=changes,
        expected_revision=document.revision,
        actor=actor,
    )


def test_it_saves_an_optimization_field_and_keeps_every_other_key(
    store: EmbeddedConfigStore, ai_models: StoredDocument, staff_user: AbstractUser
) -> None:
    result = update(store, ai_models, 0, {"cachingEnabled": True}, staff_user)

    stored = store.read(AI_MODELS_KEY)
    assert result.document.revision == stored.revision != ai_models.revision
    assert stored.body["llm"][0]["configuration"]["cachingEnabled"] is True
    expected = AI_MODELS_DOCUMENT["llm"][0]["configuration"] | {"cachingEnabled": True}
    assert stored.body["llm"][0]["configuration"] == expected
    assert stored.body["llm"][1:] == AI_MODELS_DOCUMENT["llm"][1:]
    assert stored.body["embedding"] == AI_MODELS_DOCUMENT["embedding"]
    assert result.changes == {"llm[0].cachingEnabled": {"old": False, "new": True}}


def test_it_stores_values_in_the_core_schemas_normal_form(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    update(
        store,
        ai_models,
        0,
        {"cacheTTL": "1h", "batchMaxSize": "500", "cacheBreakpoints": "system, messages:-1"},
    )

    stored = configuration(store, 0)
    assert stored["cacheTTL"] == 3600
    assert stored["batchMaxSize"] == 500
    assert stored["cacheBreakpoints"] == ["system", "messages:-1"]


def test_it_audits_each_change_with_old_and_new_values_and_the_actor(
    store: EmbeddedConfigStore, ai_models: StoredDocument, staff_user: AbstractUser
) -> None:
    result = update(store, ai_models, 0, {"cachingEnabled": True, "cacheTTL": 3600}, staff_user)

    entry = AuditEntry.objects.get()
    assert entry.action == ACTION_UPDATE
    assert entry.actor == staff_user
    assert entry.target == f"{AI_MODELS_KEY}/llm[0] (anthropic)"
    assert entry.changes == {
        "cachingEnabled": {"old": False, "new": True},
        "cacheTTL": {"old": 300, "new": 3600},
        "revision": {"old": ai_models.revision, "new": result.document.revision},
    }
    assert ANTHROPIC_KEY not in str(entry.changes)


def test_an_unchanged_value_writes_nothing_and_audits_nothing(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    result = update(store, ai_models, 0, {"batchTimeout": 30.0, "cacheTTL": "300"})

    assert result.changes == {}
    assert store.read(AI_MODELS_KEY).revision == ai_models.revision
    assert not AuditEntry.objects.exists()


def test_it_refuses_a_field_that_is_not_an_optimization_field(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    with pytest.raises(ConfigChangeRejected) as caught:
        update(store, ai_models, 0, {"apiKey": "sk-new", "cachingEnabled": True})

    assert caught.value.kind == "refused"
    assert list(caught.value.errors) == ["llm[0].apiKey"]
    assert "not an optimization field" in caught.value.errors["llm[0].apiKey"]
    assert configuration(store, 0)["apiKey"] == ANTHROPIC_KEY
    assert configuration(store, 0)["cachingEnabled"] is False


def test_it_rejects_a_batch_size_above_the_provider_limit_naming_field_and_rule(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    with pytest.raises(ConfigChangeRejected) as caught:
        update(store, ai_models, 0, {"batchMaxSize": 100_001})

    assert caught.value.kind == "invalid"
    message = caught.value.errors["llm[0].batchMaxSize"]
    assert "batchMaxSize must be a whole number from 1 to 100000" in message
    assert store.read(AI_MODELS_KEY).revision == ai_models.revision


def test_it_rejects_a_value_of_the_wrong_type(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    with pytest.raises(ConfigChangeRejected) as caught:
        update(store, ai_models, 0, {"cachingEnabled": "maybe", "cacheTTL": 60})

    assert caught.value.kind == "invalid"
    assert set(caught.value.errors) == {"llm[0].cachingEnabled", "llm[0].cacheTTL"}


def test_it_refuses_batching_on_a_provider_without_a_batch_api(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    with pytest.raises(ConfigChangeRejected) as caught:
        update(store, ai_models, 2, {"batchingEnabled": True})

    assert caught.value.kind == "refused"
    assert caught.value.errors == {
        "llm[2].batchingEnabled": "ollama model llama3.2 does not support batching, "
        "so it cannot be turned on"
    }
    assert "batchingEnabled" not in configuration(store, 2)


def test_a_switch_the_provider_cannot_use_may_still_be_turned_off(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    result = update(store, ai_models, 2, {"cachingEnabled": False})

    assert configuration(store, 2)["cachingEnabled"] is False
    assert result.changes == {"llm[2].cachingEnabled": {"old": None, "new": False}}


def test_it_refuses_an_entry_the_document_does_not_have(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    with pytest.raises(ConfigChangeRejected) as caught:
        update(store, ai_models, 7, {"cachingEnabled": True})

    assert "the document has 3" in caught.value.errors["llm[7]"]


def test_a_stale_revision_loses_and_nothing_is_written(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    update(store, ai_models, 0, {"cachingEnabled": True})

    with pytest.raises(RevisionConflict) as caught:
        update(store, ai_models, 0, {"batchMaxSize": 50})

    assert caught.value.expected_revision == ai_models.revision
    assert caught.value.current.body["llm"][0]["configuration"]["cachingEnabled"] is True
    assert configuration(store, 0)["batchMaxSize"] == 10000


def test_a_write_between_read_and_write_is_caught_by_the_store(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    class RacingStore(EmbeddedConfigStore):
        """Someone else saves right after our read."""

        def read(self, key: str = AI_MODELS_KEY) -> StoredDocument:
            document = super().read(key)
            body = document.body | {"note": "someone else"}
            EmbeddedConfigStore().write(key, body, expected_revision=document.revision)
            return document

    with pytest.raises(RevisionConflict):
        update(RacingStore(), ai_models, 0, {"cachingEnabled": True})

    assert configuration(store, 0)["cachingEnabled"] is False
    assert not AuditEntry.objects.exists()


def test_changes_to_several_entries_are_applied_together_or_not_at_all(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    with pytest.raises(ConfigChangeRejected):
        config_document_update(
            store=store,
            key=AI_MODELS_KEY,
            changes={0: {"cachingEnabled": True}, 1: {"batchMaxSize": 0}},
            expected_revision=ai_models.revision,
            actor=None,
        )
    assert configuration(store, 0)["cachingEnabled"] is False

    config_document_update(
        store=store,
        key=AI_MODELS_KEY,
        changes={0: {"cachingEnabled": True}, 1: {"batchMaxSize": 20}},
        expected_revision=ai_models.revision,
        actor=None,
    )
    assert configuration(store, 0)["cachingEnabled"] is True
    assert configuration(store, 1)["batchMaxSize"] == 20
    assert AuditEntry.objects.count() == 2


def test_the_kill_switch_turns_off_every_entry_of_every_document_and_audits_it(
    store: EmbeddedConfigStore, ai_models: StoredDocument, staff_user: AbstractUser
) -> None:
    update(store, ai_models, 1, {"optimizationEnabled": True})
    store.write(
        "tenant_b",
        {"llm": [{"provider": "anthropic", "configuration": {"optimizationEnabled": True}}]},
        expected_revision=None,
    )

    result = config_optimizations_disable_all(store=store, actor=staff_user)

    assert result.switched_off == {AI_MODELS_KEY: ["llm[0]", "llm[1]"], "tenant_b": ["llm[0]"]}
    assert result.entries_switched_off == 3
    for document in store.list():
        for entry in document.body["llm"]:
            assert entry["configuration"].get("optimizationEnabled", False) is False
    assert configuration(store, 0)["apiKey"] == ANTHROPIC_KEY
    audited = AuditEntry.objects.filter(action=ACTION_DISABLE_ALL).order_by("target")
    assert [entry.target for entry in audited] == [AI_MODELS_KEY, "tenant_b"]
    assert audited[0].changes["llm[0].optimizationEnabled"] == {"old": True, "new": False}
    assert audited[0].actor == staff_user


def test_the_kill_switch_leaves_malformed_entries_alone_and_reports_them(
    store: EmbeddedConfigStore,
) -> None:
    store.write(
        "broken",
        {
            "llm": [
                "not-an-object",
                {"provider": "anthropic", "configuration": {"optimizationEnabled": True}},
            ]
        },
        expected_revision=None,
    )

    result = config_optimizations_disable_all(store=store, actor=None)

    assert result.malformed == {"broken": {"llm[0]": "llm[0] is a string, not an object"}}
    assert result.switched_off == {"broken": ["llm[1]"]}
    assert store.read("broken").body["llm"][0] == "not-an-object"


def test_the_kill_switch_retries_when_someone_writes_at_the_same_time(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    class RacingStore(EmbeddedConfigStore):
        """Someone else saves right after the kill switch read the documents."""

        def list(self) -> list[StoredDocument]:
            documents = super().list()
            for document in documents:
                body = document.body | {"note": "x"}
                EmbeddedConfigStore().write(document.key, body, expected_revision=document.revision)
            return documents

    result = config_optimizations_disable_all(store=RacingStore(), actor=None)

    assert result.switched_off == {AI_MODELS_KEY: ["llm[0]"]}
    assert configuration(store, 0)["optimizationEnabled"] is False
    assert store.read(AI_MODELS_KEY).body["note"] == "x"


def test_a_second_kill_switch_changes_nothing(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    config_optimizations_disable_all(store=store, actor=None)
    revision = store.read(AI_MODELS_KEY).revision

    result = config_optimizations_disable_all(store=store, actor=None)

    assert result.switched_off == {}
    assert result.already_off == [AI_MODELS_KEY]
    assert store.read(AI_MODELS_KEY).revision == revision


def test_the_audit_chain_says_what_changed_since_a_revision(
    store: EmbeddedConfigStore, ai_models: StoredDocument, staff_user: AbstractUser
) -> None:
    first = update(store, ai_models, 0, {"cachingEnabled": True}, staff_user)
    second = update(store, first.document, 0, {"cacheTTL": 3600}, staff_user)

    since = config_changes_since(
        key=AI_MODELS_KEY, revision=ai_models.revision, current_revision=second.document.revision
    )

    assert since.complete
    assert [set(entry.changes) - {"revision"} for entry in since.entries] == [
        {"cachingEnabled"},
        {"cacheTTL"},
    ]


def test_the_audit_chain_admits_a_change_made_outside_the_admin(
    store: EmbeddedConfigStore, ai_models: StoredDocument
) -> None:
    outside = store.write(
        AI_MODELS_KEY, ai_models.body | {"x": 1}, expected_revision=ai_models.revision
    )

    since = config_changes_since(
        key=AI_MODELS_KEY, revision=ai_models.revision, current_revision=outside.revision
    )

    assert not since.complete
    assert since.entries == []


def test_the_kill_switch_covers_every_chat_model_list_but_not_embeddings(
    store: EmbeddedConfigStore,
) -> None:
    on = {"provider": "anthropic", "configuration": {"optimizationEnabled": True}}
    store.write(
        "lists",
        {"llm": [on], "slm": [on], "reasoning": [on], "embedding": [on]},
        expected_revision=None,
    )

    result = config_optimizations_disable_all(store=store, actor=None)

    body = store.read("lists").body
    assert result.switched_off == {"lists": ["llm[0]", "slm[0]", "reasoning[0]"]}
    assert body["embedding"][0]["configuration"]["optimizationEnabled"] is True
