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
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from optimization.pricing import TokenUsage

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
            "input_tokens": self.input_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "output_tokens": self.output_tokens,
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


def token_usage_from_metadata(usage_metadata: Mapping[str, Any] | None) -> TokenUsage:
    """Tokens by kind from a LangChain `usage_metadata` (as ChatAnthropic fills it).

    LangChain's `input_tokens` includes cache reads and writes; the uncached remainder is
    what is left after subtracting them. Missing details count as zero.
    """
    from optimization.pricing import TokenUsage

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

    A model without a price gets cost and baseline 0 and one logged warning per model, so
    telemetry never breaks a call.
    """
    # Imported here so importing the event type never depends on the price table.
    from optimization.pricing import PriceNotFound, cost_of

    timestamp = at or datetime.now(UTC)
    cost = baseline = Decimal(0)
    try:
        priced = cost_of(usage, model, batch=mode in ("batch", "batch+cache"), at=timestamp)
    except PriceNotFound:
        if model not in _unpriced_models:
            _unpriced_models.add(model)
            logger.warning("no price for model %r: its usage events record cost 0", model)
    else:
        cost, baseline = priced.cost, priced.baseline
    return UsageEvent(
        request_id=request_id or uuid.uuid4().hex,
        timestamp=timestamp,
        provider=provider,
        model=model,
        mode=mode,
        input_tokens=usage.input_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        output_tokens=usage.output_tokens,
        cost=cost,
        baseline_cost=baseline,
        config_entry=config_entry,
        batch_id=batch_id,
    )
