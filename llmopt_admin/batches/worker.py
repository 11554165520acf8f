"""What the Celery worker does with a batch job: submit, poll, store results, sweep.

The database is the source of truth and every step is idempotent:

- A job's requests are rows unique on (job, custom_id); results are upserted on that key, so a
  result stored twice (a task delivered twice, a worker killed mid-download and restarted)
  overwrites itself instead of adding a row or a charge.
- Counts and costs of a job move by what each stored chunk changed (old values versus new,
  read in the same statement that writes them, so storing a chunk again moves nothing) and are
  recomputed from its rows when the job ends.
- Each provider batch is saved (with its custom_id map) the moment the provider accepts it,
  by the batch client's state store, so a restarted worker polls it instead of paying twice.
- A job is worked on by one task at a time through a short database lease that lapses by
  itself, so a killed worker never blocks a job for long.
- Usage events carry a request id derived from the job and custom_id; the ledger ignores
  repeats.

Celery tasks (tasks.py) only call the functions here and in services.py; the periodic sweep
re-enqueues whatever a lost task left behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import anthropic
import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from llmopt_admin.batches.models import (
    OPEN_JOB_STATUSES,
    BatchJob,
    BatchJobRequest,
    JobMode,
    JobStatus,
    Outcome,
    ProviderBatch,
)
from llmopt_admin.batches.services import CHUNK, batched
from llmopt_admin.batches.state_store import DjangoBatchStateStore
from optimization.batch_client import (
    AnthropicBatchClient,
    BatchRequest,
    BatchStatus,
    BatchSubmitError,
    RawBatchResult,
)
from optimization.batch_create import BatchInFlight
from optimization.exceptions import BatchError
from optimization.pricing import CallCost, PriceNotFound, TokenUsage, cost_of
from optimization.telemetry import Mode, UsageEvent

logger = logging.getLogger(__name__)

STANDARD_CONCURRENCY = 4  # parallel standard-API calls of one retry job
_RESULT_FIELDS = [
    "batch_id",
    "outcome",
    "output_text",
    "output",
    "error",
    "input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
    "cost",
    "baseline_cost",
    "completed_at",
]
T = TypeVar("T")


class TransientProviderError(Exception):
    """The provider could not be reached or was overloaded; the step is retried later."""


class LeaseLost(TransientProviderError):
    """Another run took the job over (this one outlived its lease): stop without writing more."""


# --- leases and the event loop ----------------------------------------------------------


@contextmanager
def _leased(job_id: int) -> Iterator[BatchJob | None]:
    """The job, claimed for this task run; None when another run holds a live claim."""
    owner = uuid.uuid4().hex
    now = timezone.now()
    claimed = (
        BatchJob.objects.filter(pk=job_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + _lease_length(), nudged_at=None)
    )
    if not claimed:
        yield None
        return
    try:
        yield BatchJob.objects.get(pk=job_id)
    finally:
        BatchJob.objects.filter(pk=job_id, lease_owner=owner).update(
            lease_owner="", lease_until=None
        )


def _lease_length() -> timedelta:
    return timedelta(seconds=settings.LLMOPT_BATCH_LEASE_SECONDS)


def _renew_lease(job: BatchJob) -> None:
    """Extend this run's claim on the job; LeaseLost when another run holds it now."""
    renewed = BatchJob.objects.filter(pk=job.pk, lease_owner=job.lease_owner).update(
        lease_until=timezone.now() + _lease_length()
    )
    if not renewed:
        raise LeaseLost(f"batch job {job.pk}: the lease passed to another run")


