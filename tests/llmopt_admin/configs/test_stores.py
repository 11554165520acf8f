"""The embedded config store (the shared contract, on PostgreSQL) and the store registry."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from pytest_django.fixtures import Settings

from llmopt_admin.configs import stores
from llmopt_admin.configs.models import EmbeddedConfigDocument
from llmopt_admin.configs.stores import (
    EmbeddedConfigStore,
    get_config_store,
    register_config_store,
)
from optimization.stores.arango import ArangoConfigStore
from optimization.stores.base import StoreError
from optimization.stores.memory import InMemoryConfigStore
from tests.store_contract import StoreContract


@pytest.mark.django_db(transaction=True)
class TestEmbeddedStore(StoreContract):
    @pytest.fixture
    def store(self) -> EmbeddedConfigStore:
        return EmbeddedConfigStore()

    def finish_thread(self) -> None:
        connection.close()  # each writer thread opened its own database connection


@pytest.mark.django_db
def test_the_embedded_store_counts_revisions_up_from_one() -> None:
    store = EmbeddedConfigStore()
    first = store.write("doc", {"llm": []}, expected_revision=None)
    second = store.write("doc", {"llm": [1]}, expected_revision=first.revision)

    assert (first.revision, second.revision) == ("1", "2")
    assert EmbeddedConfigDocument.objects.get(key="doc").revision == 2


@pytest.mark.django_db
def test_the_embedded_store_refuses_what_json_cannot_hold() -> None:
    store = EmbeddedConfigStore()

    with pytest.raises(StoreError, match="not valid JSON"):
        store.write("doc", {"when": object()}, expected_revision=None)
    with pytest.raises(StoreError, match="not valid JSON"):
        store.write("doc", {"ratio": float("nan")}, expected_revision=None)

    assert not EmbeddedConfigDocument.objects.exists()


def test_the_embedded_store_is_the_default(settings: Settings) -> None:
    settings.LLMOPT_CONFIG_STORE = "embedded"

    assert isinstance(get_config_store(), EmbeddedConfigStore)


def test_the_arango_store_is_built_from_the_settings(settings: Settings) -> None:
    settings.LLMOPT_CONFIG_STORE = "arango"

    assert isinstance(get_config_store(), ArangoConfigStore)
    assert isinstance(get_config_store("embedded"), EmbeddedConfigStore)


def test_an_unknown_store_name_lists_the_choices() -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        get_config_store("nosuch")

    message = str(caught.value)
    assert "'nosuch'" in message
    assert "choose one of:" in message
    assert "arango" in message
    assert "embedded" in message


def test_another_store_can_join_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stores, "STORE_FACTORIES", dict(stores.STORE_FACTORIES))
    register_config_store("memory", InMemoryConfigStore)

    assert isinstance(get_config_store("memory"), InMemoryConfigStore)
    assert "memory" in stores.config_store_names()
