"""Storing results: each priced once, written as rows upserted on (job, custom_id) (COPY on
PostgreSQL), with the job's totals moved by what each chunk changed and one usage event per
result in the ledger (a repeat is ignored), so storing a chunk twice changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from llmopt_admin.batches.job_state import refresh_totals
from llmopt_admin.batches.models import (
    BatchJob,
    BatchJobRequest,
    JobProvider,
    Outcome,
)
from llmopt_admin.copy_writer import NULL, StagingTable, copy_json, copy_text
from optimization.batch_wire import RawBatchResult
from optimization.pricing import TOKEN_FIELDS, CallCost, TokenUsage, token_counts
from optimization.telemetry import Mode, UsageEvent, cost_if_priced

logger = logging.getLogger(__name__)


# What storing a result writes of its request's row.
_RESULT_FIELDS = (
    "batch_id",
    "outcome",
    "output_text",
    "output",
    "error",
    *TOKEN_FIELDS,
    "cost",
    "baseline_cost",
    "completed_at",
)


class _Prices:
    """Prices calls through `pricing.cost_of`, once per distinct (usage, model) of a chunk:
    batch results repeat the same token counts a lot. Unknown models price as None (see
    `telemetry.cost_if_priced`)."""

    def __init__(self, *, batch: bool, at: datetime) -> None:
        self.batch = batch
        self.at = at
        self._known: dict[tuple[TokenUsage, str], CallCost | None] = {}

    def __call__(self, usage: TokenUsage, model: str) -> CallCost | None:
        key = (usage, model)
        try:
            return self._known[key]
        except KeyError:
            priced = self._known[key] = cost_if_priced(usage, model, batch=self.batch, at=self.at)
            return priced


def _mode(usage: TokenUsage, *, batch_mode: bool) -> Mode:
    cached = bool(
        usage.cache_read_tokens or usage.cache_write_5m_tokens or usage.cache_write_1h_tokens
    )
    if batch_mode:
        return "batch+cache" if cached else "batch"
    return "cached" if cached else "standard"


def store_results(
    *,
    job: BatchJob,
    items: Sequence[RawBatchResult],
    batch_mode: bool = True,
    row_ids: Mapping[str, int] | None = None,
) -> None:
    """Store results on (job, custom_id) and record usage events, in one transaction.

    Each request is priced once (`pricing.cost_of`); its row and its usage event carry that
    price. Storing the same results again changes nothing: same rows, same costs, same job
    totals, and the usage events' request ids are already in the ledger. `row_ids`
    (custom_id → primary key, see `row_ids`) saves looking the rows up; a result whose
    custom_id the job does not have is logged and left out.
    """
    if row_ids is None:
        wanted = [item.custom_id for item in items]
        row_ids = dict(job.requests.filter(custom_id__in=wanted).values_list("custom_id", "id"))
    prepared = prepare_results(
        job=job,
        items=items,
        batch_mode=batch_mode,
        row_ids=row_ids,
        copy=connection.vendor == "postgresql",
    )
    write_results(job=job, prepared=prepared)


@dataclass(slots=True)
class PreparedResults:
    """A chunk of results ready to write: priced, with their usage events and (for
    PostgreSQL) their COPY text."""

    results: list[tuple[RawBatchResult, Decimal | None, Decimal | None]]
    events: list[UsageEvent]
    copy_text: str | None
    now: datetime


def prepare_results(
    *,
    job: BatchJob,
    items: Sequence[RawBatchResult],
    batch_mode: bool,
    row_ids: Mapping[str, int],
    copy: bool,
) -> PreparedResults:
    """Price `items` and build their usage events (and with `copy` their COPY text) without
    touching the database, so it can run beside the previous chunk's write."""
    unknown = [item.custom_id for item in items if item.custom_id not in row_ids]
    if unknown:
        logger.warning(
            "batch job %s: %d results name no request of the job, e.g. %r",
            job.pk,
            len(unknown),
            unknown[0],
        )
        items = [item for item in items if item.custom_id in row_ids]
    now = timezone.now()
    price = _Prices(batch=batch_mode, at=now)
    results: list[tuple[RawBatchResult, Decimal | None, Decimal | None]] = []
    events: list[UsageEvent] = []
    provider = job.provider
    # Azure answers may name the deployment rather than a model the price table knows.
    by_job_model = provider == JobProvider.AZURE_OPENAI and job.model != "mixed"
    for item in items:
        usage = item.usage
        cost = baseline = None
        message = item.message
        if message is not None:
            model = str(message.get("model") or job.model)
            priced = price(usage, model)
            if priced is None and by_job_model:
                # An Azure OpenAI deployment's name: the job's model says what it runs.
                model = job.model
                priced = price(usage, model)
            if priced is not None:  # unknown models: cost unknown, not zero
                cost, baseline = priced.cost, priced.baseline
            events.append(
                UsageEvent(
                    request_id=f"batchjob-{job.pk}-{item.custom_id}",
                    timestamp=now,
                    provider=provider,
                    model=model,
                    mode=_mode(usage, batch_mode=batch_mode),
                    **vars(usage),
                    cost=Decimal(0) if cost is None else cost,
                    baseline_cost=Decimal(0) if baseline is None else baseline,
                    batch_id=item.batch_id or None,
                )
            )
        results.append((item, cost, baseline))
    text = None
    if copy:
        stamp = now.isoformat()
        text = "".join(
            [
                _copy_line(row_ids[item.custom_id], item, cost, baseline, stamp)
                for item, cost, baseline in results
            ]
        )
    return PreparedResults(results, events, text, now)