class _Provider:
    """An event loop plus the SDK and batch clients for one task run; close() releases both."""

    def __init__(self, job: BatchJob, positions: dict[str, int] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.sdk = anthropic.AsyncAnthropic(
            base_url=settings.ANTHROPIC_BASE_URL,
            api_key=settings.ANTHROPIC_API_KEY,
            max_retries=settings.LLMOPT_ANTHROPIC_MAX_RETRIES,
        )
        self.batches = AnthropicBatchClient(
            self.sdk,
            model=job.model,
            poll_initial=settings.LLMOPT_BATCH_POLL_INITIAL,
            poll_max=settings.LLMOPT_BATCH_POLL_MAX,
            state_store=DjangoBatchStateStore(job, positions=positions),
        )

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def chunks(
        self,
        source: AsyncIterator[T],
        size: int,
        *,
        then: Callable[[list[T]], Any] | None = None,
    ) -> Iterator[Any]:
        """Drive an async iterator from sync code a list of `size` items at a time (passed
        through `then`, which must not touch the database, when given).

        The loop runs in a thread of its own and fetches (and prepares) the next chunk while
        the caller stores this one: the caller's database waits release the GIL, so download
        and decoding overlap them. Database writes stay on the caller's thread and
        connection. An error of the source is raised here, at the chunk it broke.
        """
        iterator = aiter(source)
        running: list[asyncio.Task[Any]] = []

        async def take() -> Any:
            task = asyncio.current_task()
            if task is not None:
                running[:] = [task]
            items = [item async for item in _up_to(iterator, size)]
            if not items:
                return None  # the end
            return items if then is None else then(items)

        thread = threading.Thread(
            target=self.loop.run_forever, name="batch-results-download", daemon=True
        )
        thread.start()
        pending = asyncio.run_coroutine_threadsafe(take(), self.loop)
        try:
            while (chunk := pending.result()) is not None:
                pending = asyncio.run_coroutine_threadsafe(take(), self.loop)
                yield chunk
        finally:
            if not pending.done():  # the caller stopped early: abandon the chunk in flight
                pending.cancel()
                for task in running:
                    self.loop.call_soon_threadsafe(task.cancel)
                concurrent.futures.wait([pending])
            self.loop.call_soon_threadsafe(self.loop.stop)
            thread.join()

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.sdk.close())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


async def _up_to(iterator: AsyncIterator[T], size: int) -> AsyncIterator[T]:
    for _ in range(size):
        try:
            yield await anext(iterator)
        except StopAsyncIteration:
            return


@contextmanager
def _provider(job: BatchJob, positions: dict[str, int] | None = None) -> Iterator[_Provider]:
    provider = _Provider(job, positions)
    try:
        yield provider
    finally:
        provider.close()


def _is_transient(exc: BaseException | None) -> bool:
    """Worth retrying later: connection trouble, 408/409/429, 5xx and 529 overloaded."""
    if isinstance(exc, anthropic.APIConnectionError):
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409, 429)
    return False


# --- submitting -------------------------------------------------------------------------


def batch_job_submit(*, job_id: int) -> None:
    """Send a queued job to the provider (or run it through the standard API).

    Batches already accepted for this job (in the state store) are not sent again. Raises
    TransientProviderError when the provider is unreachable or overloaded; the task retries.
    """
    with _leased(job_id) as job:
        if job is None:
            return
        standard = job.mode == JobMode.STANDARD
        if job.status not in (JobStatus.QUEUED, JobStatus.SUBMITTING) and not (
            standard and job.status == JobStatus.IN_PROGRESS  # a killed run resumes
        ):
            return
        nothing_sent = not (job.provider_batches.exists() or job.batch_intents.exists())
        if job.cancel_requested_at is not None and nothing_sent:
            _cancel_unsent(job)
            return
        if standard:
            _run_standard(job)
            return
        job.status = JobStatus.SUBMITTING
        job.save(update_fields=["status", "updated_at"])
        _submit_batches(job)


