"""Writing ledger rows (pipeline.py) and adding them to the hourly and daily rollups.

Only events actually inserted reach the rollups (a repeated `request_id` is a duplicate,
skipped). Both statements are plain `INSERT … ON CONFLICT`, so concurrent ingests are safe on
PostgreSQL: the ledger's unique index decides which writer owns a request id, and rollup rows
are incremented in the database (`col = col + excluded.col`, `_rollup_add`), never
read-modify-written in Python. Rows are written in a fixed order (request id, then rollup key)
so two writers cannot deadlock each other.

On PostgreSQL rows go in by COPY and one statement inserts the new ones and adds them to both
rollups (`_insert_copy`): of a 5,000-event ingest body, ~50 ms is Python (checking, pricing,
the COPY text) and the rest PostgreSQL's insert with its ledger indexes and the two upserts
(~100-150 ms). Elsewhere (SQLite for `make run`) rows go in by INSERT … VALUES and the rollups'
increments are summed in Python first (`_insert_portable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models, transaction

from llmopt_admin.copy_writer import NULL, StagingTable, copy_text
from llmopt_admin.savings.costing import units_text
from llmopt_admin.savings.models import (
    LEDGER_COLUMNS,
    MONEY_FIELDS,
    ROLLUP_KEY,
    SUM_FIELDS,
    DailyRollup,
    HourlyRollup,
    LedgerEvent,
)
from llmopt_admin.savings.pipeline import LedgerRow, usd

_STAGING = StagingTable("savings_incoming", LedgerEvent, LEDGER_COLUMNS)
_INSERT_CHUNK = 2_000  # 2,000 rows x 21 columns stays under PostgreSQL's 65,535 parameters


def ledger_rows_insert(rows: Sequence[LedgerRow]) -> int:
    """Insert the rows whose request id is new and add those to the rollups, in one
    transaction; returns how many were new. `rows` hold one row per request id, in request id
    order (pipeline.first_of_each)."""
    if not rows:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _insert_copy(rows)
        return _insert_portable(rows)


def ledger_rows_load(rows: Iterable[LedgerRow], *, chunk: int) -> int:
    """Insert the rows whose request id is new, `chunk` rows a statement, leaving the rollups
    to the caller (a rebuild is cheaper than increments for a bulk load); returns how many
    were new. PostgreSQL only: elsewhere bulk loads go through ledger_rows_insert."""
    inserted = 0
    pending: list[LedgerRow] = []
    with connection.cursor() as cursor:
        for row in rows:
            pending.append(row)
            if len(pending) >= chunk:
                inserted += _load_staged(cursor, pending)
                pending = []
        if pending:
            inserted += _load_staged(cursor, pending)
    return inserted


def rollup_columns(bucket: str) -> tuple[str, ...]:
    """A rollup table's columns but its id: its time bucket (`hour` or `day`), key and sums."""
    return (bucket, *ROLLUP_KEY, "events", *SUM_FIELDS)


# --- PostgreSQL: COPY into a staging table, then one INSERT … SELECT -------------------------


def _copy_lines(rows: Iterable[LedgerRow], received_at: str) -> str:
    """The rows in COPY text format, in LEDGER_COLUMNS order."""
    lines = []
    texts: dict[tuple[str, str, str, str, str], str] = {}
    for row in rows:
        (
            request_id, timestamp, provider, model, mode, config_entry, batch_id,
            tokens, cacheable, money, storage, source, reported,
        ) = row  # fmt: skip
        # provider, model, mode, config entry and batch id repeat: escaped once each.
        key = (provider, model, mode, config_entry, batch_id)
        text = texts.get(key)
        if text is None:
            text = texts[key] = (
                f"{copy_text(provider)}\t{copy_text(model)}\t{mode}\t"
                f"{copy_text(config_entry)}\t{copy_text(batch_id)}"
            )
        lines.append(
            f"{copy_text(request_id)}\t{timestamp.isoformat()}\t{text}\t"
            f"{tokens[0]}\t{tokens[1]}\t{tokens[2]}\t{tokens[3]}\t{tokens[4]}\t{cacheable}\t"
            f"{units_text(money[0])}\t{units_text(money[1])}\t{units_text(money[2])}\t"
            f"{units_text(money[3])}\t{units_text(money[4])}\t{storage}\t{source}\t"
            f"{NULL if reported is None else units_text(reported)}\t{received_at}\n"
        )
    return "".join(lines)


