"""End to end with a real Celery worker (+ beat) on Redis, killed and restarted mid-work.

The worker runs as a subprocess on Redis db 12 against this test's PostgreSQL database; the
simulator runs in this process with a frozen clock that the test moves forward.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.db.models import Count, Sum

from llmopt_admin.batches import services, tasks
from llmopt_admin.batches.models import BatchJob, JobStatus, Outcome
from llmopt_admin.savings.models import LedgerEvent

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
