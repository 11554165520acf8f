"""Usage events: one per LLM call, with tokens by kind, cost and its unoptimized baseline.

The event's JSON form is the body of the admin's `POST /api/usage/events` ingest API.
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
    PriceNotFound,
    TokenUsage,
    cost_of,
    token_counts,
    token_fields,
)

logger = logging.getLogger(__name__)

Mode = Literal["standard", "cached", "batch", "batch+cache", "fallback"]
MODES: tuple[Mode, ...] = ("standard", "cached", "batch", "batch+cache", "fallback")


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

    def to_json(self) -> dict[str, Any]:
        """The ingest API's JSON shape (timestamp ISO 8601, money as decimal strings)."""
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
) -> UsageEvent:
    """The usage event of one call, priced with `pricing.cost_of`.

    A model without a price gets cost and baseline 0 (see `cost_if_priced`).
    """
    timestamp = at or datetime.now(UTC)
    priced = cost_if_priced(usage, model, batch=mode in ("batch", "batch+cache"), at=timestamp)
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
    )
