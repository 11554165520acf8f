"""SyncGeminiBatchClient over real HTTP against the simulator's Gemini API, as its async twin
is tested (tests/optimization/test_gemini_batch_client.py).

Time never really passes: the poll sleep and clock are test_batch_client_sync's `FakeTime` (it
moves a frozen simulator's clock as it sleeps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import types

from optimization.batch_state import FileBatchStateStore
from optimization.batch_wire import BatchRequest
from optimization.exceptions import BatchError
from optimization.gemini_batch_client import GeminiBatchClient, SyncGeminiBatchClient
from tests.optimization.simulators import MakeSimulator
from tests.optimization.test_batch_client import ProcessKilled
from tests.optimization.test_batch_client_sync import FakeTime
from tests.optimization.test_gemini_batch_client import (
    LONG_SYSTEM,
    MODEL,
    frozen,
    gemini_batches,
    requests_for,
)


def sync_client(
    url: str, time: FakeTime | None = None, *, faults: str | None = None, **options: Any
) -> SyncGeminiBatchClient:
    """A sync client on a google-genai client of its own, pointed at the simulator."""
    headers = {"x-simulator-faults": faults} if faults else None
    sdk = genai.Client(
        api_key="test-key", http_options=types.HttpOptions(base_url=url, headers=headers)
    )
    if time is not None:
        options.update(sleep=time.sleep, clock=time.clock)
    options.setdefault("state_store", None)
    return SyncGeminiBatchClient(sdk, model=MODEL, **options)


@pytest.mark.parametrize("inline_max_bytes", [10_000_000, 400], ids=["inline", "file"])
def test_it_splits_and_answers_in_input_order_with_cache_reads(
    make_simulator: MakeSimulator, inline_max_bytes: int
) -> None:
    simulator = frozen(make_simulator)
    client = sync_client(
        simulator.url,
        FakeTime(simulator.clock),
        max_requests=2,
        inline_max_bytes=inline_max_bytes,
    )
    results = client.run(requests_for(simulator.url, 5, LONG_SYSTEM))
    assert len(gemini_batches(simulator)) == 3
    assert [item.custom_id for item in results] == ["r0", "r1", "r2", "r3", "r4"]
    for item in results:
        assert item.succeeded
        assert item.message is not None
        assert str(item.message.content).endswith(f"Question {item.position}")
        assert item.message.response_metadata["custom_id"] == item.custom_id
    reads = sorted(item.usage.cache_read_tokens for item in results)
    assert reads[0] == 0
    assert all(read > 2048 for read in reads[1:])


def test_the_twins_share_limits_and_rules() -> None:
    sdk = genai.Client(api_key="k", http_options=types.HttpOptions(base_url="http://127.0.0.1:9"))
    sync, both = (
        SyncGeminiBatchClient(sdk, model=f"models/{MODEL}"),
        GeminiBatchClient(sdk, model=MODEL),
    )
    assert sync.rules is both.rules
    assert (sync.model, sync.max_requests, sync.max_bytes, sync.inline_max_bytes) == (
        both.model,
        both.max_requests,
        both.max_bytes,
        both.inline_max_bytes,
    )


@pytest.mark.parametrize("inline_max_bytes", [10_000_000, 400], ids=["inline", "file"])
def test_raw_results_are_the_responses_as_sent_with_cache_reads_apart(
    make_simulator: MakeSimulator, inline_max_bytes: int
) -> None:
    simulator = frozen(make_simulator)
    client = sync_client(
        simulator.url, FakeTime(simulator.clock), inline_max_bytes=inline_max_bytes
    )
    [batch] = client.submit(requests_for(simulator.url, 3, LONG_SYSTEM))
    client.poll(batch.batch_id)
    raws = list(client.raw_results(batch.batch_id))
    assert [raw.position for raw in raws] == [0, 1, 2]
    for raw in raws:
        assert raw.succeeded
        assert raw.message is not None
        metadata = raw.message["usageMetadata"]
        cached = metadata.get("cachedContentTokenCount", 0)
        assert raw.usage.cache_read_tokens == cached
        assert raw.usage.input_tokens == metadata["promptTokenCount"] - cached
        assert raw.message["candidates"][0]["content"]["parts"][0]["text"].endswith(
            f"Question {raw.position}"
        )
    assert sum(raw.usage.cache_read_tokens > 0 for raw in raws) == 2
    items = list(client.results(batch.batch_id))
    assert [item.usage for item in items] == [raw.usage for raw in raws]


def test_errored_requests_are_reported_at_their_positions(make_simulator: MakeSimulator) -> None:
    simulator = frozen(make_simulator)
    client = sync_client(simulator.url, FakeTime(simulator.clock))
    requests = requests_for(simulator.url, 3)
    broken = BatchRequest.from_params("r1", {**requests[1].params, "notAField": 1})
    results = client.run([requests[0], broken, requests[2]])
    assert [item.outcome for item in results] == ["succeeded", "errored", "succeeded"]
    assert results[1].error is not None
    assert "notAField" in results[1].error


def test_status_cancel_and_collect_after_cancel(make_simulator: MakeSimulator) -> None:
    simulator = frozen(make_simulator, batch_seconds_per_request=1.0)
    client = sync_client(simulator.url, FakeTime(simulator.clock))
    [batch] = client.submit(requests_for(simulator.url, 5))
    with pytest.raises(BatchError):
        client.collect([batch])  # still running: its results may still come
    simulator.clock.advance(2.5)
    assert not client.cancel(batch.batch_id).ended
    status = client.poll(batch.batch_id)
    assert (status.succeeded, status.canceled) == (2, 3)
    results = client.collect([batch])
    assert sorted(item.outcome for item in results) == ["canceled"] * 3 + ["succeeded"] * 2
    assert client.status(batch.batch_id).ended


def test_an_interrupted_poll_cancels_the_batch_at_the_provider(
    make_simulator: MakeSimulator,
) -> None:
    simulator = frozen(make_simulator, batch_seconds_per_request=1_000.0)

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    client = sync_client(simulator.url, sleep=interrupted)
    [batch] = client.submit(requests_for(simulator.url, 2))
    with pytest.raises(KeyboardInterrupt):
        client.poll(batch.batch_id)
    stored = simulator.state.gemini.batches.store.get(batch.batch_id.removeprefix("batches/"))
    assert stored.cancel_initiated_at is not None


def test_a_lost_create_response_is_adopted_after_a_crash_and_never_sent_twice(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    store = FileBatchStateStore(tmp_path)
    requests = requests_for(simulator.url, 3)

    def die(seconds: float) -> None:
        raise ProcessKilled

    first = sync_client(
        simulator.url,
        faults="lose_response=1",
        state_store=store,
        create_options={"reconcile_delays": (1.0,), "sleep": die},
    )
    with pytest.raises(ProcessKilled):
        first.submit(requests)
    assert len(store.list_intents()) == 1
    second = sync_client(simulator.url, FakeTime(simulator.clock), state_store=store)
    [batch] = second.submit(requests, reconcile_open=True)
    assert [operation["name"] for operation in gemini_batches(simulator)] == [batch.batch_id]
    assert store.list_intents() == []
    second.poll(batch.batch_id)
    assert all(item.succeeded for item in second.collect([batch]))
    assert sorted(simulator.counts().billed_by_params.values()) == [1, 1, 1]


def test_a_restarted_process_resumes_the_open_batches(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    time = FakeTime(simulator.clock)
    first = sync_client(
        simulator.url, time, state_store=FileBatchStateStore(tmp_path), max_requests=2
    )
    submitted = first.submit(requests_for(simulator.url, 5))
    simulator.restart(keep_state=True)
    store = FileBatchStateStore(tmp_path)
    resumed = sync_client(simulator.url, time, state_store=store).resume_open()
    assert list(resumed) == [batch.batch_id for batch in submitted]
    results = [item for batch_results in resumed.values() for item in batch_results]
    assert [item.custom_id for item in results] == [f"r{i}" for i in range(5)]
    assert all(item.succeeded for item in results)
    assert store.list_open() == []
