"""Usage events: one per LLM call, with tokens by kind, cost and its unoptimized baseline.

The event's JSON form is the body of the admin's `POST /api/usage/events` ingest API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

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
