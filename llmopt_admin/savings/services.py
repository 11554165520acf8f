"""Writing the usage ledger and keeping its hourly rollups in step.

Inserts and rollup increments happen in one transaction, and only for events actually inserted
(a repeated `request_id` is a duplicate, counted and skipped). Both statements are plain
`INSERT … ON CONFLICT`, so concurrent ingests are safe on PostgreSQL: the ledger's unique index
decides which writer owns a request id, and rollup rows are incremented in the database
(`col = col + excluded.col`), never read-modify-written in Python. Rows are written in a fixed
order (request id, then rollup key) so two writers cannot deadlock each other.

On PostgreSQL the ingest API's events go from their JSON straight to COPY lines (see
`_ingest_postgresql`): a 5,000-event body costs ~90 ms of Python; the rest is PostgreSQL's
insert with its four ledger indexes and the two rollup upserts (~200 ms).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from llmopt_admin.savings.costing import (
    ZERO,
    EventCosts,
    PriceNotFound,
    Rates,
    cache_kind,
    cacheable_input,
    quantize,
    rates_for,
    units_text,
)
from llmopt_admin.savings.models import (
    BATCH_MODES,
    COST_PLACES,
    SUM_FIELDS,
    CostSource,
    DailyRollup,
    HourlyRollup,
    LedgerEvent,
)
from llmopt_admin.savings.validation import (
    FUTURE_SLACK,
    CheckedFields,
    check_event,
    check_event_fast,
)
from optimization.telemetry import UsageEvent

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 5_000
_INSERT_CHUNK = 2_000  # 2,000 rows x 21 columns stays under PostgreSQL's 65,535 parameters

_EVENT_COLUMNS = (
    "request_id",
    "timestamp",
    "provider",
    "model",
    "mode",
    "config_entry",
    "batch_id",
    *SUM_FIELDS,
    "cost_source",
    "reported_cost",
    "received_at",
)


@dataclass(slots=True)
class PricedEvent:
    """An event ready for the ledger: its costs come from the price table or the caller."""

    event: UsageEvent
    costs: EventCosts
    cost_source: str
    reported_cost: Decimal | None
    cacheable_input_tokens: int

    @property
    def hour(self) -> datetime:
        return self.event.timestamp.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def _tokens(event: UsageEvent) -> tuple[int, int, int, int, int]:
    return (
        event.input_tokens,
        event.cache_write_5m_tokens,
        event.cache_write_1h_tokens,
        event.cache_read_tokens,
        event.output_tokens,
    )


def event_price(event: UsageEvent, *, cost_given: bool = True) -> PricedEvent:
    """Price `event` (see costing.py for the policy). Raises PriceNotFound when the model is
    unknown to the price table and the caller gave no cost to fall back on."""
    tokens = _tokens(event)
    cacheable = cacheable_input(cache_kind(event.provider, event.model), tokens)
    try:
        rates = rates_for(event.model, event.timestamp)
    except PriceNotFound:
        if not cost_given:
            raise
        costs = EventCosts(
            cost=quantize(event.cost),
            baseline_cost=quantize(event.baseline_cost),
            cache_read_saved=ZERO,
            cache_write_premium=ZERO,
            batch_discount=ZERO,
        )
        return PricedEvent(event, costs, CostSource.REPORTED, None, cacheable)
    costs = rates.for_prompt(tokens).price(tokens, batch=event.mode in BATCH_MODES)
    reported = quantize(event.cost) if cost_given else None
    if reported is not None and reported == costs.cost:
        reported = None
    return PricedEvent(event, costs, CostSource.PRICE_TABLE, reported, cacheable)


def usage_events_record(*, events: Sequence[UsageEvent]) -> IngestResult:
    """Record events produced in-process (the admin's batch jobs); same rules as the ingest API.

    Events of models unknown to the price table keep the cost they carry.
    """
    return _record([event_price(event) for event in events], IngestResult())


def usage_events_ingest(*, items: Sequence[Any]) -> IngestResult:
    """Validate raw JSON events one by one and record the valid ones; never raises on bad input."""
    if connection.vendor == "postgresql":
        return _ingest_postgresql(items)
    result = IngestResult()
    priced: list[PricedEvent] = []
    now = timezone.now()
    for index, raw in enumerate(items):
        checked = check_event(raw, now=now)
        if isinstance(checked, dict):
            request_id = raw.get("request_id") if isinstance(raw, dict) else None
            result.rejected.append(
                {"index": index, "request_id": _printable(request_id), "errors": checked}
            )
            continue
        try:
            priced.append(event_price(checked.event, cost_given=checked.cost_given))
        except PriceNotFound:
            result.rejected.append(
                {
                    "index": index,
                    "request_id": checked.event.request_id,
                    "errors": {
                        "model": f"no price is known for {checked.event.model!r}; send the "
                        "call's cost and baseline_cost (non-zero decimal USD strings) with the "
                        "event, or add the model to the price table (LLMOPT_PRICES_FILE)"
                    },
                }
            )
    return _record(priced, result)


def _unpriced(index: int, request_id: str, model: str) -> dict[str, Any]:
    return {
        "index": index,
        "request_id": request_id,
        "errors": {
            "model": f"no price is known for {model!r}; send the call's cost and baseline_cost "
            "(non-zero decimal USD strings) with the event, or add the model to the price table "
            "(LLMOPT_PRICES_FILE)"
        },
    }


def _fields_of(event: UsageEvent, cost_given: bool) -> CheckedFields:
    return (
        event.request_id,
        event.timestamp,
        event.provider,
        event.model,
        event.mode,
        event.config_entry,
        event.batch_id,
        *_tokens(event),
        event.cost,
        event.baseline_cost,
        cost_given,
    )


def _ingest_postgresql(items: Sequence[Any]) -> IngestResult:
    """usage_events_ingest on PostgreSQL: each event goes straight from its JSON to a COPY line.

    Same rules and messages as the general path (check_event, event_price, _copy_line); well-
    formed events of priced models skip the per-field messages, the UsageEvent/PricedEvent
    objects and Decimal arithmetic (exact integer ledger units instead).
    """
    result = IngestResult()
    now = timezone.now()
    latest = now + FUTURE_SLACK
    stamp = datetime.now(UTC).isoformat()
    lines: dict[str, str] = {}  # request id -> COPY line; the first of a repeated id wins
    received = mismatches = 0
    rates: dict[tuple[str, date], Rates | None] = {}
    kinds: dict[tuple[str, str], str | None] = {}
    texts: dict[tuple[str, str, str, str | None, str | None], str] = {}
    for index, raw in enumerate(items):
        fields = check_event_fast(raw, latest=latest)
        if fields is None:
            checked = check_event(raw, now=now)
            if isinstance(checked, dict):
                request_id = raw.get("request_id") if isinstance(raw, dict) else None
                result.rejected.append(
                    {"index": index, "request_id": _printable(request_id), "errors": checked}
                )
                continue
            fields = _fields_of(checked.event, checked.cost_given)
        (request_id, timestamp, provider, model, mode, config_entry, batch_id) = fields[:7]
        tokens = fields[7:12]
        cost, baseline, cost_given = fields[12:]
        day = (timestamp if timestamp.tzinfo is UTC else timestamp.astimezone(UTC)).date()
        if (model, day) not in rates:
            try:
                rates[model, day] = rates_for(model, timestamp)
            except PriceNotFound:
                rates[model, day] = None
        found = rates[model, day]
        if found is not None:
            found = found.for_prompt(tokens)
        units = None if found is None else found.price_units(tokens, batch=mode in BATCH_MODES)
        if found is None and not cost_given:
            result.rejected.append(_unpriced(index, request_id, model))
            continue
        received += 1
        kind = kinds.get((provider, model), _UNKNOWN)
        if kind is _UNKNOWN:
            kind = kinds[provider, model] = cache_kind(provider, model)
        if units is None:  # an unpriced model, or rates not in whole ledger units: the general path
            event = UsageEvent(
                request_id, timestamp, provider, model, mode,  # type: ignore[arg-type]
                *tokens, cost, baseline, config_entry, batch_id,
            )  # fmt: skip
            priced = event_price(event, cost_given=cost_given)
            line = _copy_line(priced, stamp)
            mismatch = priced.reported_cost is not None
        else:
            reported = quantize(cost) if cost_given else None
            mismatch = reported is not None and reported.scaleb(COST_PLACES) != units[0]
            # provider, model, mode, config entry and batch id repeat: escaped once each.
            key = (provider, model, mode, config_entry, batch_id)
            text = texts.get(key)
            if text is None:
                text = texts[key] = (
                    f"{provider.translate(_COPY_ESCAPES)}\t{model.translate(_COPY_ESCAPES)}\t"
                    f"{mode}\t{(config_entry or '').translate(_COPY_ESCAPES)}\t"
                    f"{(batch_id or '').translate(_COPY_ESCAPES)}"
                )
            line = (
                f"{request_id.translate(_COPY_ESCAPES)}\t{timestamp.isoformat()}\t{text}\t"
                f"{tokens[0]}\t{tokens[1]}\t{tokens[2]}\t{tokens[3]}\t{tokens[4]}\t"
                f"{cacheable_input(kind, tokens)}\t{units_text(units[0])}\t"
                f"{units_text(units[1])}\t{units_text(units[2])}\t{units_text(units[3])}\t"
                f"{units_text(units[4])}\t{_PRICE_TABLE}\t"
                f"{reported if mismatch else _NULL}\t{stamp}"
            )
        if request_id not in lines:
            lines[request_id] = line
            mismatches += mismatch
    accepted = 0
    if lines:
        with transaction.atomic():
            accepted = _write_lines([lines[key] for key in sorted(lines)])
    result.accepted = accepted
    result.duplicates = received - accepted
    if mismatches:
        logger.warning(
            "usage ingest: %d event(s) reported a cost different from the price table's; "
            "stored the price table's cost and kept the reported one in reported_cost",
            mismatches,
        )
    return result


_UNKNOWN = object()
_PRICE_TABLE = str(CostSource.PRICE_TABLE.value)
_NULL = "\\N"  # COPY text format's NULL


def _printable(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


def _record(priced: list[PricedEvent], result: IngestResult) -> IngestResult:
    unique: dict[str, PricedEvent] = {}
    for item in priced:
        unique.setdefault(item.event.request_id, item)
    ordered = [unique[key] for key in sorted(unique)]
    mismatches = sum(1 for item in ordered if item.reported_cost is not None)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            accepted = _record_postgresql(ordered)
        else:
            inserted = _insert_events(ordered)
            fresh = [item for item in ordered if item.event.request_id in inserted]
            _increment_rollups(fresh)
            accepted = len(fresh)
    result.accepted += accepted
    result.duplicates += len(priced) - accepted
    if mismatches:
        logger.warning(
            "usage ingest: %d event(s) reported a cost different from the price table's; "
            "stored the price table's cost and kept the reported one in reported_cost",
            mismatches,
        )
    return result


def _event_row(item: PricedEvent, now: datetime) -> tuple[Any, ...]:
    event, costs = item.event, item.costs
    return (
        event.request_id,
        event.timestamp,
        event.provider,
        event.model,
        event.mode,
        event.config_entry or "",
        event.batch_id or "",
        event.input_tokens,
        event.cache_write_5m_tokens,
        event.cache_write_1h_tokens,
        event.cache_read_tokens,
        event.output_tokens,
        item.cacheable_input_tokens,
        costs.cost,
        costs.baseline_cost,
        costs.cache_read_saved,
        costs.cache_write_premium,
        costs.batch_discount,
        item.cost_source,
        item.reported_cost,
        now,
    )


def _prepare(rows: list[tuple[Any, ...]], model: type[Any], columns: Sequence[str]) -> list[Any]:
    """Flatten rows into query parameters, adapted by the model's fields for the database."""
    fields = [model._meta.get_field(name) for name in columns]
    return [
        f.get_db_prep_save(value, connection)
        for row in rows
        for f, value in zip(fields, row, strict=True)
    ]


_INCOMING = "savings_incoming"
# COPY's text format: these four characters would end a field or a row.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_line(item: PricedEvent, now: str) -> str:
    """One ledger row in COPY text format (tab-separated, \\N for NULL), in _EVENT_COLUMNS order."""
    event, costs = item.event, item.costs
    reported = "\\N" if item.reported_cost is None else item.reported_cost
    # Only caller-supplied text can hold a tab, newline or backslash; mode, cost_source and
    # the numbers cannot.
    return (
        f"{event.request_id.translate(_COPY_ESCAPES)}\t{event.timestamp.isoformat()}\t"
        f"{event.provider.translate(_COPY_ESCAPES)}\t{event.model.translate(_COPY_ESCAPES)}\t"
        f"{event.mode}\t{(event.config_entry or '').translate(_COPY_ESCAPES)}\t"
        f"{(event.batch_id or '').translate(_COPY_ESCAPES)}\t"
        f"{event.input_tokens}\t{event.cache_write_5m_tokens}\t{event.cache_write_1h_tokens}\t"
        f"{event.cache_read_tokens}\t{event.output_tokens}\t{item.cacheable_input_tokens}\t"
        f"{costs.cost}\t{costs.baseline_cost}\t{costs.cache_read_saved}\t"
        f"{costs.cache_write_premium}\t{costs.batch_discount}\t{item.cost_source}\t"
        f"{reported}\t{now}"
    )


def _stage(cursor: Any, lines: list[str]) -> None:
    """COPY ledger rows into `savings_incoming`, a temp table private to this session."""
    qn = connection.ops.quote_name
    columns = ", ".join(qn(name) for name in _EVENT_COLUMNS)
    # Created once per database session; emptied at each commit and before each use (callers
    # may run several loads inside one outer transaction).
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_INCOMING} ON COMMIT DELETE ROWS AS "  # noqa: S608  # nosec B608 - our quoted names
        f"SELECT {columns} FROM {qn(LedgerEvent._meta.db_table)} WITH NO DATA"
    )
    cursor.execute(f"DELETE FROM {_INCOMING}")  # noqa: S608  # nosec B608 - constant name
    with cursor.cursor.copy(f"COPY {_INCOMING} ({columns}) FROM STDIN") as copy:
        copy.write("\n".join(lines) + "\n")


