"""Polling a submitted job's provider batches, storing the results of ended ones, and canceling."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from llmopt_admin.batches.chunking import CHUNK, batched
from llmopt_admin.batches.job_state import finish_job, refresh_totals
from llmopt_admin.batches.leases import TransientProviderError, leased, renew_lease
from llmopt_admin.batches.models import (
    BatchJob,
    BatchJobRequest,
    JobMode,
    JobStatus,
    Outcome,
    ProviderBatch,
)
from llmopt_admin.batches.provider import Provider, is_transient, provider_for
from llmopt_admin.batches.results import PreparedResults, prepare_results, row_ids, write_results
from optimization.batch_client import BatchStatus
from optimization.batch_wire import RawBatchResult

logger = logging.getLogger(__name__)


def batch_job_poll(*, job_id: int, force: bool = False) -> None:
    """Check each open provider batch of the job whose poll is due; ingest the ended ones.

    Between polls a batch waits poll_initial, doubling up to poll_max (the batch client's
    schedule, spread over sweeps instead of holding a worker). `force` polls every batch now.
    """
    with leased(job_id) as job:
        if job is None or job.status not in (JobStatus.IN_PROGRESS, JobStatus.CANCELING):
            return
        if job.mode == JobMode.STANDARD:  # no provider batches: its submit run resumes it
            return
        open_batches = list(job.provider_batches.filter(results_ingested_at=None))
        if open_batches:
            with provider_for(job) as provider:
                try:
                    _poll_batches(job, open_batches, provider, force=force)
                except provider.api_error as exc:
                    # e.g. the results download failed after the SDK's retries: what was
                    # stored stays, and the next sweep downloads (and upserts) again.
                    refresh_totals(job)
                    raise TransientProviderError(f"batch job {job.pk}: {exc}") from exc
        if job.provider_batches.filter(results_ingested_at=None).exists():
            refresh_totals(job)
        else:
            finish_job(job)  # which recomputes the totals from the rows once


def _poll_batches(
    job: BatchJob, open_batches: list[ProviderBatch], provider: Provider, *, force: bool
) -> None:
    if job.cancel_requested_at is not None and job.status == JobStatus.IN_PROGRESS:
        _cancel_at_provider(job, open_batches, provider)
    for batch in open_batches:
        if batch.is_done:  # its provider lost it while we canceled
            continue
        ended = batch.status == ProviderBatch.Status.ENDED
        if ended or ((force or batch.poll_due) and _poll_once(batch, provider)):
            _ingest(job, batch, provider)


def _poll_once(batch: ProviderBatch, provider: Provider) -> bool:
    """Ask for the batch's status once; True when it has ended."""
    try:
        status = provider.batches.status(batch.batch_id)
    except provider.not_found as exc:
        _lost_at_provider(batch, exc)
        return False
    except provider.api_error as exc:
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


def _lost_at_provider(batch: ProviderBatch, exc: Exception) -> None:
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


def _cancel_at_provider(job: BatchJob, batches: list[ProviderBatch], provider: Provider) -> None:
    for batch in batches:
        if batch.status == ProviderBatch.Status.ENDED:
            continue
        try:
            _record_status(batch, provider.batches.cancel(batch.batch_id))
        except provider.not_found as exc:
            _lost_at_provider(batch, exc)
        except provider.status_error as exc:
            # Typically the batch ended a moment ago (cancel raced completion): collect it.
            if is_transient(exc) and getattr(exc, "status_code", None) != 409:
                raise TransientProviderError(str(exc)) from exc
            logger.info("cancel of batch %s refused (%s); polling it", batch.batch_id, exc)
            batch.next_poll_at = None
            batch.save(update_fields=["next_poll_at"])
    job.status = JobStatus.CANCELING
    job.save(update_fields=["status", "updated_at"])


def _ingest(job: BatchJob, batch: ProviderBatch, provider: Provider) -> None:
    """Stream the batch's results into the database a chunk per transaction, then mark it done.

    The batch client's raw path: each line is decoded once and stored as the API sent it.
    """
    batch.refresh_from_db(fields=["results_ingested_at"])
    if batch.is_done:  # another run stored them while this one waited
        return
    started = time.monotonic()
    count = 0
    ids = row_ids(job)
    copy = connection.vendor == "postgresql"

    def prepare(items: list[RawBatchResult]) -> PreparedResults:
        return prepare_results(job=job, items=items, batch_mode=True, row_ids=ids, copy=copy)

    results = provider.batches.raw_results(batch.batch_id)
    for prepared in provider.chunks(results, settings.LLMOPT_BATCH_INGEST_CHUNK, then=prepare):
        write_results(job=job, prepared=prepared)
        count += len(prepared.results)
        renew_lease(job)
    batch.results_ingested_at = timezone.now()
    batch.save(update_fields=["results_ingested_at"])
    logger.info(
        "batch %s: %d results stored in %.1f s", batch.batch_id, count, time.monotonic() - started
    )
