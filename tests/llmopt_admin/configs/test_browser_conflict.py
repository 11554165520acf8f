"""Two operators editing one entry, in a real browser: the one who loses the race sees their
change laid over the other's, and re-applying it keeps the other's save."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from llmopt_admin.configs.services import config_entry_update
from llmopt_admin.configs.stores import EmbeddedConfigStore
from optimization.stores.base import AI_MODELS_KEY
from tests.llmopt_admin.configs.test_browser_config import page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

__all__ = ["page"]  # the fixture, shared with the other browser tests


def test_re_applying_a_lost_change_keeps_the_other_operators_save(
    page: Page, artifacts: Path
) -> None:
    sign_in(page)
    card = page.locator(f"#entry-{AI_MODELS_KEY}-0")
    card.get_by_role("button", name="Edit settings").click()
    expect(card.get_by_label("Batch size")).to_have_value("10000")
    # Another operator saves the batch timeout meanwhile.
    store = EmbeddedConfigStore()
    config_entry_update(
        store=store,
        key=AI_MODELS_KEY,
        index=0,
        changes={"batchTimeout": 60},
        expected_revision=store.read(AI_MODELS_KEY).revision,
        actor=None,
    )

    card.get_by_label("Batch size").fill("99")
    card.get_by_role("button", name="Save settings").click()

    card = page.locator(f"#entry-{AI_MODELS_KEY}-0")
    expect(card.locator(".conflict")).to_contain_text("batchTimeout: 30 → 60")
    expect(card.locator(".conflict")).to_contain_text("Batch size = 99")
    expect(card.get_by_label("Batch size")).to_have_value("99")
    expect(card.get_by_label("Batch timeout (seconds)")).to_have_value("60")
    expect(card.locator(".error")).to_have_count(0)
    page.screenshot(path=str(artifacts / "config-conflict-reapply.png"), full_page=True)
    assert store.read(AI_MODELS_KEY).body["llm"][0]["configuration"]["batchMaxSize"] == 10000

    card.get_by_role("button", name="Re-apply my change").click()

    expect(card.locator(".save-state")).to_contain_text("Settings saved")
    configuration = store.read(AI_MODELS_KEY).body["llm"][0]["configuration"]
    assert configuration["batchMaxSize"] == 99
    assert configuration["batchTimeout"] == 60