def _insert_staged() -> str:
    """INSERT the staged rows that are new; a CTE body returning every inserted row.

    Rows go in request id order, so concurrent writers take the unique index's locks in the
    same order; a request id another transaction is inserting waits for it, then is skipped.
    """
    qn = connection.ops.quote_name
    columns = ", ".join(qn(name) for name in _EVENT_COLUMNS)
    return (
        f"INSERT INTO {qn(LedgerEvent._meta.db_table)} ({columns}) "  # noqa: S608  # nosec B608 - our quoted names
        f"SELECT {columns} FROM {_INCOMING} ORDER BY {qn('request_id')} "
        f"ON CONFLICT ({qn('request_id')}) DO NOTHING RETURNING {columns}"
    )


def _rollup_upsert(model: type[Any], bucket: str, source: str) -> str:
    """INSERT … ON CONFLICT DO UPDATE adding `source`'s rows, grouped by `bucket` and key."""
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    key = (bucket, "provider", "model", "mode")
    counted = ("events", *SUM_FIELDS)
    updates = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in counted)
    sums = ", ".join(f"SUM({qn(c)})" for c in SUM_FIELDS)
    return (
        f"INSERT INTO {table} ({', '.join(qn(c) for c in (*key, *counted))}) "  # noqa: S608  # nosec B608 - our quoted names
        f"SELECT {_BUCKETS[bucket]}, {qn('provider')}, {qn('model')}, {qn('mode')}, "
        f"COUNT(*), {sums} FROM {source} GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 "
        f"ON CONFLICT ({', '.join(qn(c) for c in key)}) DO UPDATE SET {updates}"
    )


