"""An event's cost, baseline and saving split by mechanism, all from `optimization.pricing`.

Policy (documented in the README's savings section and the ingest API's docs):

- A model the price table knows is always priced here, with the price valid at the event's
  timestamp (prices are versioned by effective date, so old events keep their old cost). The
  caller's own `cost`, when it differs, is kept in `reported_cost` so a disagreement is visible
  (admin filter "cost mismatch"), but the dashboard uses the price table's figure.
- A model the table does not know keeps the cost and baseline the caller reported
  (`cost_source="reported"`); its saving cannot be split by mechanism and shows as unattributed.
  An ingest event for such a model without a cost is rejected rather than recorded as free.

This module adds no price or formula of its own. At one price tier `cost_of` is linear in the
token counts (`pricing.cost_at_price`), so each tier's per-kind rates are read off it once (a
million tokens of each kind, with and without the batch discount) and each event is then the
tier its prompt falls in (`ModelPrice.for_prompt`) and a few exact Decimal products: the same
numbers `cost_of` gives, at a fraction of the work per event. The batch rates are the provider's
Batch column (`ModelPrice.batch_price`), so an event's batch discount is exactly what that
column took off its list-price cost: every kind on Anthropic and OpenAI, input, writes and output
but not cached tokens on Gemini.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache

from llmopt_admin.savings.models import COST_PLACES
from optimization.capabilities import ProviderCapabilities
from optimization.pricing import (
    TOKEN_FIELDS,
    ModelPrice,
    PriceNotFound,
    TokenCounts,
    TokenUsage,
    cost_at_price,
    price_for,
)

_QUANTUM = Decimal(1).scaleb(-COST_PLACES)
_UNITS_PER_USD = 10**COST_PLACES
ZERO = Decimal(0)
_MILLION = 1_000_000
MoneyUnits = tuple[int, int, int, int, int]  # in ledger units, in MONEY_FIELDS order


def quantize(value: Decimal) -> Decimal:
    """Round to the ledger's precision (10 decimal places)."""
    return value.quantize(_QUANTUM)


@dataclass(slots=True)
class EventCosts:
    cost: Decimal
    baseline_cost: Decimal
    cache_read_saved: Decimal
    cache_write_premium: Decimal
    batch_discount: Decimal


@dataclass(frozen=True)
class Rates:
    """USD per million tokens of each kind (TOKEN_KINDS order) under one price tier."""

    standard: tuple[Decimal, ...]  # what cost_of charges without the batch discount
    batched: tuple[Decimal, ...]  # what cost_of charges with it
    baseline: tuple[Decimal, ...]  # cost_of's baseline: input kinds at plain input price
    # The same three in ledger units (1e-10 USD) per token, when every rate is a whole number of
    # them (list prices with at most 4 decimals per million): each figure is then an exact int.
    units: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None = None
    tier: ModelPrice | None = None  # the price these rates were read off
    long_context: Rates | None = None  # the rates of `tier.long_context`, if it has one

    @classmethod
    def of(cls, price: ModelPrice) -> Rates:
        """The rates of `price`, and of its long-context tier when it has one."""
        standard, batched, baseline = [], [], []
        for name in TOKEN_FIELDS:
            unit = TokenUsage(**{name: _MILLION})
            plain = cost_at_price(unit, price)
            standard.append(plain.cost)
            baseline.append(plain.baseline)
            batched.append(cost_at_price(unit, price, batch=True).cost)
        return cls(
            tuple(standard),
            tuple(batched),
            tuple(baseline),
            _whole_units(standard, batched, baseline),
            price,
            cls.of(price.long_context) if price.long_context is not None else None,
        )

    def for_prompt(self, tokens: TokenCounts) -> Rates:
        """The rates of the tier a call with these tokens falls in."""
        if self.long_context is None or self.tier is None:
            return self
        prompt = tokens[0] + tokens[1] + tokens[2] + tokens[3]
        return self.long_context if self.tier.for_prompt(prompt) is not self.tier else self

    def price_units(self, tokens: TokenCounts, *, batch: bool) -> MoneyUnits | None:
        """`price`'s five figures (cost, baseline, cache read saved, cache write premium, batch
        discount) as exact ints of ledger units; None when the rates are not whole units."""
        if self.units is None:
            return None
        s, c, b = self.units
        i, w5, w1, r, o = tokens
        standard = i * s[0] + w5 * s[1] + w1 * s[2] + r * s[3] + o * s[4]
        charged = i * c[0] + w5 * c[1] + w1 * c[2] + r * c[3] + o * c[4] if batch else standard
        return (
            charged,
            i * b[0] + w5 * b[1] + w1 * b[2] + r * b[3] + o * b[4],
            r * (b[3] - s[3]),
            w5 * (s[1] - b[1]) + w1 * (s[2] - b[2]),
            standard - charged,
        )

    def price(self, tokens: TokenCounts, *, batch: bool) -> EventCosts:
        """The event's figures; exactly what the cost_of-based definitions give."""
        i, w5, w1, r, o = tokens
        s, b = self.standard, self.baseline
        standard = i * s[0] + w5 * s[1] + w1 * s[2] + r * s[3] + o * s[4]
        if batch:
            c = self.batched
            charged = i * c[0] + w5 * c[1] + w1 * c[2] + r * c[3] + o * c[4]
        else:
            charged = standard
        baseline = i * b[0] + w5 * b[1] + w1 * b[2] + r * b[3] + o * b[4]
        # Priced at list (non-batch) prices, like cost_of's baseline of the same tokens.
        read_saved = r * (b[3] - s[3]) if r else ZERO
        premium = w5 * (s[1] - b[1]) + w1 * (s[2] - b[2]) if w5 or w1 else ZERO
        return EventCosts(
            cost=quantize(charged.scaleb(-6)),
            baseline_cost=quantize(baseline.scaleb(-6)),
            cache_read_saved=quantize(read_saved.scaleb(-6)),
            cache_write_premium=quantize(premium.scaleb(-6)),
            batch_discount=quantize((standard - charged).scaleb(-6)) if batch else ZERO,
        )


