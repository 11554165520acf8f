"""Reading batch jobs: lists, one job, its requests, and its results as streamed JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from llmopt_admin.batches.leases import lease_length
from llmopt_admin.batches.models import (
    OPEN_JOB_STATUSES,
    BatchJob,
    BatchJobRequest,
    JobMode,
    JobStatus,
    Outcome,
    ProviderBatch,
)
from optimization.pricing import token_counts, token_fields

STREAM_CHUNK = 1_000


def batch_job_list(*, status: str | None = None) -> QuerySet[BatchJob]:
    """Jobs, newest first, optionally only those with `status`."""
    jobs = BatchJob.objects.select_related("parent")
    if status:
        jobs = jobs.filter(status=status)
    return jobs


def batch_job_get(*, job_id: int) -> BatchJob:
    """One job; raises BatchJob.DoesNotExist."""
    return BatchJob.objects.select_related("parent", "submitted_by_user").get(pk=job_id)


def batch_job_requests(*, job: BatchJob, outcome: str | None = None) -> QuerySet[BatchJobRequest]:
    """The job's requests in input order, optionally only those with `outcome`."""
    rows = job.requests.order_by("position")
    if outcome:
        rows = rows.filter(outcome=outcome)
    return rows


def valid_outcome(value: str | None) -> str | None:
    """`value` if it names an outcome, else None (an unknown filter shows everything)."""
    return value if value in Outcome.values else None


def valid_status(value: str | None) -> str | None:
    return value if value in JobStatus.values else None


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def result_record(row: BatchJobRequest) -> dict[str, Any]:
    """One line of the results file: the request's outcome, output or error, usage and cost."""
    return {
        "custom_id": row.custom_id,
        "position": row.position,
        "outcome": row.outcome,
        "output_text": row.output_text if row.outcome == Outcome.SUCCEEDED else None,
        "output": row.output,
        "error": row.error or None,
        "batch_id": row.batch_id or None,
        "usage": token_fields(token_counts(row)),
        "cost": _money(row.cost),
        "baseline_cost": _money(row.baseline_cost),
    }


def batch_job_results_jsonl(*, job: BatchJob, outcome: str | None = None) -> Iterator[bytes]:
    """The job's results as JSONL lines in input order, read from the database in chunks, so a
    100,000-request job streams without being held in memory."""
    rows = batch_job_requests(job=job, outcome=outcome).defer("params")
    for row in rows.iterator(chunk_size=STREAM_CHUNK):
        yield json.dumps(result_record(row), ensure_ascii=False).encode() + b"\n"


def batch_jobs_needing_work() -> tuple[list[int], list[int]]:
    """(jobs to submit, jobs to poll): every open job that needs a worker now.

    Catches what a lost or killed task left behind: queued jobs never submitted, standard-API
    jobs a killed run left in progress, jobs whose poll is due, and jobs whose lease lapsed
    mid-way. A job whose task is still waiting in the queue (nudged less than a lease length
    ago) is left alone, so a busy worker's queue does not fill with repeats; a task lost with
    its broker is re-sent after that.
    """
    now = timezone.now()
    idle = (Q(lease_until__isnull=True) | Q(lease_until__lt=now)) & (
        Q(nudged_at__isnull=True) | Q(nudged_at__lt=now - lease_length())
    )
    to_submit: list[int] = []
    to_poll: list[int] = []
    for job in BatchJob.objects.filter(idle, status__in=OPEN_JOB_STATUSES).prefetch_related(
        "provider_batches"
    ):
        if job.status in (JobStatus.QUEUED, JobStatus.SUBMITTING) or (
            job.mode == JobMode.STANDARD and job.status == JobStatus.IN_PROGRESS
        ):
            to_submit.append(job.pk)
            continue
        open_batches = [b for b in job.provider_batches.all() if not b.is_done]
        if (
            not open_batches
            or (job.cancel_requested_at is not None and job.status == JobStatus.IN_PROGRESS)
            or any(b.status == ProviderBatch.Status.ENDED or b.poll_due for b in open_batches)
        ):
            to_poll.append(job.pk)
    return to_submit, to_poll