# PostgreSQL expressions of each rollup's time bucket (UTC) from the event's timestamp.
_BUCKETS = {
    "hour": "date_trunc('hour', \"timestamp\", 'UTC')",
    "day": "(\"timestamp\" AT TIME ZONE 'UTC')::date",
}


def _record_postgresql(items: list[PricedEvent]) -> int:
    """Insert the new events and add them to the rollups in one statement; returns how many
    were new. Duplicates (already in the ledger) never reach the rollups."""
    if not items:
        return 0
    stamp = datetime.now(UTC).isoformat()
    return _write_lines([_copy_line(item, stamp) for item in items])


def _write_lines(lines: list[str]) -> int:
    """COPY ledger lines (in request id order) and insert the new ones with their rollups."""
    with connection.cursor() as cursor:
        _stage(cursor, lines)
        cursor.execute(
            f"WITH inserted AS ({_insert_staged()}), "  # noqa: S608  # nosec B608 - our quoted names
            f"hourly AS ({_rollup_upsert(HourlyRollup, 'hour', 'inserted')}), "
            f"daily AS ({_rollup_upsert(DailyRollup, 'day', 'inserted')}) "
            "SELECT COUNT(*) FROM inserted"
        )
        return int(cursor.fetchone()[0])


def _insert_events(items: list[PricedEvent]) -> set[str]:
    """INSERT … ON CONFLICT (request_id) DO NOTHING (databases other than PostgreSQL, e.g.
    SQLite for `make run`); returns the request ids really inserted."""
    if not items:
        return set()
    now = datetime.now(UTC)
    qn = connection.ops.quote_name
    table = qn(LedgerEvent._meta.db_table)
    columns = ", ".join(qn(name) for name in _EVENT_COLUMNS)
    placeholder = "(" + ", ".join(["%s"] * len(_EVENT_COLUMNS)) + ")"
    found: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(items), _INSERT_CHUNK):
            chunk = [_event_row(item, now) for item in items[start : start + _INSERT_CHUNK]]
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608  # nosec B608 - our quoted names
                + ", ".join([placeholder] * len(chunk))
                + f" ON CONFLICT ({qn('request_id')}) DO NOTHING RETURNING {qn('request_id')}"
            )
            cursor.execute(sql, _prepare(chunk, LedgerEvent, _EVENT_COLUMNS))
            found.update(row[0] for row in cursor.fetchall())
    return found