def _whole_units(
    *per_million: list[Decimal],
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None:
    scaled = [[rate.scaleb(COST_PLACES - 6) for rate in rates] for rates in per_million]
    if any(unit != unit.to_integral_value() for rates in scaled for unit in rates):
        return None
    standard, batched, baseline = (tuple(int(unit) for unit in rates) for rates in scaled)
    return standard, batched, baseline


def units_text(units: int) -> str:
    """Ledger units (1e-10 USD) as the decimal text of USD, e.g. 12345 -> "0.0000012345"."""
    if units == 0:  # most events have no cache write premium, batch discount or read saving
        return "0"
    whole, fraction = divmod(abs(units), _UNITS_PER_USD)
    return f"{'-' if units < 0 else ''}{whole}.{fraction:0{COST_PLACES}d}"


_VERSION_TTL = 60.0  # seconds; a price registered at run time applies within a minute
_CACHE_LIMIT = 10_000
_rates: dict[tuple[str, date], tuple[Rates, float]] = {}


def rates_for(model: str, at: datetime) -> Rates:
    """The rates of `model`'s price version in force on `at`'s UTC day (cached for a minute).

    Its base tier: `Rates.for_prompt` gives the tier of a given call. Raises PriceNotFound for a
    model the price table does not know.
    """
    key = (model, at.astimezone(UTC).date())
    found = _rates.get(key)
    now = time.monotonic()
    if found is not None and found[1] > now:
        return found[0]
    if len(_rates) >= _CACHE_LIMIT:
        _rates.clear()
    rates = Rates.of(price_for(model, at=at))
    _rates[key] = (rates, now + _VERSION_TTL)
    return rates


@lru_cache(maxsize=4096)
def cache_kind(provider: str, model: str) -> str | None:
    """ "explicit", "automatic" or None (no prompt caching) for a provider's model.

    Cached: `detect` logs a warning for unknown models, once per model is enough.
    """
    capabilities = ProviderCapabilities.detect(provider, model)
    return capabilities.cache_marker_type if capabilities.supports_caching else None


def cacheable_input(kind: str | None, tokens: TokenCounts) -> int:
    """Input tokens that could have been read from the cache (the hit rate's denominator).

    Explicit-marker providers (Anthropic-style): what went through a breakpoint, i.e. cache
    reads and cache writes. Automatic providers (OpenAI, Gemini): every input token, since a
    miss is plain input there. Providers without prompt caching: none.
    """
    if kind is None:
        return 0
    uncached, write_5m, write_1h, read, _ = tokens
    if kind == "explicit":
        return read + write_5m + write_1h
    return read + uncached + write_5m + write_1h


__all__ = [
    "ZERO",
    "EventCosts",
    "MoneyUnits",
    "PriceNotFound",
    "Rates",
    "cache_kind",
    "cacheable_input",
    "quantize",
    "rates_for",
    "units_text",
]
