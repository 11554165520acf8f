"""How fast the batch worker stores a finished batch's results in PostgreSQL.

A job of BENCH_BATCH_RESULTS requests (default 100,000) is stored and submitted to the local
simulator (its own process, over real HTTP, as a remote provider would be); once the batch has
ended, one poll of the worker's service streams
the results file, decodes each line (the batch client's raw path), prices each request once,
updates the rows a chunk (LLMOPT_BATCH_INGEST_CHUNK) at a time and records their usage events
in the savings ledger — everything the Celery worker does. The simulator serving the file runs
on the same machine and its CPU time counts against the figure (it sends one HTTP chunk per
line). Uses its own database (BENCH_BATCHES_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/llmopt_bench_batches), created and migrated if missing.
Prints:

    BENCH batch_job_store_requests_per_s   storing the uploaded requests (bulk insert)
    BENCH batch_ingest_results_per_s       results downloaded, stored, priced and ledgered
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

BENCH_URL = os.environ.get(
    "BENCH_BATCHES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/llmopt_bench_batches"
)
RESULTS = int(os.environ.get("BENCH_BATCH_RESULTS", "100000"))
MODEL = "claude-haiku-4-5"


def _vacuum(url: str) -> None:
    """VACUUM ANALYZE the tables an ingest writes, untimed.

    This machine's PostgreSQL runs with autovacuum off, so every run's updated and deleted
    rows would stay behind and slow the next run's updates (bloated heap and indexes).
    """
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("batches_batchjobrequest", "batches_batchjob", "savings_ledgerevent"):
            conn.execute(f"VACUUM ANALYZE {table}")


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def _simulator() -> Iterator[str]:
    """`python -m optimization.simulator` in its own process, so it does not share our CPU
    time slice (GIL); fast enough that a 100,000-request batch ends in about a second."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "optimization.simulator", "--port", str(port), "--speed", "200000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the simulator did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _setup() -> None:
    os.environ["DATABASE_URL"] = BENCH_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llmopt_admin.settings")
    _ensure_database(BENCH_URL)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, skip_checks=True)


def main() -> None:
    _setup()
    import logging

    from django.conf import settings
    from django.db import connection

    from llmopt_admin.batches import polling, services, submission
    from llmopt_admin.batches.models import BatchJob, JobStatus
    from llmopt_admin.batches.provider import provider_for
    from llmopt_admin.batches.validation import ValidRequest
    from llmopt_admin.celery import app as celery_app

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    requests = [
        ValidRequest(
            custom_id=f"bench-{i}",
            params={
                "model": MODEL,
                "max_tokens": 16,
                "messages": [{"role": "user", "content": f"Classify ticket {i}"}],
            },
        )
        for i in range(RESULTS)
    ]
    _forget_earlier_runs()
    _vacuum(BENCH_URL)
    with _simulator() as base_url:
        settings.ANTHROPIC_BASE_URL = base_url
        # The bench drives the services itself; no broker is needed for the enqueue.
        celery_app.conf.broker_url = "memory://"

        started = time.perf_counter()
        job = services.batch_job_create(requests=requests, submitted_by="bench")
        stored = time.perf_counter() - started
        print(f"BENCH batch_job_store_requests_per_s {RESULTS / stored:.0f} results/s")

        submission.batch_job_submit(job_id=job.pk)
        batch = job.provider_batches.get()
        while batch.status != "ended":  # wait for the provider, untimed
            time.sleep(0.5)
            with provider_for(job) as provider:
                polling._poll_once(batch, provider)  # the status only
            batch.refresh_from_db()
        started = time.perf_counter()
        polling.batch_job_poll(job_id=job.pk, force=True)
        elapsed = time.perf_counter() - started
    job = BatchJob.objects.get(pk=job.pk)
    if job.status != JobStatus.ENDED or job.succeeded_count != RESULTS:
        raise RuntimeError(f"job ended {job.status} with {job.succeeded_count} of {RESULTS}")
    print(f"BENCH batch_ingest_results_per_s {RESULTS / elapsed:.0f} results/s")
    # Leave the database as small as it was: the next run measures the same work.
    _forget_earlier_runs()
    connection.close()
    _vacuum(BENCH_URL)


def _forget_earlier_runs() -> None:
    """Delete the bench's jobs (also those of an interrupted run) and their ledger events."""
    from llmopt_admin.batches.models import BatchJob
    from llmopt_admin.savings.models import LedgerEvent

    for pk in BatchJob.objects.filter(submitted_by="bench").values_list("pk", flat=True):
        LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{pk}-").delete()
        BatchJob.objects.filter(pk=pk).delete()


if __name__ == "__main__":
    main()
