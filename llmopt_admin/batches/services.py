"""Batch jobs from the operator's side: create, cancel and retry them, and wake the worker.

A job is stored with its requests in one transaction (rows unique on (job, custom_id)) and
handed to a Celery task after commit. Everything after that (submitting, polling, storing
results, the periodic sweep) is the worker's (submission.py, polling.py, standard.py): it alone
talks to the provider, so the web app and manage.py commands never load the Anthropic SDK.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from llmopt_admin.batches.chunking import CHUNK, batched
from llmopt_admin.batches.models import (
    RETRYABLE_OUTCOMES,
    BatchJob,
    BatchJobRequest,
    JobMode,
    JobProvider,
    JobSource,
    JobStatus,
)
from llmopt_admin.batches.validation import ValidRequest

logger = logging.getLogger(__name__)


class JobActionRefused(ValueError):
    """An operator action that does not apply to the job in its current state."""


# --- creating ---------------------------------------------------------------------------


def submitter_label(*, user: AbstractBaseUser | AnonymousUser | None, token_name: str = "") -> str:
    """Who submitted: 'token:<name>' for API tokens, else the user name."""
    if token_name:
        return f"token:{token_name}"
    if user is not None and user.is_authenticated:
        return str(user.get_username())
    return "system"


def batch_job_create(
    *,
    requests: Sequence[ValidRequest],
    submitted_by: str,
    user: AbstractBaseUser | None = None,
    name: str = "",
    source: str = JobSource.API,
    mode: str = JobMode.BATCH,
    parent: BatchJob | None = None,
    provider: str = JobProvider.ANTHROPIC,
    model: str | None = None,
) -> BatchJob:
    """Store a job and its requests in one transaction; a worker submits it after commit.

    `provider` is where the worker sends it (the requests are in its format); `model`, when
    given, is the model the job is priced and listed as (an Azure OpenAI job's requests name
    deployments, a Gemini job's name none), else the requests' model ('mixed' if several).
    """
    if not requests:
        raise ValueError("a batch job needs at least one request")
    if not model:
        models = {str(r.params["model"]) for r in requests}
        model = models.pop() if len(models) == 1 else "mixed"
    with transaction.atomic():
        job = BatchJob.objects.create(
            provider=provider,
            model=model,
            mode=mode,
            source=source,
            name=name[:200],
            request_count=len(requests),
            submitted_by=submitted_by[:150],
            submitted_by_user=user if user is not None and user.is_authenticated else None,
            parent=parent,
        )
        rows = (
            BatchJobRequest(job=job, custom_id=r.custom_id, position=i, params=r.params)
            for i, r in enumerate(requests)
        )
        for chunk in batched(rows, CHUNK):
            BatchJobRequest.objects.bulk_create(chunk)
        transaction.on_commit(lambda: _nudge(job.pk, submit=True))
    logger.info("batch job %s stored: %d requests by %s", job.pk, len(requests), submitted_by)
    return job


def _nudge(job_id: int, *, submit: bool) -> None:
    """Wake the worker for the job: its submit task, or its poll task."""
    # Imported here: the tasks load the worker side, and with it the Anthropic SDK.
    from llmopt_admin.batches import tasks

    tasks.enqueue(tasks.submit_job if submit else tasks.poll_job, job_id)


# --- operator actions -------------------------------------------------------------------


def batch_job_cancel(*, job: BatchJob) -> BatchJob:
    """Ask for the job to stop; the worker cancels at the provider and collects what finished."""
    if job.is_final:
        raise JobActionRefused(f"job {job.pk} has already {job.status}; nothing to cancel")
    BatchJob.objects.filter(pk=job.pk, cancel_requested_at=None).update(
        cancel_requested_at=timezone.now()
    )
    job.refresh_from_db()
    started = job.status not in (JobStatus.QUEUED, JobStatus.SUBMITTING)
    transaction.on_commit(lambda: _nudge(job.pk, submit=not started))
    return job


def retryable_requests(job: BatchJob) -> list[ValidRequest]:
    """The job's errored, expired and canceled requests that no later retry has resolved or
    still runs."""
    handled = BatchJobRequest.objects.filter(job__parent=job).exclude(
        outcome__in=RETRYABLE_OUTCOMES
    )
    rows = (
        job.requests.filter(outcome__in=RETRYABLE_OUTCOMES)
        .exclude(custom_id__in=handled.values("custom_id"))
        .order_by("position")
        .values_list("custom_id", "params")
    )
    return [ValidRequest(custom_id=cid, params=params) for cid, params in rows]


def batch_job_retry(
    *, job: BatchJob, mode: str, submitted_by: str, user: AbstractBaseUser | None = None
) -> BatchJob:
    """A new job, linked to `job`, for its errored/expired requests (batch or standard API)."""
    if mode not in JobMode.values:
        raise JobActionRefused(f"mode must be one of {', '.join(JobMode.values)}, not {mode!r}")
    if not job.is_final:
        raise JobActionRefused(f"job {job.pk} is still {job.status}; retry once it has ended")
    requests = retryable_requests(job)
    if not requests:
        raise JobActionRefused(
            f"job {job.pk} has no errored, expired or canceled requests left to retry"
        )
    return batch_job_create(
        requests=requests,
        submitted_by=submitted_by,
        user=user,
        name=f"retry of job {job.pk}",
        source=JobSource.RETRY,
        mode=mode,
        parent=job,
        provider=job.provider,
        model=job.model if job.model != "mixed" else None,
    )
