"""The config page in a real browser: Debian's Chromium driven by Playwright against live_server."""

from __future__ import annotations

import copy
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, Page, expect

from llmopt_admin.configs.stores import EmbeddedConfigStore
from optimization.stores.base import AI_MODELS_KEY
from tests.llmopt_admin.conftest import AI_MODELS_DOCUMENT, ANTHROPIC_KEY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-test-password"


@pytest.fixture
def page(chromium: Browser, live_server) -> Iterator[Page]:  # type: ignore[no-untyped-def]
    EmbeddedConfigStore().write(
        AI_MODELS_KEY, copy.deepcopy(AI_MODELS_DOCUMENT), expected_revision=None
    )
    get_user_model().objects.create_user("operator", password=PASSWORD, is_staff=True)
    # The first request imports the whole URL tree (every app's API, LangChain, the SDKs); on a
    # busy machine that takes long enough to trip a browser timeout, so pay it here, once.
    with urllib.request.urlopen(f"{live_server.url}/login/", timeout=300) as response:
        assert response.status == 200
    context = chromium.new_context(base_url=live_server.url)
    page = context.new_page()
    # Generous: the machine running the suite may be busy; the waits end as soon as they can.
    page.set_default_timeout(30_000)
    page.set_default_navigation_timeout(60_000)
    expect.set_options(timeout=30_000)
    yield page
    context.close()


def sign_in(page: Page) -> None:
    page.goto("/login/?next=/config/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/config/")


def test_an_operator_toggles_caching_and_a_bad_batch_size_is_rejected(
    page: Page, artifacts: Path
) -> None:
    sign_in(page)
    anthropic = page.locator(f"#entry-{AI_MODELS_KEY}-0")
    caching = anthropic.locator('input[data-field="cachingEnabled"]')
    expect(caching).not_to_be_checked()
    assert ANTHROPIC_KEY not in page.content()

    caching.check()
    expect(anthropic.locator(".save-state")).to_contain_text("Prompt caching on")
    page.screenshot(path=str(artifacts / "config-caching-saved.png"), full_page=True)

    page.reload()
    expect(
        page.locator(f'#entry-{AI_MODELS_KEY}-0 input[data-field="cachingEnabled"]')
    ).to_be_checked()
    stored = EmbeddedConfigStore().read(AI_MODELS_KEY).body["llm"][0]["configuration"]
    assert stored["cachingEnabled"] is True

    anthropic = page.locator(f"#entry-{AI_MODELS_KEY}-0")
    anthropic.get_by_role("button", name="Edit settings").click()
    anthropic.get_by_label("Batch size").fill("0")
    anthropic.get_by_role("button", name="Save settings").click()
    error = anthropic.locator('.field-error[data-field="batchMaxSize"]')
    expect(error).to_contain_text("batchMaxSize must be a whole number from 1 to")
    page.screenshot(path=str(artifacts / "config-bad-batch-size.png"), full_page=True)
    stored = EmbeddedConfigStore().read(AI_MODELS_KEY).body["llm"][0]["configuration"]
    assert stored["batchMaxSize"] == 10000

    page.goto("/audit/")
    expect(page.locator("table.audit")).to_contain_text("cachingEnabled: false → true")
    page.screenshot(path=str(artifacts / "audit-log.png"), full_page=True)


def test_a_switch_the_provider_cannot_use_is_disabled_in_the_browser(page: Page) -> None:
    sign_in(page)

    ollama = page.locator(f"#entry-{AI_MODELS_KEY}-2")

    expect(ollama.locator('input[data-field="batchingEnabled"]')).to_be_disabled()
    expect(ollama).to_contain_text("does not support batching")


def test_a_switch_flipped_with_the_keyboard_keeps_the_focus_after_its_card_is_redrawn(
    page: Page,
) -> None:
    sign_in(page)
    caching = page.locator(f"#entry-{AI_MODELS_KEY}-0").locator(
        'input[data-field="cachingEnabled"]'
    )
    caching.focus()
    page.keyboard.press("Space")
    expect(caching).to_be_checked()
    expect(caching).to_be_focused()  # the card was redrawn, the focus stayed on the switch
    page.keyboard.press("Space")  # and the keyboard goes on working without a mouse
    expect(caching).not_to_be_checked()
    expect(caching).to_be_focused()


def test_an_entry_opened_directly_is_a_whole_styled_page(page: Page) -> None:
    sign_in(page)
    page.goto(f"/config/{AI_MODELS_KEY}/llm/0/edit/")
    expect(page).to_have_title(re.compile(r"· Config · llmopt$"))
    expect(page.locator("header.topbar")).to_be_visible()
    expect(page.get_by_role("link", name="← All LLM configuration")).to_be_visible()
