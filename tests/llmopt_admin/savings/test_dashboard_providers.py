"""OpenAI, Azure OpenAI and Gemini calls on the dashboard, pinned against hand-computed bills.

Each family gets the same four calls (standard, cached, batch, batch+cache) and every figure is
worked out here from the list prices in optimization.price_table, as the provider bills them:
OpenAI and Azure halve cached input in a batch too, Gemini keeps cached tokens at full price in
a batch.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from llmopt_admin.savings.selectors import Filters, savings_summary
from llmopt_admin.savings.services import usage_events_record
from llmopt_admin.savings.what_if import what_if_projection
from optimization.telemetry import UsageEvent

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC)
M = 1_000_000

# provider, model as the provider spells it, and the four calls' tokens. Each call is 1M or
# 1.2M input tokens so the bills are easy to check by hand.
CALLS = {
    # gpt-5: $1.25/M input, $0.125/M cached, $10/M output.
    "openAI": (
        "gpt-5-2025-08-07",
        {
            "standard": {"input_tokens": M, "output_tokens": 100_000},
            "cached": {"input_tokens": 200_000, "cache_read_tokens": M, "output_tokens": 100_000},
            "batch": {"input_tokens": M, "output_tokens": 100_000},
            "batch+cache": {
                "input_tokens": 200_000,
                "cache_read_tokens": M,
                "output_tokens": 100_000,
            },
        },
    ),
    # gpt-4.1 under its Azure model version: $2/M input, $0.50/M cached, $8/M output.
    "azureOpenAI": (
        "gpt-4.1-2025-04-14",
        {
            "standard": {"input_tokens": M},
            "cached": {"cache_read_tokens": M},
            "batch": {"input_tokens": M},
            "batch+cache": {"cache_read_tokens": M},
        },
    ),
    # gemini-2.5-flash: $0.30/M input, $0.03/M cached, $2.50/M output.
    "gemini": (
        "gemini-2.5-flash",
        {
            "standard": {"input_tokens": M, "output_tokens": 100_000},
            "cached": {"cache_read_tokens": M, "output_tokens": 100_000},
            "batch": {"input_tokens": M, "output_tokens": 100_000},
            "batch+cache": {"cache_read_tokens": M, "output_tokens": 100_000},
        },
    ),
}

# What each provider bills for its four calls, by hand (USD).
BILLS = {
    "openAI": {
        # standard 1.25 + 1.00 = 2.25; cached 0.25 + 0.125 + 1.00 = 1.375;
        # batch (1.25 + 1.00) / 2 = 1.125; batch+cache 0.125 + 0.0625 + 0.50 = 0.6875.
        "cost": Decimal("5.4375"),
        # 1M or 1.2M input at $1.25/M plus $1.00 of output each: 2.25 + 2.50 + 2.25 + 2.50.
        "baseline_cost": Decimal("9.5"),
        # 1M cached tokens at $1.25 - $0.125 = $1.125 saved, in two calls.
        "cache_read_saved": Decimal("2.25"),
        "cache_write_premium": Decimal("0"),
        # batch: 2.25 - 1.125 = 1.125; batch+cache: 1.375 - 0.6875 = 0.6875 (cached input
        # halved too: OpenAI's Batch column lists it at $0.0625/M).
        "batch_discount": Decimal("1.8125"),
        # 2M cached of 4.4M input (automatic caching: all input could have been cached).
        "cache_hit_rate": 2 / 4.4,
    },
    "azureOpenAI": {
        # standard 2.00; cached 0.50; batch 1.00; batch+cache 0.25 (stacked).
        "cost": Decimal("3.75"),
        "baseline_cost": Decimal("8"),  # 4 x 1M at $2/M
        "cache_read_saved": Decimal("3"),  # 2 x 1M x ($2 - $0.50)
        "cache_write_premium": Decimal("0"),
        "batch_discount": Decimal("1.25"),  # 2.00 - 1.00 and 0.50 - 0.25
        "cache_hit_rate": 0.5,
    },
    "gemini": {
        # standard 0.30 + 0.25 = 0.55; cached 0.03 + 0.25 = 0.28; batch 0.15 + 0.125 = 0.275;
        # batch+cache 0.03 (cached tokens keep their price in a batch) + 0.125 = 0.155.
        "cost": Decimal("1.26"),
        "baseline_cost": Decimal("2.2"),  # 4 x (1M x $0.30 + 100k x $2.50)
        "cache_read_saved": Decimal("0.54"),  # 2 x 1M x ($0.30 - $0.03)
        "cache_write_premium": Decimal("0"),
        # batch: 0.55 - 0.275 = 0.275; batch+cache: 0.28 - 0.155 = 0.125 (output only).
        "batch_discount": Decimal("0.4"),
        "cache_hit_rate": 0.5,
    },
}


@pytest.fixture
def three_families() -> None:
    usage_events_record(
        events=[
            UsageEvent(
                request_id=f"{provider}-{mode}",
                timestamp=NOW - timedelta(hours=2),
                provider=provider,
                model=model,
                mode=mode,  # type: ignore[arg-type]
                **tokens,
            )
            for provider, (model, calls) in CALLS.items()
            for mode, tokens in calls.items()
        ]
    )


SUMMARY = "/api/savings/summary"


@pytest.mark.parametrize("provider", BILLS)
def test_the_summary_gives_each_providers_bill_split_by_mechanism(
    staff_client: Client, three_families: None, provider: str
) -> None:
    bill = BILLS[provider]
    figures = staff_client.get(SUMMARY, {"period": "24h", "provider": provider}).json()
    assert figures["events"] == 4
    assert figures["batch_events"] == 2
    for name in ("cost", "baseline_cost", "cache_read_saved", "cache_write_premium"):
        assert Decimal(figures[name]) == bill[name], name
    assert Decimal(figures["batch_discount"]) == bill["batch_discount"]
    assert figures["cache_hit_rate"] == pytest.approx(bill["cache_hit_rate"])
    # The mechanisms add up to the saving, nothing left unattributed.
    assert Decimal(figures["saved"]) == bill["baseline_cost"] - bill["cost"]
    assert Decimal(figures["unattributed"]) == 0


def test_the_headline_adds_the_three_families_up(three_families: None) -> None:
    summary = savings_summary(filters=Filters.of(NOW - timedelta(days=1), NOW))
    # 5.4375 + 3.75 + 1.26 spent of 9.50 + 8 + 2.20.
    assert summary.cost == Decimal("10.4475")
    assert summary.baseline_cost == Decimal("19.7")
    assert summary.cache_read_saved == Decimal("5.79")  # 2.25 + 3 + 0.54
    assert summary.batch_discount == Decimal("3.4625")  # 1.8125 + 1.25 + 0.40
    assert summary.saved == summary.cache_read_saved + summary.batch_discount


def _row(page: str, provider: str) -> dict[str, str]:
    row = re.search(rf'<tr data-provider="{provider}"[^>]*>(.*?)</tr>', page, re.DOTALL)
    assert row is not None, provider
    return dict(re.findall(r'data-cell="([a-z-]+)">([^<]*)<', row.group(1)))


def test_the_breakdown_table_shows_each_provider_by_mechanism(
    staff_client: Client, three_families: None
) -> None:
    page = staff_client.get("/savings/", {"period": "24h"}).content.decode()
    # Shown at two decimals (every figure here is above a dollar for some column), each row
    # with its own precision; a minus sign (U+2212) marks what lowered spend.
    assert _row(page, "openAI") == {
        "cost": "$5.44",
        "baseline": "$9.50",
        "saved": "$4.06",
        "cache-read-saved": "−$2.25",
        "cache-write-premium": "−$0.00",
        "batch-discount": "−$1.81",
        "hit-rate": "45.5%",
    }
    assert _row(page, "gemini")["batch-discount"] == "−$0.40"
    assert _row(page, "gemini")["cache-read-saved"] == "−$0.54"
    assert _row(page, "azureOpenAI")["cost"] == "$3.75"


def test_the_breakdown_csv_carries_each_mechanism_per_provider(
    staff_client: Client, three_families: None
) -> None:
    body = b"".join(
        staff_client.get("/savings/export/breakdown.csv", {"period": "24h"}).streaming_content
    )
    rows = {row["provider"]: row for row in csv.DictReader(io.StringIO(body.decode()))}
    for provider, bill in BILLS.items():
        row = rows[provider]
        assert Decimal(row["spend_usd"]) == bill["cost"]
        assert Decimal(row["cache_read_saved_usd"]) == bill["cache_read_saved"]
        assert Decimal(row["batch_discount_usd"]) == bill["batch_discount"]
    # Token columns are the ledger's token kinds.
    assert int(rows["gemini"]["cache_read_tokens"]) == 2 * M


def test_the_what_if_panel_prices_gemini_batch_and_cache_as_gemini_bills_them(
    three_families: None,
) -> None:
    projection = what_if_projection(days=1, provider="gemini")
    (row,) = projection.rows
    # 4 calls a day -> 120 a month, each 1M in (half of it read from the cache) / 100k out.
    assert (row.requests, row.input_tokens, row.output_tokens) == (120, M, 100_000)
    assert row.hit_rate == Decimal("0.5")
    # Baseline: 120M x $0.30 + 12M x $2.50 = 36 + 30.
    assert row.baseline == Decimal("66")
    # Caching: 60M missed (written as plain input) x $0.30 = 18, 60M cached x $0.03 = 1.8, + 30.
    assert row.caching == Decimal("49.8")
    # Batching: 120M x $0.15 = 18, 12M x $1.25 = 15.
    assert row.batching == Decimal("33")
    # Both: 60M x $0.15 = 9, 60M cached still x $0.03 = 1.8 (not halved), + 15.
    assert row.both == Decimal("25.8")


def test_the_what_if_panel_halves_openai_cached_input_in_a_batch(three_families: None) -> None:
    (row,) = what_if_projection(days=1, provider="azureOpenAI").rows
    # 120 requests of 1M in, none out, half read from the cache: 60M x $2 = 120 written,
    # 60M x $0.50 = 30 read; in a batch both halve: 60 + 15.
    assert (row.caching, row.both) == (Decimal("150"), Decimal("75"))
