"""The ingest's one shape: the token kinds and the ledger's columns named once, and each event
priced into the same ledger row whichever way it arrives."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import models

from llmopt_admin.batches.models import BatchJobRequest
from llmopt_admin.savings.ledger_write import rollup_columns
from llmopt_admin.savings.models import (
    LEDGER_COLUMNS,
    MONEY_FIELDS,
    DailyRollup,
    HourlyRollup,
    LedgerEvent,
)
from llmopt_admin.savings.pipeline import LedgerRow, event_price, first_of_each, rows_of_json
from optimization.pricing import TOKEN_FIELDS, TOKEN_KINDS, ModelPrice, TokenUsage
from optimization.telemetry import UsageEvent
from tests.llmopt_admin.savings.conftest import event_json

AT = datetime(2026, 1, 15, 10, tzinfo=UTC)


def _columns(model: type[models.Model]) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if f.column != "id"]


def test_each_token_kind_has_a_price_and_a_count_named_alike_in_every_type_and_table() -> None:
    assert set(TOKEN_KINDS) <= {f.name for f in fields(ModelPrice)}
    # TokenUsage holds the counts and nothing else: `**vars(usage)` passes them on by name.
    assert tuple(f.name for f in fields(TokenUsage)) == TOKEN_FIELDS
    names = [f.name for f in fields(UsageEvent)]
    start = names.index(TOKEN_FIELDS[0])
    assert tuple(names[start : start + len(TOKEN_FIELDS)]) == TOKEN_FIELDS
    for model in (LedgerEvent, HourlyRollup, DailyRollup, BatchJobRequest):
        assert set(TOKEN_FIELDS) <= set(_columns(model)), model


def test_the_ledger_columns_are_the_ledgers_and_a_ledger_row_holds_them_in_that_order() -> None:
    assert sorted(LEDGER_COLUMNS) == sorted(_columns(LedgerEvent))
    groups = {"tokens": TOKEN_FIELDS, "money": MONEY_FIELDS, "reported": ("reported_cost",)}
    flat = [column for name in LedgerRow._fields for column in groups.get(name, (name,))]
    assert (*flat, "received_at") == LEDGER_COLUMNS
    for bucket, model in (("hour", HourlyRollup), ("day", DailyRollup)):
        assert sorted(rollup_columns(bucket)) == sorted(_columns(model))


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "in-house-1"])
def test_an_event_makes_the_same_row_sent_as_json_or_made_in_process(model: str) -> None:
    raw = event_json(
        4, model=model, mode="batch+cache", cache_write_1h_tokens=2_000, cost="0.5",
        baseline_cost="0.9", batch_id="msgbatch_1",
    )  # fmt: skip
    [from_json] = rows_of_json([raw], now=datetime.now(UTC)).rows
    made = UsageEvent(
        request_id=raw["request_id"],
        timestamp=datetime.fromisoformat(raw["timestamp"]),
        provider=raw["provider"],
        model=model,
        mode="batch+cache",
        **{name: raw[name] for name in TOKEN_FIELDS},
        cost=Decimal("0.5"),
        baseline_cost=Decimal("0.9"),
        batch_id="msgbatch_1",
    )
    assert from_json == event_price(made)


def test_money_is_kept_in_exact_ledger_units_and_read_back_in_usd() -> None:
    row = event_price(
        UsageEvent(
            request_id="r",
            timestamp=AT,
            provider="anthropic",
            model="claude-sonnet-4-5",
            mode="cached",
            input_tokens=1_000,
            cache_read_tokens=6_000,
            output_tokens=500,
            cost=Decimal("0.5"),
        )
    )
    assert row.money[0] == 123_000_000  # $0.0123 in units of 1e-10 USD
    assert row.costs.cost == Decimal("0.0123")
    assert (row.reported, row.reported_cost) == (5_000_000_000, Decimal("0.5"))


@pytest.mark.parametrize("order", [["b", "a", "b"], ["a", "b", "a"]])
def test_the_first_row_of_a_repeated_request_id_is_kept_and_rows_go_in_request_id_order(
    order: list[str],
) -> None:
    rows = [
        event_price(
            UsageEvent(
                request_id=key,
                timestamp=AT,
                provider="anthropic",
                model="claude-sonnet-4-5",
                mode="standard",
                input_tokens=100 + number,
            )
        )
        for number, key in enumerate(order)
    ]
    assert first_of_each(rows) == sorted(rows[:2], key=lambda row: row.request_id)
