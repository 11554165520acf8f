"""Batch jobs under faults: each group of requests is created at most once, every job ends.

Task bodies run in-process against the simulator over real HTTP; "a crashed run" is the state
such a run leaves in the database and at the provider.
"""

from __future__ import annotations

import time
from typing import Any

import anthropic
import pytest
from anthropic.types.messages import MessageBatch

from llmopt_admin.batches import leases, polling, selectors, services, submission
from llmopt_admin.batches.models import (
    BatchJob,
    JobMode,
    JobStatus,
    Outcome,
    ProviderBatch,
    ProviderBatchIntent,
)
from llmopt_admin.batches.state_store import DjangoBatchStateStore
from optimization.batch_state import SubmitIntent
from optimization.batch_wire import BatchBody, BatchRequest
from optimization.simulator import Faults

from .conftest import Simulator, make_requests
from .test_services import _run_to_end

pytestmark = pytest.mark.django_db(transaction=True)


def batches_at_the_provider(simulator: Simulator) -> list[Any]:
    with anthropic.Anthropic(base_url=simulator.base_url, api_key="k") as sdk:
        return list(sdk.messages.batches.list(limit=100))


def crashed_create(job: BatchJob, simulator: Simulator, *, accepted: bool, age: float = 0) -> None:
    """What a run killed inside the create call leaves: the intent, and maybe the batch."""
    rows = list(job.requests.order_by("position").values_list("custom_id", "position", "params"))
    requests = [BatchRequest.from_params(custom_id, params) for custom_id, _, params in rows]
    DjangoBatchStateStore(job).save_intent(
        SubmitIntent(
            "intent-crashed",
            {custom_id: position for custom_id, position, _ in rows},
            {"job_id": job.pk},
            time.time() - age,
        )
    )
    if accepted:
        body = bytes(BatchBody(requests, range(len(requests))))
        with anthropic.Anthropic(base_url=simulator.base_url, api_key="k") as sdk:
            sdk.post(
                "/v1/messages/batches",
                cast_to=MessageBatch,
                content=body,
                options={"headers": {"Content-Type": "application/json"}},
            )


def test_a_batch_accepted_before_a_crash_recorded_it_is_adopted_not_sent_again(
    simulator: Simulator, fast_polls: None
) -> None:
    job = services.batch_job_create(requests=make_requests(6), submitted_by="t")
    crashed_create(job, simulator, accepted=True)
    job = _run_to_end(job, simulator)
    assert len(batches_at_the_provider(simulator)) == 1
    assert job.provider_batches.count() == 1
    assert job.succeeded_count == 6
    assert not ProviderBatchIntent.objects.exists()


def test_a_create_that_may_still_be_running_pauses_the_job_until_it_is_known(
    simulator: Simulator, fast_polls: None
) -> None:
    job = services.batch_job_create(requests=make_requests(4), submitted_by="t")
    crashed_create(job, simulator, accepted=False)
    with pytest.raises(leases.TransientProviderError, match="may still be being created"):
        submission.batch_job_submit(job_id=job.pk)
    assert batches_at_the_provider(simulator) == []
    # Long after, nothing was ever listed: it was never created, and now it is sent once.
    ProviderBatchIntent.objects.update(not_before=time.time() - 3_600)
    job = _run_to_end(job, simulator)
    assert len(batches_at_the_provider(simulator)) == 1
    assert job.succeeded_count == 4


def test_a_canceled_job_with_an_open_intent_cancels_the_batch_it_adopts(
    simulator: Simulator, fast_polls: None
) -> None:
    job = services.batch_job_create(requests=make_requests(3), submitted_by="t")
    crashed_create(job, simulator, accepted=True)
    services.batch_job_cancel(job=job)
    job = _run_to_end(job, simulator)
    assert job.status in (JobStatus.CANCELED, JobStatus.ENDED)
    assert job.provider_batches.count() == 1  # followed, not ignored
    assert len(batches_at_the_provider(simulator)) == 1


def test_a_batch_the_provider_no_longer_knows_ends_the_job_with_the_reason(
    simulator_factory: Any, fast_polls: None
) -> None:
    simulator_factory()
    job = services.batch_job_create(requests=make_requests(3), submitted_by="t")
    submission.batch_job_submit(job_id=job.pk)
    simulator_factory()  # the provider restarted without its state: the batch is unknown
    polling.batch_job_poll(job_id=job.pk, force=True)
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    assert job.errored_count == 3
    assert "no longer knows batch" in job.error
    assert set(job.requests.values_list("outcome", flat=True)) == {Outcome.ERRORED}


def test_canceling_a_batch_the_provider_lost_still_ends_the_job(
    simulator_factory: Any, fast_polls: None
) -> None:
    simulator_factory()
    job = services.batch_job_create(requests=make_requests(3), submitted_by="t")
    submission.batch_job_submit(job_id=job.pk)
    simulator_factory()
    services.batch_job_cancel(job=BatchJob.objects.get(pk=job.pk))
    polling.batch_job_poll(job_id=job.pk, force=True)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED
    assert "no longer knows batch" in job.error


def test_a_reused_provider_batch_id_never_moves_another_jobs_batch(
    simulator: Simulator, fast_polls: None
) -> None:
    first = _run_to_end(
        services.batch_job_create(requests=make_requests(2), submitted_by="t"), simulator
    )
    [taken] = first.provider_batches.values_list("batch_id", flat=True)
    second = services.batch_job_create(requests=make_requests(2, prefix="b"), submitted_by="t")
    DjangoBatchStateStore(second).save(taken, {"b-0": 0, "b-1": 1}, {})
    assert ProviderBatch.objects.get(job=first).custom_ids == {"req-0": 0, "req-1": 1}
    assert ProviderBatch.objects.get(job=second).custom_ids == {"b-0": 0, "b-1": 1}


def test_a_killed_standard_job_resumes_with_the_requests_it_had_not_stored(
    simulator: Simulator,
) -> None:
    job = services.batch_job_create(
        requests=make_requests(6), submitted_by="t", mode=JobMode.STANDARD
    )
    # The killed run had stored two results, then died: the job stays in progress.
    job.requests.filter(position__lt=2).update(outcome=Outcome.SUCCEEDED, output_text="kept")
    BatchJob.objects.filter(pk=job.pk).update(status=JobStatus.IN_PROGRESS, nudged_at=None)
    assert job.pk in selectors.batch_jobs_needing_work()[0]  # to submit
    polling.batch_job_poll(job_id=job.pk, force=True)  # a poll does not end it half-done
    assert BatchJob.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS
    submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    assert job.succeeded_count == 6
    kept = job.requests.filter(output_text="kept").values_list("position", flat=True)
    assert sorted(kept) == [0, 1]  # stored results were not sent again


def test_standard_jobs_keep_rate_limited_requests_pending_and_back_off(
    simulator_factory: Any, settings: Any
) -> None:
    settings.LLMOPT_PROVIDER_MAX_RETRIES = 0
    simulator_factory(faults=Faults(rate_limit=1.0))
    job = services.batch_job_create(
        requests=make_requests(4), submitted_by="t", mode=JobMode.STANDARD
    )
    with pytest.raises(leases.TransientProviderError, match="paused by the provider"):
        submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert set(job.requests.values_list("outcome", flat=True)) == {Outcome.PENDING}
    assert job.status == JobStatus.IN_PROGRESS
    simulator_factory()  # the provider recovers
    submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    assert job.succeeded_count == 4