def write_results(*, job: BatchJob, prepared: PreparedResults) -> None:
    """Write a prepared chunk: its rows, the job's totals and its usage events, in one
    transaction."""
    if not prepared.results:
        return
    with transaction.atomic():
        if prepared.copy_text is not None and connection.vendor == "postgresql":
            _store_results_postgresql(job, prepared.copy_text)
        else:
            upsert_results(
                [
                    _row(job, item, cost, baseline, prepared.now)
                    for item, cost, baseline in prepared.results
                ]
            )
            refresh_totals(job)
        if prepared.events:
            record_usage_events(prepared.events)


def _row(
    job: BatchJob,
    item: RawBatchResult,
    cost: Decimal | None,
    baseline: Decimal | None,
    now: datetime,
) -> BatchJobRequest:
    usage = item.usage
    return BatchJobRequest(
        job=job,
        custom_id=item.custom_id,
        position=item.position,
        params={},  # only used if the row were missing; never overwrites stored params
        batch_id=item.batch_id,
        outcome=item.outcome,
        output_text=item.text,
        output=item.message,
        error=item.error_text or "",
        **vars(usage),
        cost=cost,
        baseline_cost=baseline,
        completed_at=now,
    )


def upsert_results(rows: Sequence[BatchJobRequest]) -> None:
    """Insert-or-update on (job, custom_id): the portable path (SQLite for `make run`)."""
    BatchJobRequest.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["job", "custom_id"],
        update_fields=_RESULT_FIELDS,
    )


_STAGING = StagingTable("batch_results_incoming", BatchJobRequest, ("id", *_RESULT_FIELDS))


_COUNT_FIELDS = {
    Outcome.SUCCEEDED: "succeeded_count",
    Outcome.ERRORED: "errored_count",
    Outcome.CANCELED: "canceled_count",
    Outcome.EXPIRED: "expired_count",
}


def _copy_line(
    row_id: int, item: RawBatchResult, cost: Decimal | None, baseline: Decimal | None, now: str
) -> str:
    """One result in COPY text format, in `_STAGING.columns` order (batch ids are the
    provider's, letters, digits and underscores)."""
    message = item.message
    if message is None:
        output, output_text = NULL, ""
    else:
        output, output_text = copy_json(message), copy_text(item.text)
    i, w5, w1, r, o = token_counts(item.usage)
    return (
        f"{row_id}\t{item.batch_id}\t{item.outcome}\t"
        f"{output_text}\t{output}\t{copy_text(item.error_text or '')}\t"
        f"{i}\t{w5}\t{w1}\t{r}\t{o}\t"
        f"{NULL if cost is None else cost}\t{NULL if baseline is None else baseline}\t{now}\n"
    )


