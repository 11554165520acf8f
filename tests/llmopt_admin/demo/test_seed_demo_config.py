from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from llmopt_admin.configs.stores import get_config_store
from optimization import PROVIDERS
from optimization.migration import migrate_aiconfigs
from optimization.stores.base import AI_MODELS_KEY

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_demo_config", stdout=out)
    return out.getvalue()


def test_it_seeds_a_pipeshub_shaped_document_with_optimizations_off() -> None:
    assert "Seeded" in seed()
    body = get_config_store().read(AI_MODELS_KEY).body
    providers = [entry["provider"] for entry in body["llm"]]
    assert len(providers) >= 3
    assert set(providers) <= set(PROVIDERS)
    assert sum(entry["isDefault"] for entry in body["llm"]) == 1
    assert all("optimizationEnabled" not in entry["configuration"] for entry in body["llm"])
    _, changes = migrate_aiconfigs(body)
    assert changes, "the seeded document is what migrate_aiconfigs upgrades"


def test_it_leaves_an_existing_document_alone() -> None:
    seed()
    store = get_config_store()
    before = store.read(AI_MODELS_KEY)
    assert "left as it is" in seed()
    assert store.read(AI_MODELS_KEY) == before