def _increment_rollups(items: Iterable[PricedEvent]) -> None:
    """Add events to the hourly and daily rollups (databases other than PostgreSQL)."""
    hourly: dict[tuple[Any, ...], list[Any]] = {}
    for item in items:
        event, costs = item.event, item.costs
        key = (item.hour, event.provider, event.model, event.mode)
        values = (
            1,
            *_tokens(event),
            item.cacheable_input_tokens,
            costs.cost,
            costs.baseline_cost,
            costs.cache_read_saved,
            costs.cache_write_premium,
            costs.batch_discount,
        )
        row = hourly.get(key)
        hourly[key] = (
            list(values) if row is None else [a + b for a, b in zip(row, values, strict=True)]
        )
    daily: dict[tuple[Any, ...], list[Any]] = {}
    for (hour, *rest), values in hourly.items():
        key = (hour.date(), *rest)
        row = daily.get(key)
        daily[key] = (
            list(values) if row is None else [a + b for a, b in zip(row, values, strict=True)]
        )
    _add_totals(HourlyRollup, "hour", hourly)
    _add_totals(DailyRollup, "day", daily)


def _add_totals(model: type[Any], bucket: str, totals: dict[tuple[Any, ...], list[Any]]) -> None:
    if not totals:
        return
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    key = (bucket, "provider", "model", "mode")
    counted = ("events", *SUM_FIELDS)
    all_columns = (*key, *counted)
    placeholder = "(" + ", ".join(["%s"] * len(all_columns)) + ")"
    updates = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in counted)
    rows = [(*k, *totals[k]) for k in sorted(totals)]  # a fixed order: no deadlocks
    conflict = f" ON CONFLICT ({', '.join(qn(c) for c in key)}) DO UPDATE SET {updates}"  # nosec B608 - our quoted names
    names = ", ".join(qn(c) for c in all_columns)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            sql = (
                f"INSERT INTO {table} ({names}) VALUES "  # noqa: S608  # nosec B608 - our quoted names
                + ", ".join([placeholder] * len(chunk))
                + conflict
            )
            cursor.execute(sql, _prepare(chunk, model, all_columns))


