"""Chromium drives the dashboard: change the period and a filter, compare with the ledger."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import Browser, expect

from llmopt_admin.savings.selectors import Filters, ceil_hour, ledger_totals
from llmopt_admin.savings.services import ledger_bulk_load
from llmopt_admin.savings.synthetic import synthetic_events
from llmopt_admin.savings.templatetags.savings_format import format_usd, money_places

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(live_server: Any, chromium: Browser) -> Iterator[Any]:
    # The first request imports the whole URL tree; pay that once, outside browser timeouts.
    with urllib.request.urlopen(f"{live_server.url}/login/", timeout=300) as response:
        assert response.status == 200

    user = get_user_model().objects.create_user("viewer", is_staff=True)
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    context = chromium.new_context(viewport={"width": 1280, "height": 1600})
    context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.set_default_navigation_timeout(120_000)
    expect.set_options(timeout=60_000)
    yield page
    context.close()


def shown(amount: Decimal, totals: dict[str, Any]) -> str:
    """An amount as the headline shows it: at the precision of the period's largest figure."""
    return format_usd(amount, money_places(totals["cost"], totals["baseline_cost"]))


def test_the_dashboard_follows_period_and_filter_changes(
    page: Any, live_server: Any, artifacts: Path
) -> None:
    ledger_bulk_load(events=synthetic_events(count=3000, days=20, seed=5))
    page.goto(f"{live_server.url}/savings/?period=30d")
    cost = page.locator('[data-figure="cost"]')
    end = ceil_hour(datetime.now(UTC))
    month = ledger_totals(filters=Filters.of(end - timedelta(days=30), end))
    assert cost.inner_text() == shown(month["cost"], month)

    page.check('input[name="period"][value="7d"]')
    page.wait_for_url("**period=7d**")
    week = ledger_totals(filters=Filters.of(end - timedelta(days=7), end))
    expect(cost).to_have_text(shown(week["cost"], week))

    page.select_option('select[name="provider"]', "openAI")
    page.wait_for_url("**provider=openAI**")
    openai = ledger_totals(filters=Filters.of(end - timedelta(days=7), end, "openAI"))
    expect(cost).to_have_text(shown(openai["cost"], openai))
    assert page.locator('[data-figure="baseline"]').inner_text() == shown(
        openai["baseline_cost"], openai
    )
    assert "openAI" in page.locator(".period-label").inner_text()
    rows = page.locator("#breakdown tbody tr")
    assert {rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())} == {"openAI"}
    assert page.locator("#chart-spend").bounding_box()["height"] > 100
    page.wait_for_selector("#what-if-table")
    page.screenshot(path=str(artifacts / "savings-dashboard.png"), full_page=True)


def test_a_what_if_field_out_of_range_says_so_next_to_it_and_recovers(
    page: Any, live_server: Any
) -> None:
    ledger_bulk_load(events=synthetic_events(count=500, days=10, seed=6))
    page.goto(f"{live_server.url}/savings/?period=30d")
    page.wait_for_selector("#what-if-table")
    hit_rate = page.locator('input[name="hit_rate"]')
    hit_rate.fill("150")
    hit_rate.dispatch_event("change")
    expect(page.locator("#what-if-error-hit_rate")).to_contain_text("0 to 100")
    expect(page.locator("#what-if-table")).to_have_count(0)  # no stale figures left up
    hit_rate.fill("50")
    hit_rate.dispatch_event("change")
    expect(page.locator("#what-if-table")).to_be_visible()
    expect(page.locator("#what-if-error-hit_rate")).to_have_text("")
    days = page.locator('input[name="days"]')
    days.fill("0")
    days.dispatch_event("change")
    expect(page.locator("#what-if-error-days")).to_contain_text("1 to 90")


def test_the_what_if_panel_opened_directly_is_the_dashboard(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/savings/what-if/?days=7")
    expect(page).to_have_url(re.compile(r"/savings/\?days=7#what-if$"))
    expect(page.locator("header.topbar")).to_be_visible()
