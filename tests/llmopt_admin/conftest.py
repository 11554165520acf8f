"""Shared fixtures of the admin tests: a staff member, an outsider, their clients and tokens, and
an `ai_models_config` document in the embedded store shaped like PipesHub's."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.test import Client

from llmopt_admin.accounts.services import api_token_create
from llmopt_admin.configs.stores import STORE_FACTORIES, EmbeddedConfigStore
from optimization.stores.base import AI_MODELS_KEY, StoredDocument, StoreError

ANTHROPIC_KEY = "sk-ant-api03-SECRETSECRETSECRET-abcd"
OPENAI_KEY = "sk-proj-OPENAISECRETVALUE-wxyz"

AI_MODELS_DOCUMENT: dict[str, Any] = {
    "_key": AI_MODELS_KEY,
    "llm": [
        {
            "provider": "anthropic",
            "isDefault": True,
            "isMultimodal": True,
            "configuration": {
                "model": "claude-sonnet-4-5",
                "apiKey": ANTHROPIC_KEY,
                "optimizationEnabled": True,
                "batchingEnabled": False,
                "batchMaxSize": 10000,
                "batchTimeout": 30,
                "cachingEnabled": False,
                "cacheTTL": 300,
                "cacheBreakpoints": "auto",
                "fallbackToStandard": True,
                "optimizationStrategy": "auto",
                "customHeader": "kept-as-is",
            },
        },
        {
            "provider": "openAI",
            "isDefault": False,
            "configuration": {"model": "gpt-4o", "apiKey": OPENAI_KEY},
        },
        {
            "provider": "ollama",
            "isDefault": False,
            "configuration": {"model": "llama3.2", "endpoint": "http://127.0.0.1:11434"},
        },
    ],
    "embedding": [{"provider": "openAI", "configuration": {"model": "text-embedding-3-small"}}],
}


@pytest.fixture
def staff_user(db: None) -> AbstractUser:
    # No password: hashing one costs a noticeable fraction of a second per test on a busy
    # machine; clients sign in with force_login. The browser test sets its own password.
    return get_user_model().objects.create_user("operator", is_staff=True)


@pytest.fixture
def outsider(db: None) -> AbstractUser:
    return get_user_model().objects.create_user("outsider")


@pytest.fixture
def staff_client(staff_user: AbstractUser) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def outsider_client(outsider: AbstractUser) -> Client:
    client = Client()
    client.force_login(outsider)
    return client


@pytest.fixture
def staff_token(staff_user: AbstractUser) -> str:
    return api_token_create(user=staff_user, name="tests", scopes=["admin"])[1]


@pytest.fixture
def outsider_token(outsider: AbstractUser) -> str:
    # What a non-staff user's token is typically for: a backend's usage recorder.
    return api_token_create(user=outsider, name="tests", scopes=["ingest"])[1]


@pytest.fixture
def store(db: None) -> EmbeddedConfigStore:
    return EmbeddedConfigStore()


@pytest.fixture
def ai_models(store: EmbeddedConfigStore) -> StoredDocument:
    """The `ai_models_config` document as the backend would have stored it."""
    return store.write(AI_MODELS_KEY, copy.deepcopy(AI_MODELS_DOCUMENT), expected_revision=None)


class UnreachableStore:
    """A config store whose backend is down (ArangoDB not answering, say)."""

    name = "unreachable"

    def read(self, key: str = AI_MODELS_KEY) -> StoredDocument:
        raise StoreError("cannot reach the config store at 127.0.0.1:8529: connection refused")

    def write(self, key: str, body: Any, *, expected_revision: str | None) -> StoredDocument:
        raise StoreError("cannot reach the config store at 127.0.0.1:8529: connection refused")

    def list(self) -> list[StoredDocument]:
        raise StoreError("cannot reach the config store at 127.0.0.1:8529: connection refused")


@pytest.fixture
def unreachable_store(monkeypatch: pytest.MonkeyPatch, settings: Any) -> UnreachableStore:
    """Make get_config_store() return a store that cannot be reached."""
    monkeypatch.setitem(STORE_FACTORIES, "unreachable", UnreachableStore)
    settings.LLMOPT_CONFIG_STORE = "unreachable"
    return UnreachableStore()