def _submit_batches(job: BatchJob) -> None:
    sent = {cid for pb in job.provider_batches.all() for cid in pb.custom_ids}
    rows = job.requests.order_by("position").values_list("custom_id", "position", "params")
    pending: list[BatchRequest] = []
    positions: dict[str, int] = {}
    for custom_id, position, params in rows:
        if custom_id not in sent:
            pending.append(BatchRequest.from_params(custom_id, params))
            positions[custom_id] = position
    canceled = job.cancel_requested_at is not None
    if pending or job.batch_intents.exists():
        _renew_lease(job)
        with _provider(job, positions) as provider:
            try:
                # Open intents are settled first: a batch an earlier run created without
                # hearing back is adopted, never sent again. A canceled job sends nothing new.
                provider.run(
                    provider.batches.submit(
                        [] if canceled else pending, meta={"job_id": job.pk}, reconcile_open=True
                    )
                )
            except BatchInFlight as exc:
                # An earlier run's create may still be running at the provider: never send
                # these requests again before that is known.
                _note_error(job, f"submitting paused, will retry: {exc}")
                raise TransientProviderError(str(exc)) from exc
            except BatchSubmitError as exc:
                # Some batches were accepted (and saved); the rest were not sent.
                if _is_transient(exc.__cause__):
                    _note_error(job, f"submitting paused, will retry: {exc}")
                    raise TransientProviderError(str(exc)) from exc
                _mark_unsent(job, [pending[i].custom_id for i in exc.positions], str(exc))
            except BatchError as exc:
                if _is_transient(exc.__cause__):
                    _note_error(job, f"submitting paused, will retry: {exc}")
                    raise TransientProviderError(str(exc)) from exc
                _fail(job, f"the provider refused the batch: {exc}")
                return
        # The create may have outlived the lease: a run that lost the job writes no more (what
        # it created is recorded, and the run holding the job now follows it).
        _renew_lease(job)
    if canceled:
        # Canceled while part of it was already accepted: send no more, collect the rest.
        sent = {cid for pb in job.provider_batches.all() for cid in pb.custom_ids}
        unsent = [cid for cid in positions if cid not in sent]
        if unsent:
            _mark_unsent(job, unsent, "the job was canceled", outcome=Outcome.CANCELED)
    now = timezone.now()
    ProviderBatch.objects.filter(job=job, next_poll_at=None).update(
        next_poll_at=now + timedelta(seconds=settings.LLMOPT_BATCH_POLL_INITIAL)
    )
    job.status = JobStatus.IN_PROGRESS
    job.submitted_at = job.submitted_at or now
    job.error = ""
    job.save(update_fields=["status", "submitted_at", "error", "updated_at"])
    logger.info("batch job %s submitted", job.pk)


def _note_error(job: BatchJob, message: str) -> None:
    job.error = message[:2000]
    job.save(update_fields=["error", "updated_at"])


def _fail(job: BatchJob, message: str) -> None:
    job.requests.filter(outcome=Outcome.PENDING).update(
        outcome=Outcome.ERRORED, error=message[:2000], completed_at=timezone.now()
    )
    _refresh_totals(job)
    job.status = JobStatus.FAILED
    job.error = message[:2000]
    job.ended_at = timezone.now()
    job.save()
    logger.warning("batch job %s failed: %s", job.pk, message)


def _mark_unsent(
    job: BatchJob, custom_ids: Sequence[str], message: str, *, outcome: str = Outcome.ERRORED
) -> None:
    for chunk in batched(custom_ids, CHUNK):
        job.requests.filter(custom_id__in=chunk, outcome=Outcome.PENDING).update(
            outcome=outcome, error=f"not submitted: {message}"[:2000], completed_at=timezone.now()
        )
    if outcome == Outcome.ERRORED:
        _note_error(job, f"{len(custom_ids)} requests could not be submitted: {message}")


def _cancel_unsent(job: BatchJob) -> None:
    job.requests.filter(outcome=Outcome.PENDING).update(
        outcome=Outcome.CANCELED, error="canceled before submission", completed_at=timezone.now()
    )
    _refresh_totals(job)
    job.status = JobStatus.CANCELED
    job.ended_at = timezone.now()
    job.save()


# --- polling and ingesting --------------------------------------------------------------


