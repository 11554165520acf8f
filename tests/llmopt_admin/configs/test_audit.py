"""The audit log: entries record who did what, and never hold a secret."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from llmopt_admin.configs.audit import MASK, audit_record, is_secret_key, mask_secrets
from llmopt_admin.configs.models import AuditEntry


@pytest.mark.parametrize(
    "name",
    [
        "apiKey",
        "api_key",
        "API-KEY",
        "secret",
        "password",
        "token",
        "clientSecret",
        "awsSecretAccessKey",
        "accessToken",
        "privateKey",
        "db.password",
    ],
)
def test_secret_names_are_recognised_in_any_spelling(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name", ["model", "maxTokens", "batchMaxSize", "cacheTTL", "provider", "tokenizer", 7, None]
)
def test_ordinary_names_are_not_masked(name: object) -> None:
    assert not is_secret_key(name)


def test_mask_secrets_masks_at_any_depth_and_leaves_the_input_alone() -> None:
    changes = {
        "llm[0].apiKey": "sk-ant-1",
        "document": {
            "llm": [{"configuration": {"model": "m", "apiKey": "sk-ant-2", "api_key": 12345}}],
            "auth": {"password": "hunter2", "token": {"nested": "value"}, "secret": ""},
        },
        "pairs": [("token", "not a key name"), {"old": {"apiKey": "sk-old"}, "new": None}],
    }
    original = repr(changes)

    masked = mask_secrets(changes)

    assert repr(changes) == original
    assert masked["llm[0].apiKey"] == MASK  # a path ending in a secret's name counts too
    configuration = masked["document"]["llm"][0]["configuration"]
    assert configuration == {"model": "m", "apiKey": MASK, "api_key": MASK}
    assert masked["document"]["auth"] == {"password": MASK, "token": MASK, "secret": ""}
    assert masked["pairs"] == [["token", "not a key name"], {"old": {"apiKey": MASK}, "new": None}]


def test_an_empty_secret_stays_visible_as_not_set() -> None:
    assert mask_secrets({"apiKey": None, "password": ""}) == {"apiKey": None, "password": ""}


@pytest.mark.django_db
def test_audit_record_stores_the_actor_and_masked_changes() -> None:
    user = get_user_model().objects.create_user("alice", password="pw-for-test", is_staff=True)

    entry = audit_record(
        actor=user,
        action="config.update",
        target="ai_models_config",
        changes={"llm[0]": {"apiKey": {"old": "sk-1", "new": "sk-2"}, "cacheTTL": [300, 3600]}},
    )

    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.actor, stored.actor_label, stored.action, stored.target) == (
        user,
        "alice",
        "config.update",
        "ai_models_config",
    )
    assert stored.changes == {"llm[0]": {"apiKey": MASK, "cacheTTL": [300, 3600]}}
    assert stored.created_at is not None
    assert "alice" in str(stored)


@pytest.mark.django_db
def test_command_line_and_anonymous_actors_are_labelled() -> None:
    cli = audit_record(
        actor=None, action="migration.run", target="t", changes={}, actor_label="cli:ops"
    )
    system = audit_record(actor=None, action="x", target="t", changes={})
    anonymous = audit_record(actor=AnonymousUser(), action="x", target="t", changes={})

    assert (cli.actor, cli.actor_label) == (None, "cli:ops")
    assert (system.actor, system.actor_label) == (None, "system")
    assert (anonymous.actor, anonymous.actor_label) == (None, "system")


@pytest.mark.django_db
def test_an_entry_outlives_its_user_and_still_names_them() -> None:
    user = get_user_model().objects.create_user("bob", password="pw-for-test")
    entry = audit_record(actor=user, action="config.update", target="t", changes={})

    user.delete()
    entry.refresh_from_db()

    assert entry.actor is None
    assert entry.actor_label == "bob"


@pytest.mark.django_db
def test_entries_list_newest_first() -> None:
    first = audit_record(actor=None, action="a", target="t", changes={})
    second = audit_record(actor=None, action="b", target="t", changes={})

    assert list(AuditEntry.objects.all()) == [second, first]
