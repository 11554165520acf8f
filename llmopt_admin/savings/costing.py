"""An event's cost, baseline and saving split by mechanism, all from `optimization.pricing`.

Policy (documented in the README's savings section and the ingest API's docs):

- A model the price table knows is always priced here, with the price valid at the event's
  timestamp (prices are versioned by effective date, so old events keep their old cost). The
  caller's own `cost`, when it differs, is kept in `reported_cost` so a disagreement is visible
  (admin filter "cost mismatch"), but the dashboard uses the price table's figure.
- A model the table does not know keeps the cost and baseline the caller reported
  (`cost_source="reported"`); its saving cannot be split by mechanism and shows as unattributed.
  An ingest event for such a model without a cost is rejected rather than recorded as free.

This module adds no price or formula of its own: every figure is a `cost_of` result or a
difference of two of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from llmopt_admin.savings.models import BATCH_MODES, COST_PLACES
from optimization.pricing import ModelPrice, PriceNotFound, TokenUsage, cost_of, price_for

_QUANTUM = Decimal(1).scaleb(-COST_PLACES)
ZERO = Decimal(0)


def quantize(value: Decimal) -> Decimal:
    """Round to the ledger's precision (10 decimal places)."""
    return value.quantize(_QUANTUM)


@dataclass(frozen=True)
class EventCosts:
    cost: Decimal
    baseline_cost: Decimal
    cache_read_saved: Decimal
    cache_write_premium: Decimal
    batch_discount: Decimal


def usage_of(
    *, input_tokens: int, cache_write_5m: int, cache_write_1h: int, cache_read: int, output: int
) -> TokenUsage:
    return TokenUsage(
        input_tokens=input_tokens,
        cache_write_5m_tokens=cache_write_5m,
        cache_write_1h_tokens=cache_write_1h,
        cache_read_tokens=cache_read,
        output_tokens=output,
    )


def price_event(*, usage: TokenUsage, model: str, mode: str, at: datetime) -> EventCosts:
    """Price one call with the table valid at `at`. Raises PriceNotFound for unknown models."""
    # The result depends only on the tokens, the mode and the price version in force, so
    # repetitive traffic (the same shared prefix, seeding) is priced once per distinct call.
    # The price version is part of the key, so a registered or reloaded price is picked up.
    price = _price_version(model, at)
    key = (usage, model, mode in BATCH_MODES, price)
    costs = _cache.get(key)
    if costs is None:
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        costs = _cache[key] = _price(usage, model, key[2], at)
    return costs


_CACHE_LIMIT = 200_000
_VERSION_TTL = 60.0  # seconds; a price registered at run time applies within a minute
_versions: dict[tuple[str, date], tuple[ModelPrice, float]] = {}


def _price_version(model: str, at: datetime) -> ModelPrice:
    # Price versions change on dates; looking one up is the slow part of pricing an event.
    key = (model, at.astimezone(UTC).date())
    found = _versions.get(key)
    now = time.monotonic()
    if found is not None and found[1] > now:
        return found[0]
    if len(_versions) >= _CACHE_LIMIT:
        _versions.clear()
    price = price_for(model, at=at)
    _versions[key] = (price, now + _VERSION_TTL)
    return price


_cache: dict[tuple[TokenUsage, str, bool, ModelPrice], EventCosts] = {}


def _price(usage: TokenUsage, model: str, batch: bool, at: datetime) -> EventCosts:
    charged = cost_of(usage, model, batch=batch, at=at)
    standard = cost_of(usage, model, batch=False, at=at) if batch else charged
    read_saved = write_premium = ZERO
    if usage.cache_read_tokens:
        # cost_of's baseline prices the same tokens as plain input: the difference is the saving.
        reads = cost_of(TokenUsage(cache_read_tokens=usage.cache_read_tokens), model, at=at)
        read_saved = reads.baseline - reads.cost
    if usage.cache_write_5m_tokens or usage.cache_write_1h_tokens:
        writes = cost_of(
            TokenUsage(
                cache_write_5m_tokens=usage.cache_write_5m_tokens,
                cache_write_1h_tokens=usage.cache_write_1h_tokens,
            ),
            model,
            at=at,
        )
        write_premium = writes.cost - writes.baseline
    return EventCosts(
        cost=quantize(charged.cost),
        baseline_cost=quantize(charged.baseline),
        cache_read_saved=quantize(read_saved),
        cache_write_premium=quantize(write_premium),
        batch_discount=quantize(standard.cost - charged.cost) if batch else ZERO,
    )


__all__ = ["ZERO", "EventCosts", "PriceNotFound", "price_event", "quantize", "usage_of"]
