"""End to end with a real Celery worker (+ beat) on Redis, killed and restarted mid-work.

The worker runs as a subprocess on Redis db 12 against this test's PostgreSQL database; the
simulator runs in this process with a frozen clock that the test moves forward.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anthropic
import httpx
import pytest
from django.db.models import Count, Sum

from llmopt_admin.batches import services, tasks
from llmopt_admin.batches.models import BatchJob, JobStatus, Outcome, ProviderBatchIntent
from llmopt_admin.savings.models import LedgerEvent
from optimization.simulator import Faults

from .conftest import Simulator, Worker, make_requests, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _assert_exactly_once(job: BatchJob, count: int) -> None:
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    assert job.requests.count() == count
    assert job.succeeded_count == count
    dupes = job.requests.values("custom_id").annotate(n=Count("id")).filter(n__gt=1)
    assert not dupes.exists()
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert events.count() == count
    assert job.cost == job.requests.aggregate(total=Sum("cost"))["total"]
    assert events.aggregate(total=Sum("cost"))["total"] == job.cost


def test_a_worker_submits_polls_and_stores_results(
    simulator: Simulator, worker_factory: Callable[..., Worker]
) -> None:
    worker_factory()
    job = services.batch_job_create(requests=make_requests(5), submitted_by="t")
    wait_for(
        lambda: BatchJob.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS,
        timeout=60,
        what="submission",
    )
    simulator.finish_batches()
    wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=60, what="the end")
    _assert_exactly_once(job, 5)


def test_a_worker_killed_mid_poll_resumes_after_restart_without_resubmitting(
    simulator: Simulator, worker_factory: Callable[..., Worker]
) -> None:
    worker = worker_factory()
    job = services.batch_job_create(requests=make_requests(20), submitted_by="t")
    wait_for(
        lambda: job.provider_batches.filter(poll_count__gte=2).exists(),
        timeout=60,
        what="the worker polling the batch",
    )
    worker.kill()
    simulator.finish_batches()
    worker_factory()
    wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=90, what="the end")
    assert job.provider_batches.count() == 1
    _assert_exactly_once(job, 20)


def test_a_worker_killed_mid_download_loses_and_duplicates_nothing(
    simulator: Simulator, worker_factory: Callable[..., Worker]
) -> None:
    count = 3_000
    worker = worker_factory()
    job = services.batch_job_create(requests=make_requests(count), submitted_by="t")
    wait_for(lambda: job.provider_batches.exists(), timeout=60, what="submission")
    simulator.finish_batches()

    def partly_stored() -> bool:
        done = job.requests.filter(outcome=Outcome.SUCCEEDED).count()
        return 0 < done < count

    wait_for(partly_stored, timeout=90, what="part of the results stored")
    worker.kill()
    stored = job.requests.filter(outcome=Outcome.SUCCEEDED).count()
    assert 0 < stored < count
    worker_factory()
    wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=120, what="the end")
    assert job.provider_batches.count() == 1
    _assert_exactly_once(job, count)


def test_duplicate_task_deliveries_submit_and_charge_once(
    simulator: Simulator, worker_factory: Callable[..., Worker]
) -> None:
    job = services.batch_job_create(requests=make_requests(8), submitted_by="t")
    for _ in range(3):  # the on_commit task plus two duplicates, queued before any worker runs
        tasks.submit_job.delay(job.pk)
        tasks.poll_job.delay(job.pk)
    worker_factory()
    wait_for(
        lambda: BatchJob.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS,
        timeout=60,
        what="submission",
    )
    simulator.finish_batches()
    wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=60, what="the end")
    for _ in range(3):
        tasks.poll_job.delay(job.pk)
    time.sleep(2)  # let the late duplicates run
    assert job.provider_batches.count() == 1
    _assert_exactly_once(job, 8)


def _billed_once_at_the_provider(simulator: Simulator, count: int) -> None:
    """The provider's own tally: one batch, every request sent and billed exactly once."""
    counts = httpx.get(f"{simulator.base_url}/_simulator/counts", timeout=10).json()
    assert len(counts["batch_requests"]) == count
    assert {tally["sent"] for tally in counts["batch_requests"].values()} == {1}
    assert set(counts["billed_by_params"].values()) == {1}
    with anthropic.Anthropic(base_url=simulator.base_url, api_key="k") as sdk:
        assert len(list(sdk.messages.batches.list())) == 1


def test_a_worker_killed_while_its_create_is_in_flight_never_pays_twice(
    simulator_factory: Callable[..., Simulator], worker_factory: Callable[..., Worker]
) -> None:
    # The provider makes the batch at once and answers 4 s later: the worker dies in between,
    # with only its intent recorded.
    simulator = simulator_factory(faults=Faults(create_delay_ms=4_000))
    worker = worker_factory()
    job = services.batch_job_create(requests=make_requests(5), submitted_by="t")
    wait_for(
        lambda: httpx.get(f"{simulator.base_url}/_simulator/counts").json()["batch_requests"],
        timeout=60,
        what="the create reaching the provider",
    )
    worker.kill()
    assert not job.provider_batches.exists()
    assert ProviderBatchIntent.objects.filter(job=job).exists()
    worker_factory()
    wait_for(lambda: job.provider_batches.exists(), timeout=60, what="the batch adopted")
    simulator.finish_batches()
    wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=90, what="the end")
    _assert_exactly_once(job, 5)
    _billed_once_at_the_provider(simulator, 5)


def test_a_lost_create_response_is_adopted_by_the_worker_not_sent_again(
    simulator_factory: Callable[..., Simulator], worker_factory: Callable[..., Worker]
) -> None:
    simulator = simulator_factory(faults=Faults(lose_response=1.0))
    worker_factory()
    job = services.batch_job_create(requests=make_requests(6), submitted_by="t")
    wait_for(lambda: job.provider_batches.exists(), timeout=60, what="the batch adopted")
    simulator.finish_batches()
    wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=90, what="the end")
    _assert_exactly_once(job, 6)
    _billed_once_at_the_provider(simulator, 6)
