"""Submitting a batch job: each group of its requests becomes a provider batch at most once."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from llmopt_admin.batches.job_state import cancel_unsent, fail_job, mark_unsent, note_error
from llmopt_admin.batches.leases import TransientProviderError, leased, renew_lease
from llmopt_admin.batches.models import (
    BatchJob,
    JobMode,
    JobStatus,
    Outcome,
    ProviderBatch,
)
from llmopt_admin.batches.provider import is_transient, provider_for
from llmopt_admin.batches.standard import run_standard
from optimization.batch_client import BatchSubmitError
from optimization.batch_create import BatchInFlight
from optimization.batch_wire import BatchRequest
from optimization.exceptions import BatchError

logger = logging.getLogger(__name__)


def batch_job_submit(*, job_id: int) -> None:
    """Send a queued job to the provider (or run it through the standard API).

    Batches already accepted for this job (in the state store) are not sent again. Raises
    TransientProviderError when the provider is unreachable or overloaded; the task retries.
    """
    with leased(job_id) as job:
        if job is None:
            return
        standard = job.mode == JobMode.STANDARD
        if job.status not in (JobStatus.QUEUED, JobStatus.SUBMITTING) and not (
            standard and job.status == JobStatus.IN_PROGRESS  # a killed run resumes
        ):
            return
        nothing_sent = not (job.provider_batches.exists() or job.batch_intents.exists())
        if job.cancel_requested_at is not None and nothing_sent:
            cancel_unsent(job)
            return
        if standard:
            run_standard(job)
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
        renew_lease(job)
        with provider_for(job, positions) as provider:
            try:
                # Open intents are settled first: a batch an earlier run created without
                # hearing back is adopted, never sent again. A canceled job sends nothing new.
                provider.batches.submit(
                    [] if canceled else pending, meta={"job_id": job.pk}, reconcile_open=True
                )
            except BatchInFlight as exc:
                # An earlier run's create may still be running at the provider: never send
                # these requests again before that is known.
                note_error(job, f"submitting paused, will retry: {exc}")
                raise TransientProviderError(str(exc)) from exc
            except BatchSubmitError as exc:
                # Some batches were accepted (and saved); the rest were not sent.
                if is_transient(exc.__cause__):
                    note_error(job, f"submitting paused, will retry: {exc}")
                    raise TransientProviderError(str(exc)) from exc
                mark_unsent(job, [pending[i].custom_id for i in exc.positions], str(exc))
            except BatchError as exc:
                if is_transient(exc.__cause__):
                    note_error(job, f"submitting paused, will retry: {exc}")
                    raise TransientProviderError(str(exc)) from exc
                fail_job(job, f"the provider refused the batch: {exc}")
                return
        # The create may have outlived the lease: a run that lost the job writes no more (what
        # it created is recorded, and the run holding the job now follows it).
        renew_lease(job)
    if canceled:
        # Canceled while part of it was already accepted: send no more, collect the rest.
        sent = {cid for pb in job.provider_batches.all() for cid in pb.custom_ids}
        unsent = [cid for cid in positions if cid not in sent]
        if unsent:
            mark_unsent(job, unsent, "the job was canceled", outcome=Outcome.CANCELED)
    now = timezone.now()
    ProviderBatch.objects.filter(job=job, next_poll_at=None).update(
        next_poll_at=now + timedelta(seconds=settings.LLMOPT_BATCH_POLL_INITIAL)
    )
    job.status = JobStatus.IN_PROGRESS
    job.submitted_at = job.submitted_at or now
    job.error = ""
    job.save(update_fields=["status", "submitted_at", "error", "updated_at"])
    logger.info("batch job %s submitted", job.pk)