def batch_job_poll(*, job_id: int, force: bool = False) -> None:
    """Check each open provider batch of the job whose poll is due; ingest the ended ones.

    Between polls a batch waits poll_initial, doubling up to poll_max (the batch client's
    schedule, spread over sweeps instead of holding a worker). `force` polls every batch now.
    """
    with _leased(job_id) as job:
        if job is None or job.status not in (JobStatus.IN_PROGRESS, JobStatus.CANCELING):
            return
        if job.mode == JobMode.STANDARD:  # no provider batches: its submit run resumes it
            return
        open_batches = list(job.provider_batches.filter(results_ingested_at=None))
        if open_batches:
            with _provider(job) as provider:
                try:
                    _poll_batches(job, open_batches, provider, force=force)
                except anthropic.APIError as exc:
                    # e.g. the results download failed after the SDK's retries: what was
                    # stored stays, and the next sweep downloads (and upserts) again.
                    _refresh_totals(job)
                    raise TransientProviderError(f"batch job {job.pk}: {exc}") from exc
        if job.provider_batches.filter(results_ingested_at=None).exists():
            _refresh_totals(job)
        else:
            _finish(job)  # which recomputes the totals from the rows once


def _poll_batches(
    job: BatchJob, open_batches: list[ProviderBatch], provider: _Provider, *, force: bool
) -> None:
    if job.cancel_requested_at is not None and job.status == JobStatus.IN_PROGRESS:
        _cancel_at_provider(job, open_batches, provider)
    for batch in open_batches:
        if batch.is_done:  # its provider lost it while we canceled
            continue
        ended = batch.status == ProviderBatch.Status.ENDED
        if ended or ((force or _poll_due(batch)) and _poll_once(batch, provider)):
            _ingest(job, batch, provider)


def _poll_due(batch: ProviderBatch) -> bool:
    return batch.next_poll_at is None or batch.next_poll_at <= timezone.now()


def _poll_once(batch: ProviderBatch, provider: _Provider) -> bool:
    """Ask for the batch's status once; True when it has ended."""
    try:
        status: BatchStatus = provider.run(provider.batches.status(batch.batch_id))
    except anthropic.NotFoundError as exc:
        _lost_at_provider(batch, exc)
        return False
    except anthropic.APIError as exc:
        # Transient (429/529/5xx after the SDK's own retries) or not, try again after backoff.
        logger.warning("polling batch %s failed, will retry: %s", batch.batch_id, exc)
        _schedule_next_poll(batch)
        return False
    _record_status(batch, status)
    if status.ended:
        return True
    _schedule_next_poll(batch)
    return False


def _record_status(batch: ProviderBatch, status: BatchStatus) -> None:
    batch.status = status.processing_status
    batch.request_counts = {
        "processing": status.processing,
        "succeeded": status.succeeded,
        "errored": status.errored,
        "canceled": status.canceled,
        "expired": status.expired,
    }
    batch.processed_count = status.succeeded + status.errored + status.canceled + status.expired
    if status.ended and batch.ended_at is None:
        batch.ended_at = timezone.now()
    batch.save()


def _lost_at_provider(batch: ProviderBatch, exc: anthropic.NotFoundError) -> None:
    """The provider does not know the batch (it lost its state, or the key or workspace
    changed): its results can never be fetched, so its requests end errored, saying why."""
    reason = (
        f"the provider no longer knows batch {batch.batch_id} (404): its results cannot be "
        "fetched; retry these requests"
    )
    logger.warning("batch job %s: %s (%s)", batch.job_id, reason, exc)
    with transaction.atomic():
        for chunk in batched(list(batch.custom_ids), CHUNK):
            BatchJobRequest.objects.filter(
                job_id=batch.job_id, custom_id__in=chunk, outcome=Outcome.PENDING
            ).update(outcome=Outcome.ERRORED, error=reason, completed_at=timezone.now())
        batch.status = ProviderBatch.Status.ENDED
        batch.ended_at = batch.ended_at or timezone.now()
        batch.results_ingested_at = timezone.now()
        batch.save(update_fields=["status", "ended_at", "results_ingested_at"])
        BatchJob.objects.filter(pk=batch.job_id).update(error=reason[:2000])


