"""The worker's provider: sync clients, results read a chunk ahead on a thread of their own, and
standard-API calls a few at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from llmopt_admin.batches import services, standard, submission
from llmopt_admin.batches.models import BatchJob, JobMode, JobStatus
from llmopt_admin.batches.provider import provider_for
from optimization.batch_client import SyncAnthropicBatchClient
from optimization.batch_wire import RawBatchResult
from optimization.pricing import TokenUsage

from .conftest import MODEL, make_requests


class Source:
    """An iterator of 0, 1, 2, ... that records which thread read each item and whether it
    was closed; `fail_at` raises there instead."""

    def __init__(self, count: int, *, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.readers: set[str] = set()
        self.read = 0
        self.closed = False

    def items(self) -> Iterator[int]:
        try:
            for i in range(self.count):
                if i == self.fail_at:
                    raise ConnectionResetError("broke off")
                self.readers.add(threading.current_thread().name)
                self.read += 1
                yield i
        finally:
            self.closed = True


def test_the_provider_drives_sync_clients_without_an_event_loop() -> None:
    with provider_for(BatchJob(model=MODEL)) as provider:
        assert isinstance(provider.sdk, anthropic.Anthropic)
        assert isinstance(provider.batches, SyncAnthropicBatchClient)
        assert not hasattr(provider, "loop")


def test_chunks_come_in_order_read_and_prepared_on_another_thread() -> None:
    source = Source(7)
    preparers: set[str] = set()

    def prepare(items: list[int]) -> list[int]:
        preparers.add(threading.current_thread().name)
        return [item * 10 for item in items]

    with provider_for(BatchJob(model=MODEL)) as provider:
        chunks = list(provider.chunks(source.items(), 3, then=prepare))
    assert chunks == [[0, 10, 20], [30, 40, 50], [60]]
    here = threading.current_thread().name
    assert here not in source.readers
    assert here not in preparers
    assert source.closed


def test_an_error_of_the_source_is_raised_at_the_chunk_it_broke() -> None:
    source = Source(10, fail_at=4)
    received: list[list[int]] = []
    with provider_for(BatchJob(model=MODEL)) as provider:

        def read_all() -> None:
            for chunk in provider.chunks(source.items(), 2):
                received.append(chunk)

        with pytest.raises(ConnectionResetError, match="broke off"):
            read_all()
    assert received == [[0, 1], [2, 3]]


def test_a_caller_stopping_early_closes_the_source_one_chunk_ahead_at_most() -> None:
    source = Source(1_000)
    with provider_for(BatchJob(model=MODEL)) as provider:
        chunks = provider.chunks(source.items(), 10)
        assert next(chunks) == list(range(10))
        chunks.close()
    assert source.closed
    assert source.read <= 20  # the chunk handed over and the one read ahead


@pytest.mark.django_db(transaction=True)
def test_standard_calls_run_a_few_at_a_time_on_one_sdk_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running = peak = 0
    clients: set[int] = set()
    lock = threading.Lock()

    def call_one(
        sdk: anthropic.Anthropic, position: int, custom_id: str, params: dict[str, Any]
    ) -> RawBatchResult:
        nonlocal running, peak
        with lock:
            clients.add(id(sdk))
            running += 1
            peak = max(peak, running)
        time.sleep(0.1)
        with lock:
            running -= 1
        message = {"model": MODEL, "content": [{"type": "text", "text": "hi"}], "usage": {}}
        return RawBatchResult(
            position, custom_id, "succeeded", message, None, None, TokenUsage(), ""
        )

    monkeypatch.setattr(standard, "_call_one", call_one)
    job = services.batch_job_create(
        requests=make_requests(12), submitted_by="t", mode=JobMode.STANDARD
    )
    submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    assert job.succeeded_count == 12
    assert peak == standard.STANDARD_CONCURRENCY
    assert len(clients) == 1
