"""A batch job's state as its requests settle: errors noted, requests left unsent, totals
recomputed from the rows, and the job's end."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from llmopt_admin.batches.chunking import CHUNK, batched
from llmopt_admin.batches.models import (
    BatchJob,
    JobStatus,
    Outcome,
)

logger = logging.getLogger(__name__)


def note_error(job: BatchJob, message: str) -> None:
    job.error = message[:2000]
    job.save(update_fields=["error", "updated_at"])


def fail_job(job: BatchJob, message: str) -> None:
    job.requests.filter(outcome=Outcome.PENDING).update(
        outcome=Outcome.ERRORED, error=message[:2000], completed_at=timezone.now()
    )
    refresh_totals(job)
    job.status = JobStatus.FAILED
    job.error = message[:2000]
    job.ended_at = timezone.now()
    job.save()
    logger.warning("batch job %s failed: %s", job.pk, message)


def mark_unsent(
    job: BatchJob, custom_ids: Sequence[str], message: str, *, outcome: str = Outcome.ERRORED
) -> None:
    for chunk in batched(custom_ids, CHUNK):
        job.requests.filter(custom_id__in=chunk, outcome=Outcome.PENDING).update(
            outcome=outcome, error=f"not submitted: {message}"[:2000], completed_at=timezone.now()
        )
    if outcome == Outcome.ERRORED:
        note_error(job, f"{len(custom_ids)} requests could not be submitted: {message}")


def cancel_unsent(job: BatchJob) -> None:
    job.requests.filter(outcome=Outcome.PENDING).update(
        outcome=Outcome.CANCELED, error="canceled before submission", completed_at=timezone.now()
    )
    refresh_totals(job)
    job.status = JobStatus.CANCELED
    job.ended_at = timezone.now()
    job.save()


def refresh_totals(job: BatchJob) -> None:
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


def finish_job(job: BatchJob) -> None:
    missing = job.requests.filter(outcome=Outcome.PENDING).update(
        outcome=Outcome.ERRORED,
        error="missing from the batch results",
        completed_at=timezone.now(),
    )
    if missing:
        logger.warning("batch job %s: %d requests had no result", job.pk, missing)
    refresh_totals(job)
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