def _schedule_next_poll(batch: ProviderBatch) -> None:
    delay = min(
        settings.LLMOPT_BATCH_POLL_INITIAL * 2 ** min(batch.poll_count, 30),
        settings.LLMOPT_BATCH_POLL_MAX,
    )
    batch.poll_count += 1
    batch.next_poll_at = timezone.now() + timedelta(seconds=delay)
    batch.save(update_fields=["poll_count", "next_poll_at"])


def _cancel_at_provider(job: BatchJob, batches: list[ProviderBatch], provider: _Provider) -> None:
    for batch in batches:
        if batch.status == ProviderBatch.Status.ENDED:
            continue
        try:
            _record_status(batch, provider.run(provider.batches.cancel(batch.batch_id)))
        except anthropic.NotFoundError as exc:
            _lost_at_provider(batch, exc)
        except anthropic.APIStatusError as exc:
            # Typically the batch ended a moment ago (cancel raced completion): collect it.
            if _is_transient(exc) and exc.status_code != 409:
                raise TransientProviderError(str(exc)) from exc
            logger.info("cancel of batch %s refused (%s); polling it", batch.batch_id, exc)
            batch.next_poll_at = None
            batch.save(update_fields=["next_poll_at"])
    job.status = JobStatus.CANCELING
    job.save(update_fields=["status", "updated_at"])


def _ingest(job: BatchJob, batch: ProviderBatch, provider: _Provider) -> None:
    """Stream the batch's results into the database a chunk per transaction, then mark it done.

    The batch client's raw path: each line is decoded once and stored as the API sent it.
    """
    batch.refresh_from_db(fields=["results_ingested_at"])
    if batch.is_done:  # another run stored them while this one waited
        return
    started = time.monotonic()
    count = 0
    row_ids = _row_ids(job)
    copy = connection.vendor == "postgresql"

    def prepare(items: list[RawBatchResult]) -> PreparedResults:
        return prepare_results(job=job, items=items, batch_mode=True, row_ids=row_ids, copy=copy)

    results = provider.batches.raw_results(batch.batch_id)
    for prepared in provider.chunks(results, settings.LLMOPT_BATCH_INGEST_CHUNK, then=prepare):
        write_results(job=job, prepared=prepared)
        count += len(prepared.results)
        _renew_lease(job)
    batch.results_ingested_at = timezone.now()
    batch.save(update_fields=["results_ingested_at"])
    logger.info(
        "batch %s: %d results stored in %.1f s", batch.batch_id, count, time.monotonic() - started
    )


def _row_ids(job: BatchJob) -> dict[str, int]:
    """custom_id → primary key of every request of the job, read once per ingest.

    Chunks are then matched to their rows by primary key. Matching by (job, custom_id) lets
    the planner, whose statistics never know a job just inserted, scan the whole job for
    every chunk (quadratic: 100,000 results meant 100 scans of 100,000 rows).
    """
    return dict(job.requests.values_list("custom_id", "id"))


class _Prices:
    """Prices calls through `pricing.cost_of`, once per distinct (usage, model) of a chunk:
    batch results repeat the same token counts a lot. Unknown models price as None, logged
    once per model."""

    def __init__(self, *, batch: bool, at: datetime) -> None:
        self.batch = batch
        self.at = at
        self._known: dict[tuple[TokenUsage, str], CallCost | None] = {}

    def __call__(self, usage: TokenUsage, model: str) -> CallCost | None:
        key = (usage, model)
        try:
            return self._known[key]
        except KeyError:
            pass
        try:
            priced: CallCost | None = cost_of(usage, model, batch=self.batch, at=self.at)
        except PriceNotFound:
            if model not in _UNPRICED:
                _UNPRICED.add(model)
                logger.warning("no price for model %r: its results have no cost", model)
            priced = None
        self._known[key] = priced
        return priced


