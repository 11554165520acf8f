"""Reads for the savings dashboard and API. Figures come from the hourly rollups only.

Definitions shown on the dashboard (one place, so the page and the API agree):

- spend: what was charged; baseline: the same tokens at plain input/output prices, no caching,
  no batch discount; saved = baseline - spend (negative when cache writes never paid back).
- cache hit rate = cache-read input tokens / cacheable input tokens, where cacheable input is
  the input that went through a cache breakpoint: cache reads + cache writes (5 min and 1 h).
  Uncached input (no breakpoint, or below the model's minimum) is not in the denominator.
- batch share = events sent through a batch API (modes `batch` and `batch+cache`) / all events.

- saving by mechanism: cache reads saved and the cache write premium are priced at list
  (non-batch) prices; the batch discount is then what the batch price took off that list-price
  cost, premium included. Together they add up to `saved` exactly.

Periods are whole UTC hours: a start is rounded down and an end up to the hour, since that is
the rollups' grain.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncHour

from llmopt_admin.savings.models import (
    BATCH_MODES,
    MONEY_FIELDS,
    SUM_FIELDS,
    TOKEN_FIELDS,
    HourlyRollup,
    LedgerEvent,
)

ZERO = Decimal(0)
CENT = Decimal("0.01")
PRESETS: Mapping[str, timedelta] = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
DEFAULT_PRESET = "30d"
HIT_RATE_DEFINITION = (
    "cache-read input tokens ÷ cacheable input tokens (cache reads + cache writes). "
    "Input sent without a cache breakpoint is not counted."
)
BATCH_SHARE_DEFINITION = "calls sent through a batch API (batch, batch+cache) ÷ all calls."


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment.astimezone(UTC) else floored + timedelta(hours=1)


@dataclass(frozen=True)
class Filters:
    """A period [start, end) in whole UTC hours, plus optional provider and model."""

    start: datetime
    end: datetime
    provider: str | None = None
    model: str | None = None

    @classmethod
    def of(
        cls,
        start: datetime,
        end: datetime,
        provider: str | None = None,
        model: str | None = None,
    ) -> Filters:
        return cls(floor_hour(start), ceil_hour(end), provider or None, model or None)

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def _rollups(filters: Filters) -> QuerySet[HourlyRollup]:
    query = HourlyRollup.objects.filter(hour__gte=filters.start, hour__lt=filters.end)
    if filters.provider:
        query = query.filter(provider=filters.provider)
    if filters.model:
        query = query.filter(model=filters.model)
    return query


def _sums() -> dict[str, Any]:
    # Aliases carry a prefix: an aggregate may not share a column's name on a values() query.
    sums: dict[str, Any] = {f"t_{name}": Sum(name) for name in ("events", *SUM_FIELDS)}
    sums["t_batch_events"] = Sum("events", filter=Q(mode__in=BATCH_MODES))
    return sums


@dataclass(frozen=True)
class Figures:
    """Headline figures for a set of rollup rows (the summary, a table row, a chart point)."""

    events: int
    batch_events: int
    input_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_read_tokens: int
    output_tokens: int
    cost: Decimal
    baseline_cost: Decimal
    cache_read_saved: Decimal
    cache_write_premium: Decimal
    batch_discount: Decimal

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Figures:
        values = {
            name: row.get(f"t_{name}") or 0 for name in ("events", "batch_events", *TOKEN_FIELDS)
        }
        money = {name: Decimal(row.get(f"t_{name}") or 0) for name in MONEY_FIELDS}
        return cls(**values, **money)

    @property
    def saved(self) -> Decimal:
        return self.baseline_cost - self.cost

    @property
    def saved_pct(self) -> float | None:
        return float(self.saved / self.baseline_cost * 100) if self.baseline_cost else None

    @property
    def cacheable_input_tokens(self) -> int:
        return self.cache_read_tokens + self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_input_tokens(self) -> int:
        return self.input_tokens + self.cacheable_input_tokens

    @property
    def cache_hit_rate(self) -> float | None:
        cacheable = self.cacheable_input_tokens
        return self.cache_read_tokens / cacheable if cacheable else None

    @property
    def batch_share(self) -> float | None:
        return self.batch_events / self.events if self.events else None

    @property
    def unattributed(self) -> Decimal:
        """Saving not split by mechanism (costs reported by callers for unpriced models)."""
        return self.saved - self.cache_read_saved + self.cache_write_premium - self.batch_discount

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)
        for name in MONEY_FIELDS:
            data[name] = str(data[name])
        data.update(
            saved=str(self.saved),
            saved_pct=self.saved_pct,
            cacheable_input_tokens=self.cacheable_input_tokens,
            cache_hit_rate=self.cache_hit_rate,
            batch_share=self.batch_share,
            unattributed=str(self.unattributed),
        )
        return data


def savings_summary(*, filters: Filters) -> Figures:
    """The headline figures for a period and filters."""
    return Figures.from_row(_rollups(filters).aggregate(**_sums()))


def savings_breakdown(*, filters: Filters) -> list[tuple[str, str, Figures]]:
    """(provider, model, figures) per provider/model, most expensive first."""
    rows = (
        _rollups(filters)
        .values("provider", "model")
        .annotate(**_sums())
        .order_by("-t_cost", "provider", "model")
    )
    return [(row["provider"], row["model"], Figures.from_row(row)) for row in rows]


def savings_timeseries(*, filters: Filters) -> list[tuple[datetime, Figures]]:
    """One point per hour (periods up to 2 days) or per UTC day, gaps included as zeros."""
    hourly = filters.end - filters.start <= timedelta(days=2)
    trunc = TruncHour("hour", tzinfo=UTC) if hourly else TruncDay("hour", tzinfo=UTC)
    rows = (
        _rollups(filters)
        .annotate(bucket=trunc)
        .values("bucket")
        .annotate(**_sums())
        .order_by("bucket")
    )
    found = {row["bucket"]: Figures.from_row(row) for row in rows}
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    first = filters.start if hourly else filters.start.replace(hour=0)
    empty = Figures.from_row({})
    points = []
    moment = first
    while moment < filters.end:
        points.append((moment, found.get(moment, empty)))
        moment += step
    return points


def filter_choices() -> dict[str, list[str]]:
    """Providers and models present in the rollups, and which models each provider has."""
    pairs = HourlyRollup.objects.values_list("provider", "model").distinct().order_by()
    by_provider: dict[str, list[str]] = {}
    for provider, model in pairs:
        by_provider.setdefault(provider, []).append(model)
    return {
        "providers": sorted(by_provider),
        "models": sorted({model for models in by_provider.values() for model in models}),
    }


def ledger_has_data() -> bool:
    return HourlyRollup.objects.exists()


@dataclass(frozen=True)
class ModelTraffic:
    provider: str
    model: str
    events: int
    input_tokens: int  # all input: uncached + cache writes + cache reads
    cache_read_tokens: int
    output_tokens: int


def traffic_by_model(*, filters: Filters) -> list[ModelTraffic]:
    """Token volumes per provider/model in a period, for the what-if projection."""
    rows = (
        _rollups(filters)
        .values("provider", "model")
        .annotate(
            n=Sum("events"),
            all_input=Sum(
                F("input_tokens")
                + F("cache_write_5m_tokens")
                + F("cache_write_1h_tokens")
                + F("cache_read_tokens")
            ),
            read=Sum("cache_read_tokens"),
            out=Sum("output_tokens"),
        )
        .order_by("provider", "model")
    )
    return [
        ModelTraffic(r["provider"], r["model"], r["n"], r["all_input"], r["read"], r["out"])
        for r in rows
    ]


def ledger_events_for_export(*, filters: Filters) -> Iterator[LedgerEvent]:
    """Raw events of a period, oldest first, streamed from the database in chunks."""
    query = LedgerEvent.objects.filter(timestamp__gte=filters.start, timestamp__lt=filters.end)
    if filters.provider:
        query = query.filter(provider=filters.provider)
    if filters.model:
        query = query.filter(model=filters.model)
    return query.order_by("timestamp", "id").iterator(chunk_size=2000)


def ledger_totals(*, filters: Filters) -> dict[str, Any]:
    """Totals straight from the raw ledger (for checks, tests and `rebuild_rollups --check`)."""
    query = LedgerEvent.objects.filter(timestamp__gte=filters.start, timestamp__lt=filters.end)
    if filters.provider:
        query = query.filter(provider=filters.provider)
    if filters.model:
        query = query.filter(model=filters.model)
    sums: dict[str, Any] = {name: Sum(name) for name in SUM_FIELDS}
    return query.aggregate(
        events=Count("id"), batch_events=Count("id", filter=Q(mode__in=BATCH_MODES)), **sums
    )
