"""SyncOpenAIBatchClient against the simulator's OpenAI and Azure routes over real HTTP, as
its async twin is tested (tests/optimization/test_openai_batch_client.py).

Time never really passes: the poll sleep and clock are test_batch_client_sync's `FakeTime`
(it moves a frozen simulator's clock as it sleeps); the SDK's retry waits are recorded by
`NoWaitSyncOpenAI`, never slept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from optimization.batch_state import FileBatchStateStore
from optimization.batch_wire import BatchRequest
from optimization.exceptions import BatchError
from optimization.openai_batch_client import (
    AZURE_ENDPOINT,
    OPENAI_ENDPOINT,
    OpenAIBatchClient,
    SyncOpenAIBatchClient,
)
from tests.optimization.simulators import LiveSimulator, MakeSimulator
from tests.optimization.test_batch_client import (
    ProcessKilled,
    assert_answers_match_positions,
    frozen,
)
from tests.optimization.test_batch_client_sync import FakeTime
from tests.optimization.test_openai_batch_client import (
    LONG_SYSTEM,
    MODEL,
    openai_batch_ids,
    outcomes_at_the_simulator,
    requests_for,
    retry_wait,
)


class NoWaitSyncOpenAI(openai.OpenAI):
    """The official sync SDK client, recording each retry wait instead of sleeping it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_waits: list[float] = []

    def _sleep_for_retry(
        self, *, retries_taken: int, max_retries: int, options: Any, response: Any
    ) -> None:
        self.retry_waits.append(retry_wait(self, max_retries - retries_taken, options, response))


@pytest.fixture
def sync_sdks() -> Iterator[Callable[..., NoWaitSyncOpenAI]]:
    """Build sync SDK clients for a simulator URL; all are closed after the test."""
    made: list[NoWaitSyncOpenAI] = []

    def build(url: str, *, faults: str | None = None, max_retries: int = 2) -> NoWaitSyncOpenAI:
        sdk = NoWaitSyncOpenAI(
            base_url=f"{url}/v1",
            api_key="sk-test",
            max_retries=max_retries,
            default_headers={"x-simulator-faults": faults} if faults else None,
        )
        made.append(sdk)
        return sdk

    yield build
    for sdk in made:
        sdk.close()


def sync_client(
    sdk: openai.OpenAI, time: FakeTime | None = None, **options: Any
) -> SyncOpenAIBatchClient:
    time = time or FakeTime()
    return SyncOpenAIBatchClient(sdk, model=MODEL, sleep=time.sleep, clock=time.clock, **options)


def test_it_splits_above_max_requests_and_answers_in_input_order(
    simulator: LiveSimulator, sync_sdks: Callable[..., NoWaitSyncOpenAI]
) -> None:
    client = sync_client(sync_sdks(simulator.url), max_requests=3)
    results = client.run(requests_for(7))
    assert len(openai_batch_ids(simulator)) == 3
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)
    assert client.state_store.list_open() == []
    assert client.endpoint == OPENAI_ENDPOINT


def test_the_twins_share_limits_rules_and_the_input_file() -> None:
    sync = SyncOpenAIBatchClient(
        openai.OpenAI(api_key="sk-test"), model=MODEL, max_requests=10**9, max_bytes=10**12
    )
    twin = OpenAIBatchClient(
        openai.AsyncOpenAI(api_key="sk-test"), model=MODEL, max_requests=10**9, max_bytes=10**12
    )
    assert (sync.max_requests, sync.max_bytes) == (twin.max_requests, twin.max_bytes)
    assert (sync.max_requests, sync.max_bytes) == (50_000, 200 * 1024 * 1024)
    assert sync.rules is twin.rules
    requests = requests_for(5)
    assert sync._split(requests) == twin._split(requests)
    assert bytes(sync._body(requests, range(5))) == bytes(twin._body(requests, range(5)))


def test_raw_results_are_the_completion_bodies_with_cache_reads_apart(
    simulator: LiveSimulator, sync_sdks: Callable[..., NoWaitSyncOpenAI]
) -> None:
    client = sync_client(sync_sdks(simulator.url))
    [batch] = client.submit(requests_for(4, system=LONG_SYSTEM))
    client.poll(batch.batch_id)
    raw = sorted(client.raw_results(batch.batch_id), key=lambda item: item.position)
    assert [item.custom_id for item in raw] == ["r0", "r1", "r2", "r3"]
    assert all(item.succeeded and item.model == MODEL for item in raw)
    for item in raw:
        assert item.message is not None
        assert item.text == item.message["choices"][0]["message"]["content"]
        assert f"Question {item.position}" in item.text
        prompt = item.message["usage"]["prompt_tokens"]
        assert item.usage.input_tokens + item.usage.cache_read_tokens == prompt
    assert sum(1 for item in raw if item.usage.cache_read_tokens) == 3


def test_failed_and_expired_requests_keep_their_outcomes_and_reasons(
    make_simulator: MakeSimulator, sync_sdks: Callable[..., NoWaitSyncOpenAI]
) -> None:
    simulator = frozen(make_simulator, batch_expiry_seconds=100.0)
    time = FakeTime(simulator.clock)
    faults = "batch_expired=0.3,batch_errored=0.3"
    results = sync_client(sync_sdks(simulator.url, faults=faults), time).run(requests_for(12))
    expected = outcomes_at_the_simulator(simulator)
    assert {item.custom_id: item.outcome for item in results} == expected
    assert Counter(expected.values()).keys() == {"succeeded", "errored", "expired"}
    for item in results:
        if item.outcome == "expired":
            assert "batch_expired" in (item.error or "")
        elif item.outcome == "errored":
            assert "500 server_error" in (item.error or "")
    assert_answers_match_positions(results)


