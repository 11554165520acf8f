"""Reads for the savings dashboard and API. Figures come from the rollups only: daily rows for
the whole UTC days of a period, hourly rows for the hours at either end.

Definitions shown on the dashboard (one place, so the page and the API agree):

- spend: what was charged; baseline: the same tokens at plain input/output prices, no caching,
  no batch discount; saved = baseline - spend (negative when cache writes never paid back).
- cache hit rate = cache-read input tokens / cacheable input tokens. What is cacheable depends
  on the provider's kind of caching (`ProviderCapabilities.detect`), stored per event at ingest
  (`costing.cacheable_input`): with explicit breakpoints (Anthropic-style), the input that went
  through one (cache reads + cache writes); with automatic caching (OpenAI, Gemini), all input,
  since a miss there is plain input; providers without prompt caching are left out.
- batch share = events sent through a batch API (modes `batch` and `batch+cache`) / all events.

- saving by mechanism: cache reads saved and the cache write premium are priced at list
  (non-batch) prices; the batch discount is then what the provider's batch prices took off that
  list-price cost, premium included (on Gemini cached tokens keep their price in a batch, so
  none of it comes from them). Explicit cache storage counts with the write premium. Together
  they add up to `saved` exactly.

Periods are whole UTC hours: a start is rounded down and an end up to the hour, since that is
the rollups' grain.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from llmopt_admin.savings.models import (
    MONEY_FIELDS,
    SUM_FIELDS,
    DailyRollup,
    HourlyRollup,
    LedgerEvent,
)
from llmopt_admin.savings.synthetic import DEMO_ID_PREFIX
from optimization.pricing import TokenCounts, TokenUsage, token_counts
from optimization.telemetry import BATCH_MODES

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
    "cache-read input tokens ÷ cacheable input tokens. Cacheable: with explicit cache "
    "breakpoints (Anthropic), cache reads + writes; with automatic caching (OpenAI, Gemini), "
    "all input; providers without prompt caching are left out."
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


def _filtered(query: QuerySet[Any], filters: Filters) -> QuerySet[Any]:
    if filters.provider:
        query = query.filter(provider=filters.provider)
    if filters.model:
        query = query.filter(model=filters.model)
    return query


def _parts(filters: Filters) -> tuple[QuerySet[DailyRollup] | None, QuerySet[HourlyRollup] | None]:
    """The rollup rows that cover the period exactly: daily rows for its whole UTC days and
    hourly rows for the hours before the first and after the last whole day (None: no rows)."""
    first_day = ceil_hour(filters.start)
    if first_day.hour:
        first_day = first_day.replace(hour=0) + timedelta(days=1)
    last_day = filters.end.replace(hour=0)
    if first_day >= last_day:
        hourly = HourlyRollup.objects.filter(hour__gte=filters.start, hour__lt=filters.end)
        return None, _filtered(hourly, filters)
    daily = DailyRollup.objects.filter(day__gte=first_day.date(), day__lt=last_day.date())
    edges = Q()
    if filters.start < first_day:
        edges |= Q(hour__gte=filters.start, hour__lt=first_day)
    if last_day < filters.end:
        edges |= Q(hour__gte=last_day, hour__lt=filters.end)
    hourly_edges = _filtered(HourlyRollup.objects.filter(edges), filters) if edges else None
    return _filtered(daily, filters), hourly_edges


def _merged(
    queries: list[QuerySet[Any]], key: tuple[str, ...]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Rows of several grouped queries with the same key, their sums added up."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for query in queries:
        for row in query:
            found = merged.setdefault(tuple(row[k] for k in key), {})
            for name, value in row.items():
                if name.startswith("t_") and value is not None:
                    found[name] = found.get(name, 0) + value
                elif name not in found:
                    found[name] = value
    return merged


def _sums() -> dict[str, Any]:
    # Aliases carry a prefix: an aggregate may not share a column's name on a values() query.
    sums: dict[str, Any] = {f"t_{name}": Sum(name) for name in ("events", *SUM_FIELDS)}
    sums["t_batch_events"] = Sum("events", filter=Q(mode__in=BATCH_MODES))
    return sums


# The summed columns that are counts (tokens by kind, cacheable input), not money.
COUNT_FIELDS = tuple(name for name in SUM_FIELDS if name not in MONEY_FIELDS)


@dataclass(frozen=True)
class Figures:
    """Headline figures for a set of rollup rows (the summary, a table row, a chart point).

    `sums` holds every summed ledger column (`SUM_FIELDS`: the token counts by kind, the
    cacheable input, the money columns), each also readable as an attribute
    (`figures.cache_read_tokens`, `figures.cost`), so a new token kind or money column needs
    no change here.
    """

    events: int
    batch_events: int
    sums: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        # Only for the summed columns; `sums` itself goes through the normal lookup.
        if name in _SUMMED:
            return self.sums[name]
        raise AttributeError(name)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Figures:
        sums: dict[str, Any] = {name: row.get(f"t_{name}") or 0 for name in COUNT_FIELDS}
        sums.update((name, Decimal(row.get(f"t_{name}") or 0)) for name in MONEY_FIELDS)
        return cls(row.get("t_events") or 0, row.get("t_batch_events") or 0, sums)

    def as_row(self) -> dict[str, Any]:
        """The figures as an aggregate row (`t_<column>`), the shape `from_row` reads."""
        row = {f"t_{name}": value for name, value in self.sums.items()}
        row.update(t_events=self.events, t_batch_events=self.batch_events)
        return row

    @property
    def saved(self) -> Decimal:
        return self.baseline_cost - self.cost

    @property
    def saved_pct(self) -> float | None:
        return float(self.saved / self.baseline_cost * 100) if self.baseline_cost else None

    @classmethod
    def total(cls, parts: Iterable[Figures]) -> Figures:
        """The figures of several disjoint sets of rows together."""
        sums: dict[str, Any] = {}
        for part in parts:
            for name, value in part.as_row().items():
                sums[name] = sums.get(name, 0) + value
        return cls.from_row(sums)

    @property
    def token_counts(self) -> TokenCounts:
        """The token counts by kind, in TOKEN_KINDS order."""
        return token_counts(self)

    @property
    def total_input_tokens(self) -> int:
        """Every input token: uncached, cache writes and cache reads."""
        return TokenUsage(*self.token_counts).total_input

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
        data: dict[str, Any] = {"events": self.events, "batch_events": self.batch_events}
        for name, value in self.sums.items():
            data[name] = str(value) if name in MONEY_FIELDS else value
        data.update(
            saved=str(self.saved),
            saved_pct=self.saved_pct,
            cache_hit_rate=self.cache_hit_rate,
            batch_share=self.batch_share,
            unattributed=str(self.unattributed),
        )
        return data


_SUMMED = frozenset(SUM_FIELDS)


def savings_summary(*, filters: Filters) -> Figures:
    """The headline figures for a period and filters."""
    return Figures.total(
        Figures.from_row(q.aggregate(**_sums())) for q in _parts(filters) if q is not None
    )


def savings_breakdown(*, filters: Filters) -> list[tuple[str, str, Figures]]:
    """(provider, model, figures) per provider/model, most expensive first."""
    key = ("provider", "model")
    queries = [
        q.values(*key).annotate(**_sums()).order_by() for q in _parts(filters) if q is not None
    ]
    rows = [(k[0], k[1], Figures.from_row(row)) for k, row in _merged(queries, key).items()]
    rows.sort(key=lambda row: (-row[2].cost, row[0], row[1]))
    return rows


def savings_timeseries(*, filters: Filters) -> list[tuple[datetime, Figures]]:
    """One point per hour (periods up to 2 days) or per UTC day, gaps included as zeros."""
    hourly = filters.end - filters.start <= timedelta(days=2)
    if hourly:
        query = HourlyRollup.objects.filter(hour__gte=filters.start, hour__lt=filters.end)
        grouped = [_filtered(query, filters).values(bucket=F("hour")).annotate(**_sums())]
    else:
        daily, edges = _parts(filters)
        grouped = [] if daily is None else [daily.values(bucket=F("day")).annotate(**_sums())]
        if edges is not None:
            day = TruncDate("hour", tzinfo=UTC)
            grouped.append(edges.annotate(bucket=day).values("bucket").annotate(**_sums()))
    found = {
        _moment(bucket): Figures.from_row(row)
        for (bucket,), row in _merged([q.order_by() for q in grouped], ("bucket",)).items()
    }
    step = timedelta(hours=1) if hourly else timedelta(days=1)
    first = filters.start if hourly else filters.start.replace(hour=0)
    empty = Figures.from_row({})
    points = []
    moment = first
    while moment < filters.end:
        points.append((moment, found.get(moment, empty)))
        moment += step
    return points


def _moment(bucket: date | datetime) -> datetime:
    if isinstance(bucket, datetime):
        return bucket.astimezone(UTC)
    return datetime.combine(bucket, time(), tzinfo=UTC)


def filter_choices() -> dict[str, list[str]]:
    """Providers and models present in the rollups, and which models each provider has.

    Read from the daily rollups: every hourly row has its day there, at 1/24 of the rows.
    """
    pairs = DailyRollup.objects.values_list("provider", "model").distinct().order_by()
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
    return [
        ModelTraffic(
            provider,
            model,
            figures.events,
            figures.total_input_tokens,
            figures.cache_read_tokens,
            figures.output_tokens,
        )
        for provider, model, figures in sorted(savings_breakdown(filters=filters))
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


def demo_history_present() -> bool:
    """Whether the ledger holds `make run`'s synthetic demo history (one indexed lookup: its
    first event's id is fixed)."""
    return LedgerEvent.objects.filter(request_id=f"{DEMO_ID_PREFIX}-0-0").exists()
