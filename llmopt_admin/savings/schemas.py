"""The savings API's In/Out schemas, as its OpenAPI description publishes them.

The ingest body is read by the endpoint itself (a size limit that holds for chunked bodies too)
and each event is checked by savings.validation, which reports a bad event by index in a 200
rather than refusing its neighbours: `UsageEventIn` documents what a valid event is.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from ninja import Field, Schema
from pydantic import create_model

from llmopt_admin.savings.models import LedgerEvent
from llmopt_admin.savings.selectors import PRESETS
from llmopt_admin.savings.services import MAX_EVENTS_PER_REQUEST
from llmopt_admin.savings.validation import MAX_COST, MAX_TOKENS
from optimization.pricing import TOKEN_FIELDS
from optimization.telemetry import Mode

__all__ = [
    "IngestOut",
    "IngestRejectedOut",
    "SavingsBreakdownRowOut",
    "SavingsErrorOut",
    "SavingsPointOut",
    "SavingsQuery",
    "SavingsSummaryOut",
    "UsageEventIn",
    "UsageEventsIn",
]


def _max_length(name: str) -> int:
    return LedgerEvent._meta.get_field(name).max_length or 0


class SavingsErrorOut(Schema):
    """What was refused; `errors` maps each bad field or parameter to why."""

    detail: str
    errors: dict[str, str] = {}


class IngestRejectedOut(Schema):
    index: int
    request_id: str | None
    errors: dict[str, str]


class IngestOut(Schema):
    accepted: int
    duplicates: int
    rejected: list[IngestRejectedOut]


def _tokens() -> Any:
    return Field(0, ge=0, le=MAX_TOKENS)


def _money() -> Any:
    return Field(
        None,
        ge=0,
        le=MAX_COST,
        description="USD, a decimal number or a string holding one. Given with baseline_cost, "
        "it counts for models the price table does not know; the table prices the others.",
    )


def _token_counts(field: Any) -> dict[str, Any]:
    """One int field per token kind (TOKEN_FIELDS, in their order), each made by `field()`."""
    return {name: (int, field()) for name in TOKEN_FIELDS}


UsageEventIn = create_model(
    "UsageEventIn",
    __base__=Schema,
    __doc__="One event as `optimization.telemetry.UsageEvent.to_json()` writes it.",
    request_id=(str, Field(min_length=1, max_length=_max_length("request_id"))),
    timestamp=(datetime, Field(description="ISO 8601 with a UTC offset, at most a day ahead.")),
    provider=(str, Field(min_length=1, max_length=_max_length("provider"))),
    model=(str, Field(min_length=1, max_length=_max_length("model"))),
    mode=(Mode, ...),
    **_token_counts(_tokens),
    cost=(Decimal | None, _money()),
    baseline_cost=(Decimal | None, _money()),
    config_entry=(str | None, Field(None, max_length=_max_length("config_entry"))),
    batch_id=(str | None, Field(None, max_length=_max_length("batch_id"))),
    cache_storage_token_hours=(
        Decimal | None,
        Field(
            None,
            ge=0,
            le=MAX_TOKENS,
            description="Explicit context cache storage the call bought (Gemini cachedContents): "
            "cached tokens x hours of TTL, a decimal number or a string holding one. Priced "
            "into the cost (not the baseline) at the model's storage price per 1M tokens per "
            "hour; an event for a model with no storage price is rejected.",
        ),
    ),
)


class UsageEventsIn(Schema):
    """Up to 5,000 events; an invalid one is reported by index in `rejected`, the rest count."""

    events: list[UsageEventIn] = Field(max_length=MAX_EVENTS_PER_REQUEST)


class SavingsQuery(Schema):
    """The period (a preset, or start and end) and the provider and model filters."""

    period: str = Field(
        "",
        description="A preset, or custom for start/end; empty or absent: 30d, or custom when "
        "start or end is given.",
        json_schema_extra={"enum": ["", *PRESETS, "custom"]},
    )
    start: str = Field(
        "",
        description="YYYY-MM-DD, or an ISO date-time (UTC if it has no offset); rounded to the "
        "whole UTC hour.",
    )
    end: str = Field(
        "",
        description="YYYY-MM-DD (inclusive), or an ISO date-time (exclusive); default now. At "
        "most 400 days after start.",
    )
    provider: str = Field(
        "", json_schema_extra={"maxLength": _max_length("provider")}, description="Only this one."
    )
    model: str = Field(
        "", json_schema_extra={"maxLength": _max_length("model")}, description="Only this one."
    )


SavingsSummaryOut = create_model(
    "SavingsSummaryOut",
    __base__=Schema,
    start=(datetime, ...),
    end=(datetime, ...),
    period=(str, ...),
    provider=(str | None, ...),
    model=(str | None, ...),
    events=(int, ...),
    batch_events=(int, ...),
    **_token_counts(lambda: ...),
    cacheable_input_tokens=(int, ...),
    cost=(str, ...),
    baseline_cost=(str, ...),
    saved=(str, ...),
    saved_pct=(float | None, ...),
    cache_read_saved=(str, ...),
    cache_write_premium=(str, ...),
    batch_discount=(str, ...),
    unattributed=(str, ...),
    cache_hit_rate=(float | None, ...),
    batch_share=(float | None, ...),
    definitions=(dict[str, str], ...),
)


class SavingsBreakdownRowOut(Schema):
    provider: str
    model: str
    events: int
    cost: str
    baseline_cost: str
    saved: str
    saved_pct: float | None
    cache_hit_rate: float | None
    batch_share: float | None


class SavingsPointOut(Schema):
    start: datetime
    events: int
    cost: str
    baseline_cost: str
    cache_read_saved: str
    cache_write_premium: str
    batch_discount: str
    cache_hit_rate: float | None
