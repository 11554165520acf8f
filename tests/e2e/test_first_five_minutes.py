"""A new operator's first five minutes, against the real product: gunicorn, a Celery worker with
beat, the simulator standing in for Anthropic, PostgreSQL and Redis, driven through Chromium.

Sign in, switch caching and batching on for anthropic on the config page, run the demo workload,
then see money saved and cache hits on the dashboard, a finished batch job, and nothing left for
`migrate_aiconfigs` to do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from decimal import Decimal

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ROOT, Stack

pytestmark = [pytest.mark.browser]

ARTIFACTS = ROOT / "artifacts" / "e2e"
DOCS_SCREENSHOT = ROOT / "docs" / "dashboard.png"
NOTHING_TO_DO = 3  # migrate_aiconfigs' exit code when every entry already has its fields


@pytest.fixture
def page(chromium: Browser, stack: Stack) -> Iterator[Page]:
    context = chromium.new_context(base_url=stack.web_url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    # Generous but bounded: the machine may be busy; waits end as soon as they can.
    page.set_default_timeout(30_000)
    page.set_default_navigation_timeout(60_000)
    expect.set_options(timeout=30_000)
    yield page
    context.close()


def money(text: str) -> Decimal:
    """'$1,234.5678' or '-$0.0012' as a Decimal."""
    match = re.fullmatch(r"\s*(-?)\$([\d,]+(?:\.\d+)?)\s*", text)
    assert match, f"not an amount of money: {text!r}"
    return Decimal(match.group(1) + match.group(2).replace(",", ""))


def percent(text: str) -> Decimal:
    match = re.fullmatch(r"\s*(-?[\d.]+)%\s*", text)
    assert match, f"not a percentage: {text!r}"
    return Decimal(match.group(1))


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def switch_on(page: Page, field: str, saved: str) -> None:
    """Turn one htmx switch of the anthropic entry on and wait until the server says it saved."""
    entry = page.locator('article.entry[data-provider="anthropic"]')
    switch = entry.locator(f'input[data-field="{field}"]')
    expect(switch).to_be_enabled()
    expect(switch).not_to_be_checked()
    switch.check()
    # The entry is swapped for the server's rendering; its save state names what was saved.
    expect(entry.locator(".save-state .ok")).to_have_text(f"✓ {saved}")
    expect(entry.locator(f'input[data-field="{field}"]')).to_be_checked()


def test_a_new_operator_turns_on_caching_and_batching_and_sees_the_savings(
    stack: Stack, page: Page
) -> None:
    created = stack.manage("ensure_admin").stdout
    match = re.search(r"Created staff user 'admin' with password: (\S+)", created)
    assert match, f"ensure_admin printed no password:\n{created}"
    password = match.group(1)
    assert "Seeded" in stack.manage("seed_demo_config").stdout
    migrated = stack.manage("migrate_aiconfigs", check=False)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    # Sign in and land on the config page.
    page.goto("/login/?next=/config/")
    screenshot(page, "01-login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/config/")

    # Caching and batching on for anthropic, through the page's switches.
    anthropic = page.locator('article.entry[data-provider="anthropic"]')
    expect(anthropic.locator(".badges")).to_contain_text("caching not in use")
    switch_on(page, "optimizationEnabled", "Optimizations (master switch) on")
    switch_on(page, "cachingEnabled", "Prompt caching on")
    switch_on(page, "batchingEnabled", "Batching on")
    expect(anthropic.locator(".badges")).to_contain_text("caching in use")
    expect(anthropic.locator(".badges")).to_contain_text("batching in use")
    page.reload()
    for field in ("optimizationEnabled", "cachingEnabled", "batchingEnabled"):
        expect(anthropic.locator(f'input[data-field="{field}"]')).to_be_checked()
    screenshot(page, "02-config-optimized")

    # The demo workload, as the README tells a new user to run it (the page already optimized).
    stack.check_alive()
    demo = stack.manage(
        "demo_traffic",
        "--admin-url",
        stack.web_url,
        "--questions",
        "8",
        "--chats",
        "2",
        "--turns",
        "3",
        "--documents",
        "6",
        "--job-requests",
        "5",
        "--job-timeout",
        "90",
    )
    assert "ChatAnthropic (optimized)" in demo.stdout, demo.stdout
    assert "lost" not in demo.stdout, demo.stdout
    # The bulk documents went through the Message Batches API, not the standard-API fallback.
    assert "through the standard API" not in demo.stderr, demo.stderr

    # The dashboard shows money saved and cache hits.
    page.goto("/savings/")
    figures = page.locator("#figures")
    expect(figures.locator('[data-figure="saved"]')).to_be_visible()
    saved = money(figures.locator('[data-figure="saved"]').inner_text())
    hit_rate = percent(figures.locator('[data-figure="hit-rate"]').inner_text())
    assert saved > 0
    assert hit_rate > 0
    screenshot(page, "03-dashboard")
    dashboard_png = page.screenshot()  # the 1280x800 viewport, for the README

    # The same figures from the API, with the browser's session.
    response = page.request.get("/api/savings/summary")
    assert response.ok, response.text()
    summary = response.json()
    assert summary["events"] > 0
    assert abs(Decimal(summary["saved"]) - saved) <= Decimal("0.005")
    assert summary["cache_hit_rate"] is not None
    assert abs(Decimal(str(summary["cache_hit_rate"])) * 100 - hit_rate) <= Decimal("0.05")
    assert summary["cache_read_tokens"] > 0
    # The wrapper's six documents and the admin job's five requests, all at batch prices.
    assert summary["batch_events"] >= 6 + 5

    # The demo's bulk job ended and the batch page says so.
    page.goto("/batches/")
    job = page.locator("table.jobs tbody tr").first
    expect(job).to_contain_text("demo: document summaries")
    expect(job.locator('[data-status="ended"]')).to_be_visible()
    expect(job.locator("td.num span.ok").first).to_have_text("5")  # all five succeeded
    screenshot(page, "04-batches")

    # Everything is migrated already: a dry run has nothing to do.
    dry_run = stack.manage("migrate_aiconfigs", "--dry-run", check=False)
    assert dry_run.returncode == NOTHING_TO_DO, dry_run.stdout + dry_run.stderr
    stack.check_alive()
    if os.environ.get("LLMOPT_UPDATE_DOCS_SCREENSHOT") or not DOCS_SCREENSHOT.exists():
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        DOCS_SCREENSHOT.write_bytes(dashboard_png)