_UNPRICED: set[str] = set()
# COPY text format: these characters would end a field or a row, or start an escape.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


_NULL = "\\N"  # COPY text format's NULL


def _copy_text(value: str) -> str:
    # The membership tests run in C; most text has none of the four and is returned as is.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


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
    (custom_id → primary key, see `_row_ids`) saves looking the rows up; a result whose
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
    for item in items:
        usage = item.usage
        cost = baseline = None
        message = item.message
        if message is not None:
            model = str(message.get("model") or job.model)
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
                    input_tokens=usage.input_tokens,
                    cache_write_5m_tokens=usage.cache_write_5m_tokens,
                    cache_write_1h_tokens=usage.cache_write_1h_tokens,
                    cache_read_tokens=usage.cache_read_tokens,
                    output_tokens=usage.output_tokens,
                    cost=Decimal(0) if cost is None else cost,
                    baseline_cost=Decimal(0) if baseline is None else baseline,
                    batch_id=item.batch_id or None,
                )
            )
        results.append((item, cost, baseline))
    copy_text = None
    if copy:
        stamp = now.isoformat()
        copy_text = "".join(
            [
                _copy_line(row_ids[item.custom_id], item, cost, baseline, stamp)
                for item, cost, baseline in results
            ]
        )
    return PreparedResults(results, events, copy_text, now)


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
            _refresh_totals(job)
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
        input_tokens=usage.input_tokens,
        cache_write_5m_tokens=usage.cache_write_5m_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        output_tokens=usage.output_tokens,
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


_RESULT_TYPES = {
    "batch_id": "text",
    "outcome": "text",
    "output_text": "text",
    "output": "jsonb",
    "error": "text",
    "input_tokens": "integer",
    "cache_write_5m_tokens": "integer",
    "cache_write_1h_tokens": "integer",
    "cache_read_tokens": "integer",
    "output_tokens": "integer",
    "cost": "numeric",
    "baseline_cost": "numeric",
    "completed_at": "timestamptz",
}
_COUNT_FIELDS = {
    Outcome.SUCCEEDED: "succeeded_count",
    Outcome.ERRORED: "errored_count",
    Outcome.CANCELED: "canceled_count",
    Outcome.EXPIRED: "expired_count",
}


def _copy_line(
    row_id: int, item: RawBatchResult, cost: Decimal | None, baseline: Decimal | None, now: str
) -> str:
    """One result in COPY text format, in `id, *_RESULT_TYPES` order (batch ids are the
    provider's, letters, digits and underscores)."""
    usage = item.usage
    message = item.message
    if message is None:
        output, output_text = _NULL, ""
    else:
        # The JSON encoder escapes tabs and line breaks itself; only backslashes remain.
        output = _encode_json(message).replace("\\", "\\\\")
        output_text = _copy_text(item.text)
    return (
        f"{row_id}\t{item.batch_id}\t{item.outcome}\t"
        f"{output_text}\t{output}\t{_copy_text(item.error_text or '')}\t"
        f"{usage.input_tokens}\t{usage.cache_write_5m_tokens}\t{usage.cache_write_1h_tokens}\t"
        f"{usage.cache_read_tokens}\t{usage.output_tokens}\t"
        f"{_NULL if cost is None else cost}\t{_NULL if baseline is None else baseline}\t{now}\n"
    )