def _insert_staged() -> str:
    """INSERT the staged rows that are new; a CTE body returning every inserted row.

    Rows go in request id order, so concurrent writers take the unique index's locks in the
    same order; a request id another transaction is inserting waits for it, then is skipped.
    """
    qn = connection.ops.quote_name
    columns = _STAGING.column_list
    return (
        f"INSERT INTO {qn(LedgerEvent._meta.db_table)} ({columns}) "  # noqa: S608  # nosec B608 - our quoted names
        f"SELECT {columns} FROM {_STAGING.name} ORDER BY {qn('request_id')} "
        f"ON CONFLICT ({qn('request_id')}) DO NOTHING RETURNING {columns}"
    )


# PostgreSQL expressions of each rollup's time bucket (UTC) from the event's timestamp.
_BUCKETS = {
    "hour": "date_trunc('hour', \"timestamp\", 'UTC')",
    "day": "(\"timestamp\" AT TIME ZONE 'UTC')::date",
}


def _grouped(bucket: str, source: str) -> str:
    """SELECT `source`'s rows summed by rollup bucket and key, in rollup_columns order."""
    qn = connection.ops.quote_name
    key = ", ".join(qn(c) for c in ROLLUP_KEY)
    sums = ", ".join(f"SUM({qn(c)})" for c in SUM_FIELDS)
    return (
        f"SELECT {_BUCKETS[bucket]}, {key}, COUNT(*), {sums} FROM {source} "  # noqa: S608  # nosec B608 - our quoted names
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    )


def _insert_copy(rows: Sequence[LedgerRow]) -> int:
    """COPY the rows, then insert the new ones and add them to both rollups in one statement;
    duplicates (already in the ledger) never reach the rollups."""
    received_at = datetime.now(UTC).isoformat()
    with connection.cursor() as cursor:
        _STAGING.load(cursor, _copy_lines(rows, received_at))
        cursor.execute(
            f"WITH inserted AS ({_insert_staged()}), "  # noqa: S608  # nosec B608 - our quoted names
            f"hourly AS ({_rollup_add(HourlyRollup, 'hour', _grouped('hour', 'inserted'))}), "
            f"daily AS ({_rollup_add(DailyRollup, 'day', _grouped('day', 'inserted'))}) "
            "SELECT COUNT(*) FROM inserted"
        )
        return int(cursor.fetchone()[0])


def _load_staged(cursor: Any, rows: Sequence[LedgerRow]) -> int:
    _STAGING.load(cursor, _copy_lines(rows, datetime.now(UTC).isoformat()))
    cursor.execute(f"WITH inserted AS ({_insert_staged()}) SELECT COUNT(*) FROM inserted")  # noqa: S608  # nosec B608 - our quoted names
    return int(cursor.fetchone()[0])


# --- every database: rollup upserts -----------------------------------------------------------