def rollups_rebuild() -> int:
    """Recompute every rollup from the raw ledger (hourly from the events, daily from the
    hourly rows); returns the number of hourly rows.

    Runs in one transaction; on PostgreSQL it locks out concurrent ingests (SHARE lock on the
    ledger) for its duration, so no event can be counted twice or missed.
    """
    hourly = (
        LedgerEvent.objects.annotate(bucket=TruncHour("timestamp", tzinfo=UTC))
        .values("bucket", "provider", "model", "mode")
        .annotate(n_events=Count("id"), **{f"s_{name}": Sum(name) for name in SUM_FIELDS})
        .order_by()
    )
    daily = (
        HourlyRollup.objects.annotate(bucket=TruncDate("hour", tzinfo=UTC))
        .values("bucket", "provider", "model", "mode")
        .annotate(n_events=Sum("events"), **{f"s_{name}": Sum(name) for name in SUM_FIELDS})
        .order_by()
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            qn = connection.ops.quote_name
            cursor.execute(f"LOCK TABLE {qn(LedgerEvent._meta.db_table)} IN SHARE MODE")
        _refill(cursor, HourlyRollup, "hour", hourly)
        _refill(cursor, DailyRollup, "day", daily)
    return HourlyRollup.objects.count()


def _refill(cursor: Any, model: type[Any], bucket: str, grouped: Any) -> None:
    """Replace every row of a rollup table with `grouped` (bucket, key, n_events, s_<sum>...)."""
    model.objects.all().delete()
    select_sql, params = grouped.query.sql_with_params()
    qn = connection.ops.quote_name
    target = ", ".join(qn(c) for c in (bucket, "provider", "model", "mode", "events", *SUM_FIELDS))
    source = ", ".join(
        qn(c) for c in ("bucket", "provider", "model", "mode", "n_events")
    ) + "".join(f", {qn('s_' + name)}" for name in SUM_FIELDS)
    cursor.execute(
        f"INSERT INTO {qn(model._meta.db_table)} ({target}) "  # noqa: S608  # nosec B608 - our quoted names
        f"SELECT {source} FROM ({select_sql}) AS grouped",
        params,
    )


def _insert_staged_rows(cursor: Any, lines: list[str]) -> int:
    _stage(cursor, lines)
    cursor.execute(f"WITH inserted AS ({_insert_staged()}) SELECT COUNT(*) FROM inserted")  # noqa: S608  # nosec B608 - our quoted names
    return int(cursor.fetchone()[0])


def ledger_bulk_load(*, events: Iterable[UsageEvent], chunk: int = 50_000) -> int:
    """Load many events fast (seeding, imports); returns how many were new.

    On PostgreSQL: COPY into a temporary table, then one INSERT … ON CONFLICT DO NOTHING into
    the ledger, then a full rollup rebuild (cheaper than per-row increments at this size).
    Elsewhere: the ingest path in chunks. Either way duplicates are skipped, not errors.
    """
    if connection.vendor != "postgresql":
        total = 0
        batch: list[PricedEvent] = []
        for event in events:
            batch.append(event_price(event))
            if len(batch) >= _INSERT_CHUNK:
                total += _record(batch, IngestResult()).accepted
                batch = []
        return total + _record(batch, IngestResult()).accepted

    stamp = datetime.now(UTC).isoformat()
    inserted = 0
    pending: list[str] = []
    with transaction.atomic(), connection.cursor() as cursor:
        for event in events:
            pending.append(_copy_line(event_price(event), stamp))
            if len(pending) >= chunk:
                inserted += _insert_staged_rows(cursor, pending)
                pending = []
        if pending:
            inserted += _insert_staged_rows(cursor, pending)
        rollups_rebuild()
    return inserted
