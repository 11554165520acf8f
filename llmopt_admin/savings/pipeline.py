"""The usage ledger's ingest up to the write: check each event, price it, make its ledger row.

Every event takes this path, whether it arrives as the ingest API's JSON or is made in-process
(a batch job's results), and whatever the database: only the write differs (ledger_write.py).

Money in a row is in whole ledger units (1e-10 USD, the ledger's ten decimal places): a usual
event is priced in exact integer arithmetic (`Rates.price_units`), with no Decimal objects made,
and rows add up exactly into rollups.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from llmopt_admin.savings.costing import (
    EventCosts,
    MoneyUnits,
    PriceNotFound,
    Rates,
    cache_kind,
    cacheable_input,
    quantize,
    rates_for,
)
from llmopt_admin.savings.models import COST_PLACES, CostSource
from llmopt_admin.savings.validation import (
    FUTURE_SLACK,
    STORAGE_FIELD,
    CheckedEvent,
    check_event,
    check_event_fast,
)
from optimization.pricing import NoStoragePrice, TokenCounts, cache_storage_cost
from optimization.telemetry import BATCH_MODES, UsageEvent


class LedgerRow(NamedTuple):
    """One ledger row: LEDGER_COLUMNS but `received_at` (the writer's), in that order, with the
    token counts and the money grouped."""

    request_id: str
    timestamp: datetime
    provider: str
    model: str
    mode: str
    config_entry: str  # "" when none
    batch_id: str  # "" when none
    tokens: TokenCounts
    cacheable_input_tokens: int
    money: MoneyUnits
    cache_storage_token_hours: Decimal  # explicit cache storage bought; its cost is in `money`
    cost_source: str
    reported: int | None  # the caller's cost in ledger units, kept when it differs from ours

    @property
    def costs(self) -> EventCosts:
        """`money` in USD."""
        return EventCosts(*(usd(units) for units in self.money))

    @property
    def reported_cost(self) -> Decimal | None:
        return None if self.reported is None else usd(self.reported)


def usd(units: int) -> Decimal:
    """Ledger units as USD, exactly."""
    return Decimal(units).scaleb(-COST_PLACES)


def _units(amount: Decimal) -> int:
    return int(quantize(amount).scaleb(COST_PLACES))


_PRICE_TABLE = str(CostSource.PRICE_TABLE.value)
_REPORTED = str(CostSource.REPORTED.value)


class Pricer:
    """Makes the ledger rows of checked events (see costing.py for the policy).

    One per ingest: it looks each model's rates up once per UTC day, and each model's cache
    kind once, however many events share them.
    """

    def __init__(self) -> None:
        self._rates: dict[tuple[str, date], Rates | None] = {}
        self._kinds: dict[tuple[str, str], str | None] = {}

    def row(self, event: CheckedEvent) -> LedgerRow:
        """Raises PriceNotFound when the price table does not know the model and the caller
        gave no cost to fall back on, NoStoragePrice when the event bought explicit cache
        storage on a model whose price has no storage rate."""
        (
            request_id, timestamp, provider, model, mode, config_entry, batch_id,
            tokens, cost, baseline, cost_given, storage,
        ) = event  # fmt: skip
        day = (timestamp if timestamp.tzinfo is UTC else timestamp.astimezone(UTC)).date()
        try:
            rates = self._rates[model, day]
        except KeyError:
            rates = self._rates[model, day] = _rates_or_none(model, timestamp)
        try:
            kind = self._kinds[provider, model]
        except KeyError:
            kind = self._kinds[provider, model] = cache_kind(provider, model)
        if rates is None:
            if not cost_given:
                raise PriceNotFound(model)
            money: MoneyUnits | None = (_units(cost), _units(baseline), 0, 0, 0)
            source, reported = _REPORTED, None
        else:
            tier = rates.for_prompt(tokens)
            batch = mode in BATCH_MODES
            money = tier.price_units(tokens, batch=batch)
            if money is None:  # a rate finer than a ledger unit a token: Decimal, then rounded
                costs = tier.price(tokens, batch=batch)
                money = (
                    _units(costs.cost),
                    _units(costs.baseline_cost),
                    _units(costs.cache_read_saved),
                    _units(costs.cache_write_premium),
                    _units(costs.batch_discount),
                )
            if storage:
                money = _with_storage(money, model, storage, timestamp)
            source = _PRICE_TABLE
            reported = _units(cost) if cost_given else None
            if reported == money[0]:
                reported = None
        return LedgerRow(
            request_id,
            timestamp,
            provider,
            model,
            mode,
            config_entry or "",
            batch_id or "",
            tokens,
            cacheable_input(kind, tokens),
            money,
            storage,
            source,
            reported,
        )


def _with_storage(money: MoneyUnits, model: str, token_hours: Decimal, at: datetime) -> MoneyUnits:
    """`money` with the storage of `token_hours` (`pricing.cache_storage_cost`) added to the
    cost and to the cache write premium, the other cost of caching beyond plain input (storage
    has no baseline). Raises NoStoragePrice when the model's price has no storage rate."""
    storage = _units(cache_storage_cost(model, token_hours=token_hours, at=at))
    cost, baseline, read_saved, premium, batch_discount = money
    return (cost + storage, baseline, read_saved, premium + storage, batch_discount)


def _rates_or_none(model: str, at: datetime) -> Rates | None:
    try:
        return rates_for(model, at)
    except PriceNotFound:
        return None


def event_price(event: UsageEvent, *, cost_given: bool = True) -> LedgerRow:
    """The ledger row of one event made in-process. Raises PriceNotFound when its model is
    unknown to the price table and `cost_given` is false."""
    return Pricer().row(CheckedEvent.of(event, cost_given=cost_given))


def rows_of_events(events: Iterable[UsageEvent]) -> Iterator[LedgerRow]:
    """The rows of events made in-process, made as they are read; a model unknown to the price
    table keeps the cost its event carries."""
    row = Pricer().row
    of = CheckedEvent.of
    return (row(of(event)) for event in events)


class PricedEvents(NamedTuple):
    """The ingest API's events, checked and priced."""

    rows: list[LedgerRow]  # one per valid event, repeated request ids included
    rejected: list[dict[str, Any]]  # {"index", "request_id", "errors": {field: message}}


def rows_of_json(items: Sequence[Any], *, now: datetime) -> PricedEvents:
    """Check and price the ingest API's events one by one; never raises on bad input."""
    latest = now + FUTURE_SLACK
    price = Pricer().row
    rows: list[LedgerRow] = []
    rejected: list[dict[str, Any]] = []
    for index, raw in enumerate(items):
        checked = check_event_fast(raw, latest=latest)
        if checked is None:  # something unusual: the check that names each problem decides
            full = check_event(raw, now=now)
            if isinstance(full, dict):
                request_id = raw.get("request_id") if isinstance(raw, dict) else None
                rejected.append(
                    {"index": index, "request_id": _printable(request_id), "errors": full}
                )
                continue
            checked = full
        try:
            rows.append(price(checked))
        except NoStoragePrice:
            rejected.append(
                {
                    "index": index,
                    "request_id": checked.request_id,
                    "errors": {
                        STORAGE_FIELD: f"no cache storage price is known for {checked.model!r}; "
                        "add cache_storage_per_hour to its row in the price table "
                        "(LLMOPT_PRICES_FILE)"
                    },
                }
            )
        except PriceNotFound:
            rejected.append(
                {
                    "index": index,
                    "request_id": checked.request_id,
                    "errors": {
                        "model": f"no price is known for {checked.model!r}; send the call's cost "
                        "and baseline_cost (non-zero decimal USD strings) with the event, or add "
                        "the model to the price table (LLMOPT_PRICES_FILE)"
                    },
                }
            )
    return PricedEvents(rows, rejected)


def first_of_each(rows: Iterable[LedgerRow]) -> list[LedgerRow]:
    """The first row of each request id, in request id order: the order writers take the
    ledger's unique index locks in, so two concurrent ingests cannot deadlock."""
    unique: dict[str, LedgerRow] = {}
    for row in rows:
        unique.setdefault(row.request_id, row)
    return [unique[key] for key in sorted(unique)]


def _printable(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


__all__ = [
    "LedgerRow",
    "MoneyUnits",
    "PricedEvents",
    "Pricer",
    "event_price",
    "first_of_each",
    "rows_of_events",
    "rows_of_json",
    "usd",
]
