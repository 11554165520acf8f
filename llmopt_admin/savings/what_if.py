"""The "what if" panel: last N days of traffic projected to a month, priced four ways.

Each provider/model's traffic becomes `monthly_cost(requests, input_tokens, output_tokens, ...)`
(per-request averages, requests scaled to a 30-day month), so the Phase 1 plan's Appendix D is
the same computation with its own numbers (1M requests, 2,000 in / 500 out, 90% hits, write
premium not counted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from llmopt_admin.savings.selectors import Filters, ceil_hour, traffic_by_model
from optimization.pricing import PriceNotFound, monthly_cost

MONTH_DAYS = 30
DEFAULT_HIT_RATE = Decimal("0.9")  # Appendix D's assumption when traffic has no cache reads yet


@dataclass(frozen=True)
class ModelProjection:
    provider: str
    model: str
    requests: int
    input_tokens: int  # per request
    output_tokens: int  # per request
    hit_rate: Decimal
    hit_rate_observed: bool
    baseline: Decimal
    caching: Decimal
    batching: Decimal
    both: Decimal


@dataclass
class Projection:
    days: int
    count_write_premium: bool
    rows: list[ModelProjection] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)

    def total(self, name: str) -> Decimal:
        return sum((getattr(row, name) for row in self.rows), Decimal(0))

    @property
    def totals(self) -> dict[str, Decimal]:
        return {name: self.total(name) for name in ("baseline", "caching", "batching", "both")}


def what_if_projection(
    *,
    days: int,
    provider: str | None = None,
    model: str | None = None,
    hit_rate: Decimal | None = None,
    count_write_premium: bool = True,
) -> Projection:
    """Project the last `days` days to a month with no optimization, caching only, batching
    only and both. The hit rate is the share of input tokens read from the cache: the observed
    one per model unless `hit_rate` is given (or 90% for models with no cache reads yet)."""
    end = ceil_hour(timezone.now())
    filters = Filters.of(end - timedelta(days=days), end, provider, model)
    projection = Projection(days=days, count_write_premium=count_write_premium)
    for traffic in traffic_by_model(filters=filters):
        if not traffic.events:
            continue
        requests = round(traffic.events * MONTH_DAYS / days)
        per_in = round(traffic.input_tokens / traffic.events)
        per_out = round(traffic.output_tokens / traffic.events)
        observed = (
            Decimal(traffic.cache_read_tokens) / Decimal(traffic.input_tokens)
            if traffic.input_tokens
            else Decimal(0)
        )
        rate = hit_rate if hit_rate is not None else (observed or DEFAULT_HIT_RATE)
        rate = min(max(rate, Decimal(0)), Decimal(1)).quantize(Decimal("0.0001"))

        plan = {
            "requests": requests,
            "input_tokens": per_in,
            "output_tokens": per_out,
            "model": traffic.model,
            "count_write_premium": count_write_premium,
        }

        def price(
            cache: bool, batch: bool, plan: dict[str, Any] = plan, rate: Decimal = rate
        ) -> Decimal:
            return monthly_cost(**plan, cache_hit_rate=rate if cache else 0, batch=batch).total

        try:
            row = ModelProjection(
                provider=traffic.provider,
                model=traffic.model,
                requests=requests,
                input_tokens=per_in,
                output_tokens=per_out,
                hit_rate=rate,
                hit_rate_observed=hit_rate is None and observed > 0,
                baseline=price(False, False),
                caching=price(True, False),
                batching=price(False, True),
                both=price(True, True),
            )
        except PriceNotFound:
            projection.unpriced.append(f"{traffic.provider}/{traffic.model}")
            continue
        projection.rows.append(row)
    return projection