def _store_results_postgresql(job: BatchJob, copy_text: str) -> None:
    """COPY the results into a temporary table and update their rows from it, by primary key,
    in one statement that also reads what the rows held before, so the job's counts and costs
    move by exactly what this chunk changed."""
    table = BatchJobRequest._meta.db_table
    assignments = ", ".join(f"{name} = i.{name}" for name in _RESULT_TYPES)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_INCOMING} (id bigint, "
            + ", ".join(f"{name} {kind}" for name, kind in _RESULT_TYPES.items())
            + ") ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy(f"COPY {_INCOMING} FROM STDIN") as copy:
            copy.write(copy_text)
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
            f"  FROM {table} AS r JOIN {_INCOMING} AS i ON r.id = i.id), "
            f"new AS (UPDATE {table} AS r SET {assignments} FROM {_INCOMING} AS i "
            "  WHERE r.id = i.id RETURNING r.outcome, r.cost, r.baseline_cost) "
            "SELECT 1, outcome, count(*), sum(cost), sum(baseline_cost) FROM new GROUP BY outcome "
            "UNION ALL "
            "SELECT -1, outcome, count(*), sum(cost), sum(baseline_cost) FROM old GROUP BY outcome"
        )
        changes = cursor.fetchall()
        cursor.execute(
            "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT; "
            f"TRUNCATE {_INCOMING}"
        )
    _move_totals(job, changes)


_INCOMING = "batch_results_incoming"


def _move_totals(job: BatchJob, changes: Sequence[tuple[int, str, int, Any, Any]]) -> None:
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


def _refresh_totals(job: BatchJob) -> None:
    """Recompute the job's counts and costs from its rows (never incremented)."""
    totals = job.requests.aggregate(
        succeeded=Count("id", filter=Q(outcome=Outcome.SUCCEEDED)),
        errored=Count("id", filter=Q(outcome=Outcome.ERRORED)),
        canceled=Count("id", filter=Q(outcome=Outcome.CANCELED)),
        expired=Count("id", filter=Q(outcome=Outcome.EXPIRED)),
        cost=Sum("cost"),
        baseline=Sum("baseline_cost"),
    )
    processed = job.provider_batches.aggregate(n=Sum("processed_count"))["n"] or 0
    BatchJob.objects.filter(pk=job.pk).update(
        succeeded_count=totals["succeeded"],
        errored_count=totals["errored"],
        canceled_count=totals["canceled"],
        expired_count=totals["expired"],
        cost=totals["cost"] or Decimal(0),
        baseline_cost=totals["baseline"] or Decimal(0),
        provider_processed_count=processed,
        updated_at=timezone.now(),
    )
    job.refresh_from_db()


def _finish(job: BatchJob) -> None:
    missing = job.requests.filter(outcome=Outcome.PENDING).update(
        outcome=Outcome.ERRORED,
        error="missing from the batch results",
        completed_at=timezone.now(),
    )
    if missing:
        logger.warning("batch job %s: %d requests had no result", job.pk, missing)
    _refresh_totals(job)
    # Canceled when the operator asked and not everything had finished: some requests were
    # canceled, or lost with a batch the provider no longer knows.
    canceled = job.cancel_requested_at is not None and job.succeeded_count < job.request_count
    job.status = JobStatus.CANCELED if canceled else JobStatus.ENDED
    job.ended_at = job.ended_at or timezone.now()
    job.save(update_fields=["status", "ended_at", "updated_at"])
    logger.info(
        "batch job %s %s: %d succeeded, %d errored, %d canceled, %d expired",
        job.pk,
        job.status,
        job.succeeded_count,
        job.errored_count,
        job.canceled_count,
        job.expired_count,
    )


# --- the standard API (retries an operator sends now, at full price) ----------------------


