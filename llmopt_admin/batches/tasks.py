"""Celery tasks of batch jobs. They only call the worker's stages (submission.py, polling.py);
the database holds all the state.

Every task is idempotent and safe to deliver twice (`acks_late`: a task whose worker dies is
delivered again). The beat schedule runs `sweep_open_jobs` every LLMOPT_BATCH_SWEEP_SECONDS,
which re-enqueues whatever a lost task left behind.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from llmopt_admin.batches.leases import TransientProviderError
from llmopt_admin.batches.models import BatchJob
from llmopt_admin.batches.polling import batch_job_poll
from llmopt_admin.batches.selectors import batch_jobs_needing_work
from llmopt_admin.batches.submission import batch_job_submit

logger = logging.getLogger(__name__)

_TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(bind=True, max_retries=None, **_TASK_OPTIONS)
def submit_job(self, job_id: int) -> None:  # type: ignore[no-untyped-def]
    """Submit a stored job; on a provider outage retry with backoff up to poll_max."""
    try:
        batch_job_submit(job_id=job_id)
    except TransientProviderError as exc:
        delay = min(settings.LLMOPT_BATCH_POLL_MAX, 2 ** min(self.request.retries, 6))
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task(**_TASK_OPTIONS)
def poll_job(job_id: int) -> None:
    """Poll a submitted job's batches whose turn has come and store the results of ended ones."""
    try:
        batch_job_poll(job_id=job_id)
    except TransientProviderError as exc:
        logger.warning("batch job %s: %s; the sweep will try again", job_id, exc)


@shared_task(**_TASK_OPTIONS)
def sweep_open_jobs() -> int:
    """Enqueue a submit or poll task for every open job that needs one; returns how many."""
    to_submit, to_poll = batch_jobs_needing_work()
    for job_id in to_submit:
        enqueue(submit_job, job_id)
    for job_id in to_poll:
        enqueue(poll_job, job_id)
    return len(to_submit) + len(to_poll)


def enqueue(task: Any, job_id: int) -> None:
    """Send `task` for `job_id`. A broker outage is logged, not raised: the sweep retries."""
    # Marked before sending: the task clears the mark when it starts, so a set mark means
    # "a task is waiting in the queue" and the sweep does not pile up repeats behind it.
    BatchJob.objects.filter(pk=job_id).update(nudged_at=timezone.now())
    try:
        task.delay(job_id)
    except Exception:  # the job is stored; the periodic sweep will pick it up
        logger.exception("could not enqueue %s for batch job %s", task.name, job_id)
