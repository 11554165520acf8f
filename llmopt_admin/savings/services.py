"""Writing the usage ledger and keeping its hourly rollups in step.

Inserts and rollup increments happen in one transaction, and only for events actually inserted
(a repeated `request_id` is a duplicate, counted and skipped). Both statements are plain
`INSERT … ON CONFLICT`, so concurrent ingests are safe on PostgreSQL: the ledger's unique index
decides which writer owns a request id, and rollup rows are incremented in the database
(`col = col + excluded.col`), never read-modify-written in Python. Rows are written in a fixed
order (request id, then rollup key) so two writers cannot deadlock each other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour

from llmopt_admin.savings.costing import ZERO, EventCosts, PriceNotFound, price_event, quantize
from llmopt_admin.savings.models import (
    SUM_FIELDS,
    TOKEN_FIELDS,
    CostSource,
    HourlyRollup,
    LedgerEvent,
)
from llmopt_admin.savings.validation import check_event
from optimization.pricing import TokenUsage
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
_KEY = ("hour", "provider", "model", "mode")
_MONEY_TYPES = ("numeric",) * 5
_EVENT_TYPES = (
    *("text", "timestamptz", "text", "text", "text", "text", "text"),
    *("bigint",) * 5,
    *_MONEY_TYPES,
    *("text", "numeric", "timestamptz"),
)
_ROLLUP_TYPES = ("timestamptz", "text", "text", "text", "bigint", *("bigint",) * 5, *_MONEY_TYPES)


def _server_cursor() -> Any:
    """A psycopg cursor with server-side binding on Django's connection (same transaction).

    Django's default client-side binding quotes every array element in Python; sending the
    arrays as parameters is several times faster for thousands of rows.
    """
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def _unnest(types: Sequence[str]) -> str:
    """`unnest(%s::text[], …)`: rows from one array parameter per column (PostgreSQL)."""
    return "unnest(" + ", ".join(f"%s::{kind}[]" for kind in types) + ")"


@dataclass(frozen=True)
class PricedEvent:
    """An event ready for the ledger: its costs come from the price table or the caller."""

    event: UsageEvent
    costs: EventCosts
    cost_source: str
    reported_cost: Decimal | None

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


def event_price(event: UsageEvent, *, cost_given: bool = True) -> PricedEvent:
    """Price `event` (see costing.py for the policy). Raises PriceNotFound when the model is
    unknown to the price table and the caller gave no cost to fall back on."""
    usage = TokenUsage(**{name: getattr(event, name) for name in TOKEN_FIELDS})
    try:
        costs = price_event(usage=usage, model=event.model, mode=event.mode, at=event.timestamp)
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
        return PricedEvent(event, costs, CostSource.REPORTED, None)
    reported = quantize(event.cost) if cost_given else None
    if reported is not None and reported == costs.cost:
        reported = None
    return PricedEvent(event, costs, CostSource.PRICE_TABLE, reported)


def usage_events_record(*, events: Sequence[UsageEvent]) -> IngestResult:
    """Record events produced in-process (the admin's batch jobs); same rules as the ingest API.

    Events of models unknown to the price table keep the cost they carry.
    """
    return _record([event_price(event) for event in events], IngestResult())


def usage_events_ingest(*, items: Sequence[Any]) -> IngestResult:
    """Validate raw JSON events one by one and record the valid ones; never raises on bad input."""
    result = IngestResult()
    priced: list[PricedEvent] = []
    for index, raw in enumerate(items):
        checked = check_event(raw)
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
                        "model": f"no price is known for {checked.event.model!r}; send cost "
                        "and baseline_cost with the event, or add the model to the price table"
                    },
                }
            )
    return _record(priced, result)


def _printable(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


def _record(priced: list[PricedEvent], result: IngestResult) -> IngestResult:
    unique: dict[str, PricedEvent] = {}
    for item in priced:
        unique.setdefault(item.event.request_id, item)
    ordered = [unique[key] for key in sorted(unique)]
    mismatches = sum(1 for item in ordered if item.reported_cost is not None)
    with transaction.atomic():
        inserted = _insert_events(ordered)
        fresh = [item for item in ordered if item.event.request_id in inserted]
        _increment_rollups(fresh)
    result.accepted += len(fresh)
    result.duplicates += len(priced) - len(fresh)
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
    """Flatten rows into query parameters, adapted for the database in use."""
    if connection.vendor == "postgresql":  # psycopg adapts datetime/Decimal itself, and fast
        return [value for row in rows for value in row]
    fields = [model._meta.get_field(name) for name in columns]
    return [
        f.get_db_prep_save(value, connection)
        for row in rows
        for f, value in zip(fields, row, strict=True)
    ]


def _insert_events(items: list[PricedEvent]) -> set[str]:
    """INSERT … ON CONFLICT (request_id) DO NOTHING; returns the request ids really inserted."""
    if not items:
        return set()
    qn = connection.ops.quote_name
    table = qn(LedgerEvent._meta.db_table)
    columns = ", ".join(qn(name) for name in _EVENT_COLUMNS)
    placeholder = "(" + ", ".join(["%s"] * len(_EVENT_COLUMNS)) + ")"
    now = datetime.now(UTC)
    inserted: set[str] = set()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One array per column: a short statement whatever the row count (a VALUES list
            # with 40,000 placeholders costs more to build and parse than to run).
            rows = [_event_row(item, now) for item in items]
            cursor = _server_cursor()
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT * FROM {_unnest(_EVENT_TYPES)} "  # noqa: S608  # nosec B608 - our quoted names
                f"ON CONFLICT ({qn('request_id')}) DO NOTHING RETURNING {qn('request_id')}",
                [list(column) for column in zip(*rows, strict=True)],
            )
            return {row[0] for row in cursor.fetchall()}
        for start in range(0, len(items), _INSERT_CHUNK):
            chunk = [_event_row(item, now) for item in items[start : start + _INSERT_CHUNK]]
            sql = (
                f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608  # nosec B608 - our quoted names
                + ", ".join([placeholder] * len(chunk))
                + f" ON CONFLICT ({qn('request_id')}) DO NOTHING RETURNING {qn('request_id')}"
            )
            cursor.execute(sql, _prepare(chunk, LedgerEvent, _EVENT_COLUMNS))
            inserted.update(row[0] for row in cursor.fetchall())
    return inserted


def _increment_rollups(items: Iterable[PricedEvent]) -> None:
    totals: dict[tuple[Any, ...], list[Any]] = {}
    for item in items:
        key = (item.hour, item.event.provider, item.event.model, item.event.mode)
        row = totals.get(key)
        if row is None:
            row = totals[key] = [0] * (1 + len(TOKEN_FIELDS)) + [ZERO] * (
                len(SUM_FIELDS) - len(TOKEN_FIELDS)
            )
        row[0] += 1
        values = (
            *(getattr(item.event, name) for name in TOKEN_FIELDS),
            item.costs.cost,
            item.costs.baseline_cost,
            item.costs.cache_read_saved,
            item.costs.cache_write_premium,
            item.costs.batch_discount,
        )
        for position, value in enumerate(values, start=1):
            row[position] += value
    if not totals:
        return
    qn = connection.ops.quote_name
    table = qn(HourlyRollup._meta.db_table)
    counted = ("events", *SUM_FIELDS)
    all_columns = (*_KEY, *counted)
    placeholder = "(" + ", ".join(["%s"] * len(all_columns)) + ")"
    updates = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in counted)
    rows = [(*key, *totals[key]) for key in sorted(totals)]
    conflict = f" ON CONFLICT ({', '.join(qn(c) for c in _KEY)}) DO UPDATE SET {updates}"  # nosec B608 - our quoted names
    names = ", ".join(qn(c) for c in all_columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor = _server_cursor()
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT * FROM {_unnest(_ROLLUP_TYPES)}"  # noqa: S608  # nosec B608 - our quoted names
                + conflict,
                [list(column) for column in zip(*rows, strict=True)],
            )
            return
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            sql = (
                f"INSERT INTO {table} ({names}) VALUES "  # noqa: S608  # nosec B608 - our quoted names
                + ", ".join([placeholder] * len(chunk))
                + conflict
            )
            cursor.execute(sql, _prepare(chunk, HourlyRollup, all_columns))


def rollups_rebuild() -> int:
    """Recompute every hourly rollup from the raw ledger; returns the number of rollup rows.

    Runs in one transaction; on PostgreSQL it locks out concurrent ingests (SHARE lock on the
    ledger) for its duration, so no event can be counted twice or missed.
    """
    grouped = (
        LedgerEvent.objects.annotate(bucket=TruncHour("timestamp", tzinfo=UTC))
        .values("bucket", "provider", "model", "mode")
        .annotate(n_events=Count("id"), **{f"s_{name}": Sum(name) for name in SUM_FIELDS})
        .order_by()
    )
    select_sql, params = grouped.query.sql_with_params()
    qn = connection.ops.quote_name
    target = ", ".join(qn(c) for c in (*_KEY, "events", *SUM_FIELDS))
    source = ", ".join(
        qn(c) for c in ("bucket", "provider", "model", "mode", "n_events")
    ) + "".join(f", {qn('s_' + name)}" for name in SUM_FIELDS)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {qn(LedgerEvent._meta.db_table)} IN SHARE MODE")
        HourlyRollup.objects.all().delete()
        cursor.execute(
            f"INSERT INTO {qn(HourlyRollup._meta.db_table)} ({target}) "  # noqa: S608  # nosec B608 - our quoted names
            f"SELECT {source} FROM ({select_sql}) AS grouped",
            params,
        )
    return HourlyRollup.objects.count()


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

    qn = connection.ops.quote_name
    table = qn(LedgerEvent._meta.db_table)
    columns = ", ".join(qn(name) for name in _EVENT_COLUMNS)
    now = datetime.now(UTC)
    inserted = 0
    pending: list[tuple[Any, ...]] = []

    def flush(cursor: Any) -> int:
        cursor.execute("TRUNCATE savings_load")
        with cursor.cursor.copy(f"COPY savings_load ({columns}) FROM STDIN") as copy:
            for row in pending:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM savings_load "  # noqa: S608  # nosec B608 - our quoted names
            f"ON CONFLICT ({qn('request_id')}) DO NOTHING"
        )
        pending.clear()
        return int(cursor.rowcount)

    with transaction.atomic(), connection.cursor() as cursor:
        # Inside an outer transaction (tests, callers' atomic blocks) ON COMMIT has not run yet.
        cursor.execute("DROP TABLE IF EXISTS savings_load")
        cursor.execute(
            f"CREATE TEMP TABLE savings_load ON COMMIT DROP AS "  # noqa: S608  # nosec B608 - our quoted names
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        for event in events:
            pending.append(_event_row(event_price(event), now))
            if len(pending) >= chunk:
                inserted += flush(cursor)
        if pending:
            inserted += flush(cursor)
        rollups_rebuild()
    return inserted