def _run_standard(job: BatchJob) -> None:
    """Send each pending request through the Messages API; results are stored as each small
    group finishes, so a killed run resumes with the requests still pending (resending at most
    the group in flight). A request the provider turns away for now (429, 529, 5xx, connection)
    stays pending: the run stops and the task retries it later, backing off."""
    job.status = JobStatus.IN_PROGRESS
    job.submitted_at = job.submitted_at or timezone.now()
    job.save(update_fields=["status", "submitted_at", "updated_at"])
    with _provider(job) as provider:
        pending = job.requests.filter(outcome=Outcome.PENDING).order_by("position")
        rows = list(pending.values_list("position", "custom_id", "params", "id"))
        row_ids = {custom_id: row_id for _, custom_id, _, row_id in rows}
        for group in batched(rows, STANDARD_CONCURRENCY * 4):
            job.refresh_from_db(fields=["cancel_requested_at"])
            if job.cancel_requested_at is not None:
                break
            items, paused = provider.run(_call_standard(provider.sdk, group))
            store_results(job=job, items=items, batch_mode=False, row_ids=row_ids)
            _renew_lease(job)
            if paused:
                _refresh_totals(job)
                message = f"{len(paused)} requests paused by the provider, will retry: {paused[0]}"
                _note_error(job, message)
                raise TransientProviderError(message)
    job.requests.filter(outcome=Outcome.PENDING).update(
        outcome=Outcome.CANCELED, error="canceled by the operator", completed_at=timezone.now()
    )
    _finish(job)


async def _call_standard(
    sdk: anthropic.AsyncAnthropic, group: Iterable[tuple[int, str, dict[str, Any], int]]
) -> tuple[list[RawBatchResult], list[anthropic.APIError]]:
    """(final results, errors worth trying again later) of one group of standard calls."""
    limit = asyncio.Semaphore(STANDARD_CONCURRENCY)

    async def one(
        position: int, custom_id: str, params: dict[str, Any]
    ) -> RawBatchResult | anthropic.APIError:
        async with limit:
            try:
                response = await sdk.messages.create(**params)
            except anthropic.APIError as exc:
                if _is_transient(exc):
                    return exc
                body = exc.body if isinstance(exc.body, dict) else None
                return RawBatchResult(
                    position, custom_id, "errored", None, body, str(exc)[:2000], TokenUsage(), ""
                )
            except Exception as exc:  # refused by the SDK before sending (e.g. max_tokens too
                # large for a non-streaming call): this request fails on its own, saying why
                error = f"{type(exc).__name__}: {exc}"[:2000]
                return RawBatchResult(
                    position, custom_id, "errored", None, None, error, TokenUsage(), ""
                )
        # The fields the API sent, as it sent them (what a batch result line holds).
        message = response.model_dump(mode="json", exclude_unset=True)
        return RawBatchResult.from_message(position, custom_id, message)

    outcomes = await asyncio.gather(*(one(*row[:3]) for row in group))
    results = [item for item in outcomes if isinstance(item, RawBatchResult)]
    paused = [item for item in outcomes if isinstance(item, anthropic.APIError)]
    return results, paused


# --- the periodic sweep -----------------------------------------------------------------


def batch_jobs_sweep() -> list[tuple[str, int]]:
    """(task, job id) for every open job that needs a worker now; the beat task enqueues them.

    Catches what a lost or killed task left behind: queued jobs never submitted, jobs whose
    poll is due, and jobs whose lease lapsed mid-way. A job whose task is still waiting in
    the queue (nudged less than a lease length ago) is left alone, so a busy worker's queue
    does not fill with repeats; a task lost with its broker is re-sent after that.
    """
    now = timezone.now()
    idle = (Q(lease_until__isnull=True) | Q(lease_until__lt=now)) & (
        Q(nudged_at__isnull=True) | Q(nudged_at__lt=now - _lease_length())
    )
    todo: list[tuple[str, int]] = []
    for job in BatchJob.objects.filter(idle, status__in=OPEN_JOB_STATUSES).prefetch_related(
        "provider_batches"
    ):
        if job.status in (JobStatus.QUEUED, JobStatus.SUBMITTING) or (
            job.mode == JobMode.STANDARD and job.status == JobStatus.IN_PROGRESS
        ):
            todo.append(("submit_job", job.pk))
            continue
        open_batches = [b for b in job.provider_batches.all() if not b.is_done]
        if (
            not open_batches
            or (job.cancel_requested_at is not None and job.status == JobStatus.IN_PROGRESS)
            or any(b.status == ProviderBatch.Status.ENDED or _poll_due(b) for b in open_batches)
        ):
            todo.append(("poll_job", job.pk))
    return todo
