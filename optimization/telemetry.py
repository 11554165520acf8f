"""Usage events: one per LLM call, with tokens by kind, cost and its unoptimized baseline.

The event's JSON form is the body of the admin's `POST /api/usage/events` ingest API.

Explicit context caches (Gemini `cachedContents`) also cost storage, which is no token count:
an event carries it as `cache_storage_token_hours` (cached tokens x hours of TTL bought), priced
with `pricing.cache_storage_cost` into its cost and not its baseline (without llmopt there is no
cache to store). The call that creates a cache carries the TTL it bought; a TTL extension is an
event of its own with no tokens (`cache_storage_event_for`). The ledger counts storage as a cost
of caching, beside the cache write premium.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from optimization.pricing import (
    CallCost,
    NoStoragePrice,
    PriceNotFound,
    TokenUsage,
    cache_storage_cost,
    cost_of,
    token_counts,
    token_fields,
)

logger = logging.getLogger(__name__)

Mode = Literal["standard", "cached", "batch", "batch+cache", "fallback"]
MODES: tuple[Mode, ...] = ("standard", "cached", "batch", "batch+cache", "fallback")
BATCH_MODES: tuple[Mode, ...] = ("batch", "batch+cache")  # billed at the batch price


@dataclass(frozen=True)
class UsageEvent:
    """What one LLM call used and cost. `request_id` makes ingest idempotent."""

    request_id: str
    timestamp: datetime
    provider: str
    model: str
    mode: Mode
    input_tokens: int = 0  # uncached input
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    baseline_cost: Decimal = Decimal(0)
    config_entry: str | None = None  # e.g. "ai_models_config/llm/0"
    batch_id: str | None = None
    cache_storage_token_hours: Decimal = Decimal(0)  # explicit cache tokens x hours stored

    def to_json(self) -> dict[str, Any]:
        """The ingest API's JSON shape (timestamp ISO 8601, money as decimal strings);
        `cache_storage_token_hours` only when there is some."""
        storage = (
            {"cache_storage_token_hours": str(self.cache_storage_token_hours)}
            if self.cache_storage_token_hours
            else {}
        )
        return {
            "request_id": self.request_id,
            "timestamp": self.timestamp.isoformat(),
            "provider": self.provider,
            "model": self.model,
            "mode": self.mode,
            **token_fields(token_counts(self)),
            "cost": str(self.cost),
            "baseline_cost": str(self.baseline_cost),
            "config_entry": self.config_entry,
            "batch_id": self.batch_id,
            **storage,
        }


class UsageRecorder(Protocol):
    """Receives one event per call. Must return at once and never raise into the call."""

    def record(self, event: UsageEvent) -> None: ...


# --- building events from LangChain usage (added by the wrapper; additive) -------------------

_unpriced_models: set[str] = set()


def cost_if_priced(
    usage: TokenUsage, model: str, *, batch: bool, at: datetime | None
) -> CallCost | None:
    """`pricing.cost_of`, or None for a model the price table does not know: logged once per
    model and process, so neither a call nor a batch's results ever fail for want of a price."""
    try:
        return cost_of(usage, model, batch=batch, at=at)
    except PriceNotFound:
        if model not in _unpriced_models:
            _unpriced_models.add(model)
            logger.warning(
                "no price for model %r: its calls are recorded without a cost; add it with "
                "pricing.register_price() or the LLMOPT_PRICES_FILE file",
                model,
            )
        return None


def token_usage_from_metadata(usage_metadata: Mapping[str, Any] | None) -> TokenUsage:
    """Tokens by kind from a LangChain `usage_metadata` (as ChatAnthropic fills it).

    LangChain's `input_tokens` includes cache reads and writes; the uncached remainder is
    what is left after subtracting them. Missing details count as zero.
    """
    if not usage_metadata:
        return TokenUsage()
    details: Mapping[str, Any] = usage_metadata.get("input_token_details") or {}
    read = int(details.get("cache_read") or 0)
    write_5m = int(details.get("ephemeral_5m_input_tokens") or 0)
    write_1h = int(details.get("ephemeral_1h_input_tokens") or 0)
    if not write_5m and not write_1h:
        # Without the TTL split Anthropic reports writes as one figure; 5 min is its default.
        write_5m = int(details.get("cache_creation") or 0)
    total_input = int(usage_metadata.get("input_tokens") or 0)
    return TokenUsage(
        input_tokens=max(total_input - read - write_5m - write_1h, 0),
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        cache_read_tokens=read,
        output_tokens=int(usage_metadata.get("output_tokens") or 0),
    )


def usage_event_for(
    *,
    provider: str,
    model: str,
    mode: Mode,
    usage: TokenUsage,
    batch_id: str | None = None,
    config_entry: str | None = None,
    request_id: str | None = None,
    at: datetime | None = None,
    cache_storage_token_hours: Decimal | int = 0,
) -> UsageEvent:
    """The usage event of one call, priced with `pricing.cost_of` (and, for the explicit cache
    storage it bought, `pricing.cache_storage_cost`).

    A model without a price gets cost and baseline 0 (see `cost_if_priced`).
    """
    timestamp = at or datetime.now(UTC)
    priced = cost_if_priced(usage, model, batch=mode in BATCH_MODES, at=timestamp)
    storage = Decimal(cache_storage_token_hours)
    if priced is not None and storage:
        priced = CallCost(
            cost=priced.cost + _storage_cost(model, storage, timestamp), baseline=priced.baseline
        )
    return UsageEvent(
        request_id=request_id or uuid.uuid4().hex,
        timestamp=timestamp,
        provider=provider,
        model=model,
        mode=mode,
        **vars(usage),
        cost=Decimal(0) if priced is None else priced.cost,
        baseline_cost=Decimal(0) if priced is None else priced.baseline,
        config_entry=config_entry,
        batch_id=batch_id,
        cache_storage_token_hours=storage,
    )


def cache_storage_event_for(
    *,
    provider: str,
    model: str,
    token_hours: Decimal | int,
    config_entry: str | None = None,
    request_id: str | None = None,
    at: datetime | None = None,
) -> UsageEvent:
    """The usage event of explicit cache storage bought outside a call (a TTL extension):
    no tokens, mode "cached", cost the storage, baseline 0."""
    return usage_event_for(
        provider=provider,
        model=model,
        mode="cached",
        usage=TokenUsage(),
        config_entry=config_entry,
        request_id=request_id,
        at=at,
        cache_storage_token_hours=token_hours,
    )


def _storage_cost(model: str, token_hours: Decimal, at: datetime) -> Decimal:
    """`pricing.cache_storage_cost`, or 0 (logged once per model) when the model's row has no
    storage price: the event still records the token-hours for the ledger to judge."""
    try:
        return cache_storage_cost(model, token_hours=token_hours, at=at)
    except NoStoragePrice:
        if model not in _unpriced_storage:
            _unpriced_storage.add(model)
            logger.warning(
                "no cache storage price for model %r: its storage is recorded without a cost; "
                "add cache_storage_per_hour to its row in the LLMOPT_PRICES_FILE file",
                model,
            )
        return Decimal(0)


_unpriced_storage: set[str] = set()