def test_status_cancel_and_collect_after_cancel(
    make_simulator: MakeSimulator, sync_sdks: Callable[..., NoWaitSyncOpenAI]
) -> None:
    simulator = frozen(make_simulator)
    client = sync_client(sync_sdks(simulator.url), FakeTime(simulator.clock))
    [batch] = client.submit(requests_for(2))
    assert client.status(batch.batch_id).processing == 2
    with pytest.raises(BatchError, match="poll it until it ends first"):
        client.collect([batch])
    assert client.cancel(batch.batch_id).processing_status == "canceling"
    simulator.clock.advance(5)
    assert client.status(batch.batch_id).ended
    assert [item.outcome for item in client.collect([batch])] == ["canceled", "canceled"]


def test_an_interrupted_poll_cancels_the_batch_at_the_provider(
    make_simulator: MakeSimulator, sync_sdks: Callable[..., NoWaitSyncOpenAI]
) -> None:
    simulator = frozen(make_simulator, batch_start_delay=1_000.0)

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    client = SyncOpenAIBatchClient(sync_sdks(simulator.url), model=MODEL, sleep=interrupted)
    [batch] = client.submit(requests_for(2))
    with pytest.raises(KeyboardInterrupt):
        client.poll(batch.batch_id)
    assert simulator.state.openai.batches.get(batch.batch_id)["status"] == "cancelling"


def test_a_lost_create_response_is_adopted_after_a_crash_and_never_sent_twice(
    make_simulator: MakeSimulator, sync_sdks: Callable[..., NoWaitSyncOpenAI], tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    store = FileBatchStateStore(tmp_path)
    lost = sync_sdks(simulator.url, max_retries=0)
    send = lost.post

    def post(path: str, **kwargs: Any) -> Any:
        if path == "/batches":  # the create reaches the provider; its answer is lost
            faults = {"x-simulator-faults": "lose_response=1"}
            kwargs["options"] = {**kwargs["options"], "headers": faults}
        return send(path, **kwargs)

    lost.post = post  # type: ignore[method-assign]

    def die(seconds: float) -> None:
        raise ProcessKilled

    options = {"reconcile_delays": (1.0,), "sleep": die}
    with pytest.raises(ProcessKilled):
        sync_client(lost, state_store=store, create_options=options).submit(requests_for(3))
    assert len(store.list_intents()) == 1

    second = sync_client(sync_sdks(simulator.url), FakeTime(simulator.clock), state_store=store)
    [batch] = second.submit(requests_for(3), reconcile_open=True)
    assert openai_batch_ids(simulator) == [batch.batch_id]
    assert store.list_intents() == []
    second.poll(batch.batch_id)
    assert all(item.succeeded for item in second.collect([batch]))
    counts = simulator.counts()
    assert [counts.batch_requests[f"r{i}"].billed for i in range(3)] == [1, 1, 1]


def test_a_storm_of_429s_and_500s_is_ridden_out_with_one_batch(
    simulator: LiveSimulator, sync_sdks: Callable[..., NoWaitSyncOpenAI]
) -> None:
    sdk = sync_sdks(simulator.url, faults="rate_limit=0.4,server_error=0.2", max_retries=10)
    client = sync_client(sdk, create_options={"attempts": 10, "reconcile_delays": (0.0,)})
    assert all(item.succeeded for item in client.run(requests_for(5)))
    assert len(openai_batch_ids(simulator)) == 1
    assert sdk.retry_waits


def test_a_restarted_process_resumes_the_open_batches(
    make_simulator: MakeSimulator, sync_sdks: Callable[..., NoWaitSyncOpenAI], tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    time = FakeTime(simulator.clock)
    first = sync_client(
        sync_sdks(simulator.url), time, state_store=FileBatchStateStore(tmp_path), max_requests=2
    )
    submitted = first.submit(requests_for(5))
    simulator.restart(keep_state=True)
    store = FileBatchStateStore(tmp_path)
    resumed = sync_client(sync_sdks(simulator.url), time, state_store=store).resume_open()
    assert list(resumed) == [batch.batch_id for batch in submitted]
    results = [item for batch_results in resumed.values() for item in batch_results]
    assert [item.custom_id for item in results] == [f"r{i}" for i in range(5)]
    assert all(item.succeeded for item in results)
    assert store.list_open() == []


def test_an_azure_client_batches_through_the_azure_paths(simulator: LiveSimulator) -> None:
    with openai.AzureOpenAI(
        azure_endpoint=simulator.url,
        azure_deployment="my-deployment",
        api_key="azure-key",
        api_version="2024-10-21",
    ) as sdk:
        client = sync_client(sdk, max_requests=2)
        assert client.endpoint == AZURE_ENDPOINT
        requests = [
            BatchRequest.from_params(f"r{i}", {**request.params, "model": "my-deployment"})
            for i, request in enumerate(requests_for(3))
        ]
        results = client.run(requests)
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)
    assert {item.message.response_metadata["model_name"] for item in results if item.message} == {
        "my-deployment"
    }
