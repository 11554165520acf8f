"""Every page in Chromium at phone width (390 px) and desktop width: nothing spills sideways,
the top bar keeps everything inside it, and the menu works with a keyboard."""

from __future__ import annotations

import copy
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from llmopt_admin.batches import services
from llmopt_admin.configs.stores import EmbeddedConfigStore
from llmopt_admin.savings.services import ledger_bulk_load
from llmopt_admin.savings.synthetic import synthetic_events
from optimization.stores.base import AI_MODELS_KEY
from tests.llmopt_admin.batches.conftest import make_requests
from tests.llmopt_admin.conftest import AI_MODELS_DOCUMENT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-layout-1"
PAGES = ("/savings/", "/config/", "/batches/", "/audit/")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def signed_in(chromium: Browser, live_server: Any, viewport: dict[str, int]) -> Page:
    page = chromium.new_page(viewport=viewport, base_url=live_server.url)
    page.set_default_timeout(60_000)
    page.goto("/login/?next=/savings/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/savings/")
    return page


@pytest.fixture
def site(live_server: Any, django_user_model: type[User]) -> Any:
    django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True)
    services.batch_job_create(requests=make_requests(3), submitted_by="operator")
    # The first request imports the whole URL tree; pay that before the browser's timeouts run.
    with urllib.request.urlopen(f"{live_server.url}/login/", timeout=300) as response:
        assert response.status == 200
    return live_server


def _page_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_at_phone_width_no_page_scrolls_sideways_and_the_top_bar_holds_its_items(
    chromium: Browser, site: Any, artifacts: Path
) -> None:
    page = signed_in(chromium, site, PHONE)
    for path in PAGES:
        page.goto(path)
        assert _page_width(page) <= PHONE["width"], path
        bar = page.locator("header.topbar").bounding_box()
        sign_out = page.get_by_role("button", name="Sign out").bounding_box()
        assert bar is not None
        assert sign_out is not None
        assert sign_out["x"] + sign_out["width"] <= bar["x"] + bar["width"], path
        assert sign_out["y"] + sign_out["height"] <= bar["y"] + bar["height"], path
        assert not page.get_by_role("link", name="Batches").is_visible()  # folded away
    page.screenshot(path=str(artifacts / "layout-phone-audit.png"), full_page=True)


def test_the_phone_menu_opens_and_closes_from_the_keyboard(chromium: Browser, site: Any) -> None:
    page = signed_in(chromium, site, PHONE)
    menu = page.get_by_role("button", name="Menu")
    menu.focus()
    page.keyboard.press("Enter")
    assert menu.get_attribute("aria-expanded") == "true"
    link = page.get_by_role("link", name="Batches")
    assert link.is_visible()
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/batches/")
    page.get_by_role("button", name="Menu").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Space")
    assert page.get_by_role("button", name="Menu").get_attribute("aria-expanded") == "false"


def test_at_desktop_width_the_links_show_without_a_menu_and_there_is_a_favicon(
    chromium: Browser, site: Any
) -> None:
    page = signed_in(chromium, site, DESKTOP)
    assert not page.get_by_role("button", name="Menu").is_visible()
    for name in ("Savings", "Config", "Batches", "Audit", "API"):
        assert page.locator("#site-nav").get_by_role("link", name=name, exact=True).is_visible()
    icon = page.request.get(f"{site.url}/favicon.ico")
    assert icon.ok
    assert "svg" in icon.headers["content-type"]


def test_at_phone_width_the_keyboard_switch_and_the_what_if_messages_work_too(
    chromium: Browser, site: Any
) -> None:
    EmbeddedConfigStore().write(
        AI_MODELS_KEY, copy.deepcopy(AI_MODELS_DOCUMENT), expected_revision=None
    )
    ledger_bulk_load(events=synthetic_events(count=300, days=10, seed=9))
    page = signed_in(chromium, site, PHONE)
    page.goto("/config/")
    caching = page.locator(f"#entry-{AI_MODELS_KEY}-0").locator(
        'input[data-field="cachingEnabled"]'
    )
    caching.focus()
    page.keyboard.press("Space")
    expect(caching).to_be_checked()
    expect(caching).to_be_focused()
    assert _page_width(page) <= PHONE["width"]

    page.goto("/savings/?period=30d")
    page.wait_for_selector("#what-if-table")
    assert _page_width(page) <= PHONE["width"]
    hit_rate = page.locator('input[name="hit_rate"]')
    hit_rate.fill("150")
    hit_rate.dispatch_event("change")
    expect(page.locator("#what-if-error-hit_rate")).to_contain_text("0 to 100")
    assert not page.locator('[data-figure="cost"]').inner_text().startswith("$0.0000")
