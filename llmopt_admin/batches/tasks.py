"""Celery tasks of batch jobs. They only call worker.py (and services.enqueue); the database
holds all the state.

Every task is idempotent and safe to deliver twice (`acks_late`: a task whose worker dies is
delivered again). The beat schedule runs `sweep_open_jobs` every LLMOPT_BATCH_SWEEP_SECONDS,
which re-enqueues whatever a lost task left behind.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from llmopt_admin.batches import services, worker

logger = logging.getLogger(__name__)

_TASK_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


@shared_task(bind=True, max_retries=None, **_TASK_OPTIONS)
def submit_job(self, job_id: int) -> None:  # type: ignore[no-untyped-def]
    """Submit a stored job; on a provider outage retry with backoff up to poll_max."""
    try:
        worker.batch_job_submit(job_id=job_id)
    except worker.TransientProviderError as exc:
        delay = min(settings.LLMOPT_BATCH_POLL_MAX, 2 ** min(self.request.retries, 6))
        raise self.retry(exc=exc, countdown=delay) from exc


@shared_task(**_TASK_OPTIONS)
def poll_job(job_id: int) -> None:
    """Poll a submitted job's batches whose turn has come and store the results of ended ones."""
    try:
        worker.batch_job_poll(job_id=job_id)
    except worker.TransientProviderError as exc:
        logger.warning("batch job %s: %s; the sweep will try again", job_id, exc)


@shared_task(**_TASK_OPTIONS)
def sweep_open_jobs() -> int:
    """Enqueue a submit or poll task for every open job that needs one; returns how many."""
    todo = worker.batch_jobs_sweep()
    for task, job_id in todo:
        services.enqueue(task, job_id)
    return len(todo)
