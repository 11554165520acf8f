"""Writing the usage ledger: the ingest API's events, events made in-process, bulk loads, and
rollups rebuilt from the raw rows.

Every event takes one path: pipeline.py checks and prices it into a ledger row, ledger_write.py
writes the rows (COPY on PostgreSQL, INSERT … ON CONFLICT elsewhere) and adds those actually
inserted to the hourly and daily rollups in the same transaction. A repeated `request_id` is a
duplicate, counted and skipped, so sending events again changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from itertools import islice
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from llmopt_admin.savings.ledger_write import ledger_rows_insert, ledger_rows_load, rollup_columns
from llmopt_admin.savings.models import (
    ROLLUP_KEY,
    SUM_FIELDS,
    DailyRollup,
    HourlyRollup,
    LedgerEvent,
)
from llmopt_admin.savings.pipeline import LedgerRow, first_of_each, rows_of_events, rows_of_json
from optimization.telemetry import UsageEvent

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 5_000
_RECORD_CHUNK = 2_000  # events per transaction of a bulk load on databases other than PostgreSQL


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def usage_events_ingest(*, items: Sequence[Any]) -> IngestResult:
    """Validate raw JSON events one by one and record the valid ones; never raises on bad input."""
    priced = rows_of_json(items, now=timezone.now())
    result = _record(priced.rows)
    result.rejected = priced.rejected
    return result


def usage_events_record(*, events: Sequence[UsageEvent]) -> IngestResult:
    """Record events produced in-process (the admin's batch jobs); same rules as the ingest API.

    Events of models unknown to the price table keep the cost they carry.
    """
    return _record(list(rows_of_events(events)))


def _record(rows: list[LedgerRow]) -> IngestResult:
    unique = first_of_each(rows)
    accepted = ledger_rows_insert(unique)
    mismatches = sum(1 for row in unique if row.reported is not None)
    if mismatches:
        logger.warning(
            "usage ingest: %d event(s) reported a cost different from the price table's; "
            "stored the price table's cost and kept the reported one in reported_cost",
            mismatches,
        )
    return IngestResult(accepted=accepted, duplicates=len(rows) - accepted)


def ledger_bulk_load(*, events: Iterable[UsageEvent], chunk: int = 50_000) -> int:
    """Load many events fast (seeding, imports); returns how many were new.

    On PostgreSQL: COPY into a temporary table and one INSERT … ON CONFLICT DO NOTHING into
    the ledger per `chunk` events, then a full rollup rebuild (cheaper than per-row increments
    at this size). Elsewhere: the ingest path in chunks. Either way duplicates are skipped, not
    errors.
    """
    rows = rows_of_events(events)
    if connection.vendor != "postgresql":
        total = 0
        while batch := list(islice(rows, _RECORD_CHUNK)):
            total += _record(batch).accepted
        return total
    with transaction.atomic():
        inserted = ledger_rows_load(rows, chunk=chunk)
        rollups_rebuild()
    return inserted


def rollups_rebuild() -> int:
    """Recompute every rollup from the raw ledger (hourly from the events, daily from the
    hourly rows); returns the number of hourly rows.

    Runs in one transaction; on PostgreSQL it locks out concurrent ingests (SHARE lock on the
    ledger) for its duration, so no event can be counted twice or missed.
    """
    hourly = (
        LedgerEvent.objects.annotate(bucket=TruncHour("timestamp", tzinfo=UTC))
        .values("bucket", *ROLLUP_KEY)
        .annotate(n_events=Count("id"), **{f"s_{name}": Sum(name) for name in SUM_FIELDS})
        .order_by()
    )
    daily = (
        HourlyRollup.objects.annotate(bucket=TruncDate("hour", tzinfo=UTC))
        .values("bucket", *ROLLUP_KEY)
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
    target = ", ".join(qn(c) for c in rollup_columns(bucket))
    source = ", ".join(
        qn(c) for c in ("bucket", *ROLLUP_KEY, "n_events", *(f"s_{name}" for name in SUM_FIELDS))
    )
    cursor.execute(
        f"INSERT INTO {qn(model._meta.db_table)} ({target}) "  # noqa: S608  # nosec B608 - our quoted names
        f"SELECT {source} FROM ({select_sql}) AS grouped",
        params,
    )


__all__ = [
    "MAX_EVENTS_PER_REQUEST",
    "IngestResult",
    "ledger_bulk_load",
    "rollups_rebuild",
    "usage_events_ingest",
    "usage_events_record",
]
