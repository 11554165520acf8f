"""Explicit context cache storage (Gemini cachedContents) in the ledger: billed per million
tokens per hour, carried by an event as token-hours, counted as a cost of caching."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from llmopt_admin.savings.models import HourlyRollup, LedgerEvent
from llmopt_admin.savings.selectors import Filters, savings_summary
from llmopt_admin.savings.validation import check_event, check_event_fast
from optimization.pricing import TokenUsage
from optimization.telemetry import cache_storage_event_for, usage_event_for
from tests.llmopt_admin.savings.conftest import NOW, event_json

pytestmark = pytest.mark.django_db
URL = "/api/usage/events"


def post(token: str, events: list[dict[str, Any]]) -> Any:
    return (
        Client()
        .post(
            URL,
            data=json.dumps({"events": events}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        .json()
    )


def gemini_event(number: int, **overrides: Any) -> dict[str, Any]:
    """A gemini-2.5-flash event with no tokens but those in `overrides`."""
    tokens = {"input_tokens": 0, "cache_read_tokens": 0, "output_tokens": 0}
    return event_json(number, provider="gemini", model="gemini-2.5-flash", **tokens | overrides)


def test_a_call_that_buys_cache_storage_pays_it_on_top_of_its_tokens(staff_token: str) -> None:
    # Creating a 100,000-token cache for 2 h on gemini-2.5-flash: the tokens are plain input
    # (100,000 x $0.30/M = $0.03) and 200,000 token-hours of storage at $1.00/M/h = $0.20.
    created = gemini_event(1, input_tokens=100_000, cache_storage_token_hours="200000")
    assert post(staff_token, [created]) == {"accepted": 1, "duplicates": 0, "rejected": []}
    row = LedgerEvent.objects.get(request_id="req-1")
    assert row.cost == Decimal("0.23")
    assert row.baseline_cost == Decimal("0.03")  # no cache, no storage without llmopt
    assert row.cache_write_premium == Decimal("0.2")  # storage is a cost of caching
    assert row.cache_storage_token_hours == Decimal("200000")
    rollup = HourlyRollup.objects.get(provider="gemini")
    assert (rollup.cost, rollup.cache_write_premium) == (Decimal("0.23"), Decimal("0.2"))


def test_the_dashboard_nets_storage_against_what_the_cache_reads_saved(staff_token: str) -> None:
    events = [
        # $0.20 of storage bought by a call with no tokens of its own (a TTL extension).
        gemini_event(1, cache_storage_token_hours=200_000),
        # Ten calls reading the 100,000 cached tokens: each saves 100,000 x ($0.30 - $0.03)/M
        # = $0.027 against plain input.
        *(gemini_event(10 + n, cache_read_tokens=100_000) for n in range(10)),
    ]
    assert post(staff_token, events)["accepted"] == 11
    summary = savings_summary(filters=Filters.of(NOW - timedelta(days=3), NOW + timedelta(hours=1)))
    assert summary.cache_read_saved == Decimal("0.27")
    assert summary.cache_write_premium == Decimal("0.2")
    # Saved: $0.27 - $0.20 = $0.07, what pricing.explicit_cache_saving predicts for this use.
    assert summary.saved == Decimal("0.07")
    assert summary.unattributed == 0


def test_storage_on_a_model_without_a_storage_price_is_refused_naming_the_field(
    staff_token: str,
) -> None:
    bad = event_json(2, provider="openAI", model="gpt-5", cache_storage_token_hours="10")
    response = post(staff_token, [bad, event_json(3)])
    assert response["accepted"] == 1
    (rejected,) = response["rejected"]
    assert rejected["index"] == 0
    assert (
        "no cache storage price is known for 'gpt-5'"
        in (rejected["errors"]["cache_storage_token_hours"])
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "must not be negative"),
        ("lots", "is not a decimal number"),
        (True, "must be a decimal number"),
        ("NaN", "must be a finite number"),
    ],
)
def test_bad_token_hours_are_named_by_the_full_check(value: Any, message: str) -> None:
    raw = gemini_event(4, cache_storage_token_hours=value)
    assert check_event_fast(raw, latest=NOW.replace(year=NOW.year + 1)) is None
    errors = check_event(raw)
    assert isinstance(errors, dict)
    assert message in errors["cache_storage_token_hours"]


def test_the_recorders_event_carries_the_storage_and_its_cost() -> None:
    event = usage_event_for(
        provider="gemini",
        model="gemini-2.5-pro",
        mode="cached",
        usage=TokenUsage(input_tokens=40_000),
        cache_storage_token_hours=40_000,
        at=NOW,
    )
    # 40,000 x $1.25/M = $0.05 of input plus 40,000 token-hours x $4.50/M/h = $0.18.
    assert (event.cost, event.baseline_cost) == (Decimal("0.23"), Decimal("0.05"))
    assert event.to_json()["cache_storage_token_hours"] == "40000"
    extension = cache_storage_event_for(
        provider="gemini", model="gemini-2.5-pro", token_hours=Decimal("20000"), at=NOW
    )
    assert (extension.mode, extension.cost, extension.baseline_cost) == (
        "cached",
        Decimal("0.09"),
        Decimal(0),
    )
    # An event without storage keeps the JSON it always had.
    assert (
        "cache_storage_token_hours"
        not in usage_event_for(
            provider="gemini", model="gemini-2.5-pro", mode="standard", usage=TokenUsage()
        ).to_json()
    )
    checked = check_event(extension.to_json())
    assert not isinstance(checked, dict)
    assert checked.event == extension