def _rollup_add(model: type[models.Model], bucket: str, source: str) -> str:
    """INSERT `source`'s rows (rollup_columns order) into a rollup, adding them to the rows
    already there: INSERT … ON CONFLICT DO UPDATE, on PostgreSQL and SQLite alike."""
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    counted = ("events", *SUM_FIELDS)
    updates = ", ".join(f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in counted)
    key = ", ".join(qn(c) for c in (bucket, *ROLLUP_KEY))
    return (
        f"INSERT INTO {table} ({', '.join(qn(c) for c in rollup_columns(bucket))}) {source} "  # nosec B608 - our quoted names
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


# --- other databases: INSERT … VALUES, rollup increments summed in Python ---------------------


def _insert_portable(rows: Sequence[LedgerRow]) -> int:
    inserted = _insert_values(rows)
    fresh = [row for row in rows if row.request_id in inserted]
    # Per rollup key: the events, then SUM_FIELDS (money in ledger units, exact).
    hourly: dict[tuple[Any, ...], list[int]] = {}
    for row in fresh:
        hour = row.timestamp.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        sums = [1, *row.tokens, row.cacheable_input_tokens, *row.money]
        _add(hourly, (hour, row.provider, row.model, row.mode), sums)
    daily: dict[tuple[Any, ...], list[int]] = {}
    for (hour, *key), sums in hourly.items():
        _add(daily, (hour.date(), *key), sums)
    _add_values(HourlyRollup, "hour", hourly)
    _add_values(DailyRollup, "day", daily)
    return len(fresh)


def _add(totals: dict[tuple[Any, ...], list[int]], key: tuple[Any, ...], sums: list[int]) -> None:
    found = totals.get(key)
    totals[key] = sums if found is None else [a + b for a, b in zip(found, sums, strict=True)]


def _insert_values(rows: Sequence[LedgerRow]) -> set[str]:
    """INSERT … ON CONFLICT (request_id) DO NOTHING; returns the request ids really inserted."""
    received_at = datetime.now(UTC)
    qn = connection.ops.quote_name
    columns = ", ".join(qn(name) for name in LEDGER_COLUMNS)
    placeholder = "(" + ", ".join(["%s"] * len(LEDGER_COLUMNS)) + ")"
    found: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = [_values(row, received_at) for row in rows[start : start + _INSERT_CHUNK]]
            cursor.execute(
                f"INSERT INTO {qn(LedgerEvent._meta.db_table)} ({columns}) VALUES "  # noqa: S608  # nosec B608 - our quoted names
                + ", ".join([placeholder] * len(chunk))
                + f" ON CONFLICT ({qn('request_id')}) DO NOTHING RETURNING {qn('request_id')}",
                _prepare(chunk, LedgerEvent, LEDGER_COLUMNS),
            )
            found.update(row[0] for row in cursor.fetchall())
    return found


def _values(row: LedgerRow, received_at: datetime) -> tuple[Any, ...]:
    """A row's values in LEDGER_COLUMNS order, money in USD."""
    reported = None if row.reported is None else usd(row.reported)
    return (
        *row[:7],  # request id to batch id, as they are
        *row.tokens,
        row.cacheable_input_tokens,
        *(usd(units) for units in row.money),
        row.cache_storage_token_hours,
        row.cost_source,
        reported,
        received_at,
    )


def _add_values(
    model: type[models.Model], bucket: str, totals: dict[tuple[Any, ...], list[int]]
) -> None:
    """Add `totals` (key → events and SUM_FIELDS, money in units) to a rollup table."""
    if not totals:
        return
    columns = rollup_columns(bucket)
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    money = -len(MONEY_FIELDS)  # the last sums, in ledger units
    rows = [
        (*key, *sums[:money], *(usd(units) for units in sums[money:]))
        for key, sums in sorted(totals.items())  # a fixed order: no deadlocks
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            source = "VALUES " + ", ".join([placeholder] * len(chunk))
            cursor.execute(_rollup_add(model, bucket, source), _prepare(chunk, model, columns))


def _prepare(
    rows: list[tuple[Any, ...]], model: type[models.Model], columns: Sequence[str]
) -> list[Any]:
    """Flatten rows into query parameters, adapted by the model's fields for the database."""
    fields = [model._meta.get_field(name) for name in columns]
    return [
        f.get_db_prep_save(value, connection)
        for row in rows
        for f, value in zip(fields, row, strict=True)
    ]


__all__ = ["ledger_rows_insert", "ledger_rows_load", "rollup_columns"]