def _store_results_postgresql(job: BatchJob, text: str) -> None:
    """COPY the results into a temporary table and update their rows from it, by primary key,
    in one statement that also reads what the rows held before, so the job's counts and costs
    move by exactly what this chunk changed."""
    table = BatchJobRequest._meta.db_table
    incoming = _STAGING.name
    assignments = ", ".join(f"{name} = i.{name}" for name in _RESULT_FIELDS)
    with connection.cursor() as cursor:
        _STAGING.load(cursor, text)
        # The temporary table has no statistics, so the planner would rather hash the whole
        # requests table (every job's rows, live or dead) than look 1,000 rows up by primary
        # key: a scan per chunk. Join by index only, for this statement only.
        # A chunk's commit need not wait for its WAL flush: were the server to lose the last
        # chunks, it loses every later commit too (WAL is replayed in order), including the
        # synchronous one that marks the batch ingested, so the batch is fetched again.
        cursor.execute(
            "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
            "SET LOCAL synchronous_commit = off"
        )
        # Every sub-statement sees the rows as they were before the UPDATE: `old` is the
        # chunk's previous state, `new` what the UPDATE wrote.
        cursor.execute(
            "WITH old AS (SELECT r.outcome, r.cost, r.baseline_cost "  # noqa: S608  # nosec B608 - our own names
            f"  FROM {table} AS r JOIN {incoming} AS i ON r.id = i.id), "
            f"new AS (UPDATE {table} AS r SET {assignments} FROM {incoming} AS i "
            "  WHERE r.id = i.id RETURNING r.outcome, r.cost, r.baseline_cost) "
            "SELECT 1, outcome, count(*), sum(cost), sum(baseline_cost) FROM new GROUP BY outcome "
            "UNION ALL "
            "SELECT -1, outcome, count(*), sum(cost), sum(baseline_cost) FROM old GROUP BY outcome"
        )
        changes = cursor.fetchall()
        cursor.execute(
            "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT"
        )
    move_totals(job, changes)


def move_totals(job: BatchJob, changes: Sequence[tuple[int, str, int, Any, Any]]) -> None:
    """Add (sign +1) the new and take away (sign -1) the old counts and costs of a chunk."""
    deltas: dict[str, Any] = {}
    for sign, outcome, count, cost, baseline in changes:
        field = _COUNT_FIELDS.get(outcome)
        if field is not None:
            deltas[field] = deltas.get(field, 0) + sign * count
        deltas["cost"] = deltas.get("cost", Decimal(0)) + sign * (cost or Decimal(0))
        deltas["baseline_cost"] = deltas.get("baseline_cost", Decimal(0)) + sign * (
            baseline or Decimal(0)
        )
    moved = {name: F(name) + delta for name, delta in deltas.items() if delta}
    if moved:
        BatchJob.objects.filter(pk=job.pk).update(**moved, updated_at=timezone.now())


def record_usage_events(events: Sequence[UsageEvent]) -> None:
    """THE one place batch jobs hand finished requests' usage to the savings ledger."""
    from llmopt_admin.savings.services import usage_events_record

    usage_events_record(events=events)


def row_ids(job: BatchJob) -> dict[str, int]:
    """custom_id → primary key of every request of the job, read once per ingest.

    Chunks are then matched to their rows by primary key. Matching by (job, custom_id) lets
    the planner, whose statistics never know a job just inserted, scan the whole job for
    every chunk (quadratic: 100,000 results meant 100 scans of 100,000 rows).
    """
    return dict(job.requests.values_list("custom_id", "id"))
