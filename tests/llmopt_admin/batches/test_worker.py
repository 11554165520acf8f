"""End to end with a real Celery worker (+ beat) on Redis, killed and restarted mid-work.

The worker runs as a subprocess on Redis db 12 against this test's PostgreSQL database; the
simulator runs in this process with a frozen clock that the test moves forward.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db.models import Count, Sum

from llmopt_admin.batches import services, tasks
from llmopt_admin.batches.models import BatchJob, JobStatus, Outcome
from llmopt_admin.savings.models import LedgerEvent

from .conftest import Simulator, make_requests

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = os.environ.get("LLMOPT_TEST_BATCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LEASE_SECONDS = 3


def _wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Worker:
    """`celery -A llmopt_admin worker -B` in its own process group (so beat dies with it)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "llmopt_admin",
                "worker",
                "-B",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-s",
                str(self.log.parent / "beat-schedule"),
            ],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acknowledgement, like a crashed machine."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def worker_factory(
    simulator: Simulator, tmp_path: Path, settings: Any
) -> Iterator[Callable[..., Worker]]:
    redis.Redis.from_url(REDIS_URL).flushdb()  # db 12 is this suite's own
    database = django_settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "ANTHROPIC_BASE_URL": simulator.base_url,
        "LLMOPT_BATCH_SWEEP_SECONDS": "0.5",
        "LLMOPT_BATCH_POLL_INITIAL": "0.2",
        "LLMOPT_BATCH_POLL_MAX": "0.5",
        "LLMOPT_BATCH_LEASE_SECONDS": str(LEASE_SECONDS),
        "LLMOPT_BATCH_INGEST_CHUNK": "100",
    }
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = database["PASSWORD"]
    workers: list[Worker] = []
    # Tasks this process enqueues (transaction.on_commit) go to the same Redis db.
    from llmopt_admin.celery import app

    app.conf.broker_url = REDIS_URL

    def start() -> Worker:
        worker = Worker(env, tmp_path / "worker.log")
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    log = tmp_path / "worker.log"
    if log.exists():
        print(log.read_text()[-5000:])  # shown only when a test fails


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
    _wait_for(
        lambda: BatchJob.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS,
        timeout=60,
        what="submission",
    )
    simulator.finish_batches()
    _wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=60, what="the end")
    _assert_exactly_once(job, 5)


def test_a_worker_killed_mid_poll_resumes_after_restart_without_resubmitting(
    simulator: Simulator, worker_factory: Callable[..., Worker]
) -> None:
    worker = worker_factory()
    job = services.batch_job_create(requests=make_requests(20), submitted_by="t")
    _wait_for(
        lambda: job.provider_batches.filter(poll_count__gte=2).exists(),
        timeout=60,
        what="the worker polling the batch",
    )
    worker.kill()
    simulator.finish_batches()
    worker_factory()
    _wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=90, what="the end")
    assert job.provider_batches.count() == 1
    _assert_exactly_once(job, 20)


def test_a_worker_killed_mid_download_loses_and_duplicates_nothing(
    simulator: Simulator, worker_factory: Callable[..., Worker]
) -> None:
    count = 3_000
    worker = worker_factory()
    job = services.batch_job_create(requests=make_requests(count), submitted_by="t")
    _wait_for(lambda: job.provider_batches.exists(), timeout=60, what="submission")
    simulator.finish_batches()

    def partly_stored() -> bool:
        done = job.requests.filter(outcome=Outcome.SUCCEEDED).count()
        return 0 < done < count

    _wait_for(partly_stored, timeout=90, what="part of the results stored")
    worker.kill()
    stored = job.requests.filter(outcome=Outcome.SUCCEEDED).count()
    assert 0 < stored < count
    worker_factory()
    _wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=120, what="the end")
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
    _wait_for(
        lambda: BatchJob.objects.get(pk=job.pk).status == JobStatus.IN_PROGRESS,
        timeout=60,
        what="submission",
    )
    simulator.finish_batches()
    _wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=60, what="the end")
    for _ in range(3):
        tasks.poll_job.delay(job.pk)
    time.sleep(2)  # let the late duplicates run
    assert job.provider_batches.count() == 1
    _assert_exactly_once(job, 8)
