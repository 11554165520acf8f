"""Batch job services against the simulator over real HTTP (task bodies run in-process)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import anthropic
import pytest
from django.utils import timezone

from llmopt_admin.batches import leases, polling, results, selectors, services, submission, tasks
from llmopt_admin.batches.models import BatchJob, BatchJobRequest, JobMode, JobStatus, Outcome
from llmopt_admin.batches.state_store import DjangoBatchStateStore
from llmopt_admin.savings.models import LedgerEvent
from optimization.batch_client import SyncAnthropicBatchClient
from optimization.batch_wire import BatchRequest
from optimization.pricing import TokenUsage, cost_of
from optimization.simulator import Faults

from .conftest import MODEL, Simulator, make_requests

pytestmark = pytest.mark.django_db(transaction=True)


def _run_to_end(job: BatchJob, simulator: Simulator, *, attempts: int = 30) -> BatchJob:
    """Drive a job like the worker would: submit (retrying outages), then poll until final."""
    for _ in range(attempts):
        try:
            submission.batch_job_submit(job_id=job.pk)
        except leases.TransientProviderError:
            continue
        job.refresh_from_db()
        if job.status not in (JobStatus.QUEUED, JobStatus.SUBMITTING):
            break
    simulator.finish_batches()
    for _ in range(attempts):
        with contextlib.suppress(leases.TransientProviderError):
            polling.batch_job_poll(job_id=job.pk, force=True)
        job.refresh_from_db()
        if job.is_final:
            return job
    raise AssertionError(f"job {job.pk} did not end: {job.status} {job.error}")


def _ledger(job: BatchJob) -> Any:
    return LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")


def test_a_job_goes_from_submission_to_stored_results_with_cost_and_baseline(
    simulator: Simulator, fast_polls: None
) -> None:
    job = services.batch_job_create(requests=make_requests(5), submitted_by="operator")
    assert job.status == JobStatus.QUEUED
    job = _run_to_end(job, simulator)

    assert job.status == JobStatus.ENDED
    assert (job.succeeded_count, job.errored_count, job.progress_percent) == (5, 0, 100)
    rows = list(job.requests.order_by("position"))
    assert [r.custom_id for r in rows] == [f"req-{i}" for i in range(5)]
    assert all(r.outcome == Outcome.SUCCEEDED and r.output_text for r in rows)
    expected = sum(
        (
            cost_of(
                TokenUsage(input_tokens=r.input_tokens, output_tokens=r.output_tokens),
                MODEL,
                batch=True,
            ).cost
            for r in rows
        ),
        Decimal(0),
    )
    assert job.cost == expected
    assert job.baseline_cost == 2 * job.cost  # the batch discount is half price
    assert _ledger(job).count() == 5
    assert set(_ledger(job).values_list("mode", flat=True)) == {"batch"}


def test_storing_the_same_results_again_adds_no_rows_or_charges(
    simulator: Simulator, fast_polls: None
) -> None:
    job = _run_to_end(
        services.batch_job_create(requests=make_requests(4), submitted_by="t"), simulator
    )
    cost, rows, events = job.cost, job.requests.count(), _ledger(job).count()
    # A duplicate delivery of the poll task after its results were already stored:
    job.provider_batches.update(results_ingested_at=None)
    BatchJob.objects.filter(pk=job.pk).update(status=JobStatus.IN_PROGRESS)
    tasks.poll_job(job.pk)
    tasks.poll_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    assert (job.cost, job.requests.count(), _ledger(job).count()) == (cost, rows, events)
    assert job.succeeded_count == 4


def test_a_restarted_submission_polls_accepted_batches_instead_of_resending_them(
    simulator: Simulator, fast_polls: None
) -> None:
    job = services.batch_job_create(requests=make_requests(6), submitted_by="t")
    # A worker sent the first three requests, then died before sending the rest.
    first = [BatchRequest.from_params(r.custom_id, r.params) for r in make_requests(3)]

    with anthropic.Anthropic(base_url=simulator.base_url, api_key="k") as sdk:
        client = SyncAnthropicBatchClient(sdk, model=MODEL, state_store=DjangoBatchStateStore(job))
        client.submit(first)
    job = _run_to_end(job, simulator)

    batches = list(job.provider_batches.order_by("id"))
    assert [b.request_count for b in batches] == [3, 3]
    assert batches[1].custom_ids == {"req-3": 3, "req-4": 4, "req-5": 5}
    assert job.succeeded_count == 6
    assert job.requests.count() == 6


def test_an_expired_batch_keeps_its_partial_results_and_offers_the_rest_for_retry(
    simulator_factory: Any, fast_polls: None
) -> None:
    simulator = simulator_factory(faults=Faults(batch_expired=0.5), seed=3)
    job = services.batch_job_create(requests=make_requests(10), submitted_by="t")
    submission.batch_job_submit(job_id=job.pk)
    simulator.clock.advance(90_000)  # past the 24-hour expiry
    polling.batch_job_poll(job_id=job.pk, force=True)
    job.refresh_from_db()

    assert job.status == JobStatus.ENDED
    assert job.expired_count > 0
    assert job.succeeded_count > 0
    assert job.succeeded_count + job.expired_count == 10
    expired = set(job.requests.filter(outcome=Outcome.EXPIRED).values_list("custom_id", flat=True))

    retry = services.batch_job_retry(job=job, mode=JobMode.BATCH, submitted_by="t")
    assert retry.parent_id == job.pk
    assert set(retry.requests.values_list("custom_id", flat=True)) == expired
    with pytest.raises(services.JobActionRefused, match="still queued"):
        services.batch_job_retry(job=retry, mode=JobMode.BATCH, submitted_by="t")


def test_a_retry_through_the_standard_api_resolves_errored_requests_at_full_price(
    simulator_factory: Any, fast_polls: None
) -> None:
    simulator = simulator_factory(faults=Faults(batch_errored=0.5), seed=5)
    job = _run_to_end(
        services.batch_job_create(requests=make_requests(8), submitted_by="t"), simulator
    )
    assert job.errored_count > 0
    retry = services.batch_job_retry(job=job, mode=JobMode.STANDARD, submitted_by="t")
    submission.batch_job_submit(job_id=retry.pk)
    retry.refresh_from_db()

    assert retry.status == JobStatus.ENDED
    assert retry.succeeded_count == job.errored_count
    assert retry.cost == retry.baseline_cost  # no batch discount on the standard API
    assert set(_ledger(retry).values_list("mode", flat=True)) == {"standard"}
    # Nothing left to retry: the child resolved every errored request.
    with pytest.raises(services.JobActionRefused, match="no errored, expired or canceled"):
        services.batch_job_retry(job=job, mode=JobMode.BATCH, submitted_by="t")


def test_it_survives_a_storm_of_429_529_and_500_answers(
    simulator_factory: Any, fast_polls: None
) -> None:
    simulator = simulator_factory(
        faults=Faults(rate_limit=0.3, overloaded=0.3, server_error=0.2), seed=11
    )
    job = _run_to_end(
        services.batch_job_create(requests=make_requests(12), submitted_by="t"),
        simulator,
        attempts=60,
    )
    assert job.status == JobStatus.ENDED
    assert job.provider_batches.count() == 1
    assert job.succeeded_count == 12
    assert job.requests.count() == 12
    assert _ledger(job).count() == 12


def test_a_cancel_stops_a_running_batch_and_keeps_what_finished(
    simulator_factory: Any, fast_polls: None
) -> None:
    simulator = simulator_factory(batch_seconds_per_request=10.0, batch_start_delay=0.0)
    job = services.batch_job_create(requests=make_requests(6), submitted_by="t")
    submission.batch_job_submit(job_id=job.pk)
    simulator.clock.advance(25)  # two requests done, four still waiting
    services.batch_job_cancel(job=BatchJob.objects.get(pk=job.pk))
    polling.batch_job_poll(job_id=job.pk, force=True)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELING
    simulator.clock.advance(5)  # past the cancel delay
    polling.batch_job_poll(job_id=job.pk, force=True)
    job.refresh_from_db()

    assert job.status == JobStatus.CANCELED
    assert (job.succeeded_count, job.canceled_count) == (2, 4)
    assert job.cost > 0


def test_a_cancel_that_races_completion_keeps_every_result(
    simulator: Simulator, fast_polls: None
) -> None:
    job = services.batch_job_create(requests=make_requests(3), submitted_by="t")
    submission.batch_job_submit(job_id=job.pk)
    simulator.finish_batches()  # the batch ends before the cancel reaches the provider
    services.batch_job_cancel(job=BatchJob.objects.get(pk=job.pk))
    polling.batch_job_poll(job_id=job.pk, force=True)
    job.refresh_from_db()

    assert job.status == JobStatus.ENDED
    assert (job.succeeded_count, job.canceled_count) == (3, 0)


def test_a_job_canceled_before_submission_never_reaches_the_provider(db: None) -> None:
    job = services.batch_job_create(requests=make_requests(3), submitted_by="t")
    services.batch_job_cancel(job=job)
    submission.batch_job_submit(job_id=job.pk)  # no simulator: any provider call would fail
    job.refresh_from_db()

    assert job.status == JobStatus.CANCELED
    assert job.canceled_count == 3
    assert not job.provider_batches.exists()
    with pytest.raises(services.JobActionRefused, match="already canceled"):
        services.batch_job_cancel(job=job)


def test_a_second_delivery_while_the_first_holds_the_job_does_nothing(
    simulator: Simulator, fast_polls: None
) -> None:
    job = services.batch_job_create(requests=make_requests(2), submitted_by="t")
    BatchJob.objects.filter(pk=job.pk).update(
        lease_owner="other-worker", lease_until=timezone.now() + timedelta(minutes=1)
    )
    tasks.submit_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert not job.provider_batches.exists()
    # Once the other worker's claim lapses (it was killed), the job moves on.
    BatchJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    tasks.submit_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.IN_PROGRESS
    assert job.provider_batches.count() == 1


def test_a_provider_that_refuses_the_batch_fails_the_job_with_its_reason(
    simulator_factory: Any,
) -> None:
    simulator_factory(api_keys=frozenset({"the-right-key"}))
    job = services.batch_job_create(requests=make_requests(2), submitted_by="t")
    submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "refused" in job.error
    assert job.errored_count == 2


def test_an_unreachable_provider_leaves_the_job_queued_for_a_retry(settings: Any) -> None:
    settings.ANTHROPIC_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.LLMOPT_PROVIDER_MAX_RETRIES = 0
    job = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    with pytest.raises(leases.TransientProviderError):
        submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUBMITTING
    assert "will retry" in job.error
    # Once the task's own retry is overdue, the periodic sweep sends the job again.
    BatchJob.objects.filter(pk=job.pk).update(nudged_at=timezone.now() - timedelta(hours=1))
    assert job.pk in selectors.batch_jobs_needing_work()[0]  # to submit


def test_the_sweep_picks_jobs_that_need_a_worker_and_skips_claimed_or_nudged_ones(
    db: None,
) -> None:
    queued = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    claimed = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    BatchJob.objects.filter(pk=claimed.pk).update(
        lease_owner="w", lease_until=timezone.now() + timedelta(minutes=1)
    )
    nudged = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    ended = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    BatchJob.objects.filter(pk=ended.pk).update(status=JobStatus.ENDED)
    running = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    BatchJob.objects.filter(pk=running.pk).update(status=JobStatus.IN_PROGRESS)
    running.provider_batches.create(batch_id="b-due", next_poll_at=timezone.now())
    waiting = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    BatchJob.objects.filter(pk=waiting.pk).update(status=JobStatus.IN_PROGRESS)
    waiting.provider_batches.create(
        batch_id="b-later", next_poll_at=timezone.now() + timedelta(minutes=1)
    )

    BatchJob.objects.update(nudged_at=None)  # as if no task had been sent yet ...
    BatchJob.objects.filter(pk=nudged.pk).update(nudged_at=timezone.now())  # ... but this one
    assert selectors.batch_jobs_needing_work() == ([queued.pk], [running.pk])


def test_it_refuses_an_empty_job(db: None) -> None:
    with pytest.raises(ValueError, match="at least one request"):
        services.batch_job_create(requests=[], submitted_by="t")


def test_requests_are_unique_per_job_and_custom_id(db: None) -> None:
    job = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        BatchJobRequest.objects.create(job=job, custom_id="req-0", position=1, params={})


def test_the_portable_upsert_path_updates_rows_in_place(db: None) -> None:
    job = services.batch_job_create(requests=make_requests(2), submitted_by="t")
    row = BatchJobRequest(
        job=job, custom_id="req-1", position=1, params={}, outcome=Outcome.ERRORED, error="boom"
    )
    results.upsert_results([row])
    results.upsert_results([row])  # again: still one row, same values
    stored = job.requests.get(custom_id="req-1")
    assert (stored.outcome, stored.error, job.requests.count()) == (Outcome.ERRORED, "boom", 2)
    assert stored.params == make_requests(2)[1].params  # the request itself is untouched


def test_a_canceled_job_offers_its_unfinished_requests_for_retry(
    simulator_factory: Any, fast_polls: None
) -> None:
    simulator = simulator_factory(batch_seconds_per_request=10.0, batch_start_delay=0.0)
    job = services.batch_job_create(requests=make_requests(6), submitted_by="t")
    submission.batch_job_submit(job_id=job.pk)
    simulator.clock.advance(25)  # two requests done, four still waiting
    services.batch_job_cancel(job=BatchJob.objects.get(pk=job.pk))
    polling.batch_job_poll(job_id=job.pk, force=True)
    simulator.clock.advance(5)
    polling.batch_job_poll(job_id=job.pk, force=True)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELED
    unfinished = services.retryable_requests(job)
    assert len(unfinished) == job.canceled_count == 4
    retry = services.batch_job_retry(job=job, mode=JobMode.BATCH, submitted_by="t")
    assert retry.request_count == 4
