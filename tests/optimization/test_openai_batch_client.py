"""OpenAIBatchClient against the simulator's OpenAI and Azure routes, over real HTTP.

The poll sleeps and clock are test_batch_client's `FakeTime` (it moves a frozen simulator's
clock as it sleeps); the SDK's retry waits are recorded by `NoWaitOpenAI`, never slept.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from optimization._batch_core import BatchStatus
from optimization.batch_state import FileBatchStateStore, InMemoryBatchStateStore
from optimization.batch_wire import BatchRequest
from optimization.exceptions import BatchError
from optimization.openai_batch_client import (
    AZURE_ENDPOINT,
    OPENAI_ENDPOINT,
    BatchSubmitError,
    OpenAIBatchClient,
)
from optimization.openai_batch_wire import JsonlBody
from tests.optimization.simulators import LiveSimulator, MakeSimulator
from tests.optimization.test_batch_client import (
    FakeTime,
    ProcessKilled,
    assert_answers_match_positions,
    frozen,
)

MODEL = "gpt-4o-mini"
LONG_SYSTEM = "You answer questions about the handbook. " + "Policy clause. " * 1500


class NoWaitOpenAI(openai.AsyncOpenAI):
    """The official async SDK client, recording each retry wait instead of sleeping it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_waits: list[float] = []

    async def _sleep_for_retry(
        self, *, retries_taken: int, max_retries: int, options: Any, response: Any
    ) -> None:
        self.retry_waits.append(retry_wait(self, max_retries - retries_taken, options, response))


def retry_wait(sdk: Any, remaining: int, options: Any, response: Any) -> float:
    """The wait an OpenAI SDK client (sync or async) computes before its next retry."""
    headers = response.headers if response is not None else None
    wait: float = sdk._calculate_retry_timeout(remaining, options, headers)
    return wait


@pytest.fixture
async def sdk_clients() -> AsyncIterator[Callable[..., NoWaitOpenAI]]:
    """Build SDK clients for a simulator URL; all are closed after the test."""
    made: list[NoWaitOpenAI] = []

    def build(url: str, *, faults: str | None = None, max_retries: int = 2) -> NoWaitOpenAI:
        headers = {"x-simulator-faults": faults} if faults else None
        client = NoWaitOpenAI(
            base_url=f"{url}/v1",
            api_key="sk-test",
            max_retries=max_retries,
            default_headers=headers,
        )
        made.append(client)
        return client

    yield build
    for client in made:
        await client.close()


def requests_for(
    count: int, *, system: str | None = None, model: str = MODEL
) -> list[BatchRequest]:
    head = [{"role": "system", "content": system}] if system else []
    return [
        BatchRequest.from_params(
            f"r{i}",
            {"model": model, "messages": [*head, {"role": "user", "content": f"Question {i}"}]},
        )
        for i in range(count)
    ]


def batch_client(
    sdk: openai.AsyncOpenAI, time: FakeTime | None = None, **options: Any
) -> OpenAIBatchClient:
    time = time or FakeTime()
    return OpenAIBatchClient(sdk, model=MODEL, sleep=time.sleep, clock=time.clock, **options)


def outcomes_at_the_simulator(simulator: LiveSimulator) -> dict[str, str]:
    """custom_id → outcome, as the simulator's batch runner recorded it."""
    return {
        item.custom_id: item.result["type"]
        for run in simulator.state.openai.batches.runs()
        for item in run.items
        if item.result is not None
    }


def openai_batch_ids(simulator: LiveSimulator) -> list[str]:
    return [view["id"] for view in reversed(simulator.state.openai.batches.list())]


# --- splitting ------------------------------------------------------------------------------


async def test_requests_above_max_requests_go_in_several_batches_answered_in_input_order(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    client = batch_client(sdk_clients(simulator.url), max_requests=3)
    results = await client.run(requests_for(8))
    assert len(openai_batch_ids(simulator)) == 3
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)
    assert client.state_store.list_open() == []


async def test_requests_above_the_byte_limit_go_in_several_batches(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    requests = requests_for(6)
    one_file = len(bytes(JsonlBody(requests, range(6), OPENAI_ENDPOINT)))
    client = batch_client(sdk_clients(simulator.url), max_bytes=one_file // 2 + 10)
    submitted = await client.submit(requests)
    assert [batch.request_count for batch in submitted] == [3, 3]


async def test_a_single_request_above_the_byte_limit_is_refused_before_sending(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    client = batch_client(sdk_clients(simulator.url), max_bytes=100)
    with pytest.raises(BatchError, match="above the 100-byte batch limit") as caught:
        await client.submit(requests_for(1))
    assert caught.value.positions == [0]
    assert openai_batch_ids(simulator) == []


def test_limits_above_openais_are_capped_at_openais() -> None:
    client = OpenAIBatchClient(
        openai.AsyncOpenAI(api_key="sk-test"), model=MODEL, max_requests=10**9, max_bytes=10**12
    )
    assert (client.max_requests, client.max_bytes) == (50_000, 200 * 1024 * 1024)


def test_the_jsonl_file_is_one_line_per_request_of_exactly_its_declared_size() -> None:
    requests = requests_for(3)
    body = JsonlBody(requests, range(1, 3), AZURE_ENDPOINT)
    content = bytes(body)
    assert len(content) == body.size
    lines = content.decode().splitlines()
    assert [line.split('"')[3] for line in lines] == ["r1", "r2"]
    assert all('"url":"/chat/completions"' in line for line in lines)


# --- outcomes ---------------------------------------------------------------------------------


async def test_results_carry_cache_reads_in_usage_and_usage_metadata(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    results = await client.run(requests_for(4, system=LONG_SYSTEM))
    assert_answers_match_positions(results)
    reads = [item for item in results if item.usage.cache_read_tokens]
    assert len(reads) == 3  # the first processed writes the prefix, the others read it
    message = reads[0].message
    assert message is not None
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_token_details"]["cache_read"] == (
        reads[0].usage.cache_read_tokens
    )
    assert message.usage_metadata["input_tokens"] == reads[0].usage.total_input
    assert message.response_metadata["batch_id"] == reads[0].batch_id
    assert message.response_metadata["model_name"] == MODEL


async def test_failed_requests_are_reported_errored_at_their_positions(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    client = batch_client(sdk_clients(simulator.url, faults="batch_errored=0.5"))
    results = await client.run(requests_for(12))
    assert {item.custom_id: item.outcome for item in results} == outcomes_at_the_simulator(
        simulator
    )
    errored = [item for item in results if item.outcome == "errored"]
    assert 0 < len(errored) < 12
    assert all(
        item.message is None and "500 server_error" in (item.error or "") for item in errored
    )
    assert_answers_match_positions(results)


async def test_expired_requests_are_reported_expired(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    simulator = frozen(make_simulator, batch_expiry_seconds=100.0)
    time = FakeTime(simulator.clock)
    client = batch_client(sdk_clients(simulator.url, faults="batch_expired=0.4"), time)
    results = await client.run(requests_for(10))
    assert time.now >= 100.0
    expected = outcomes_at_the_simulator(simulator)
    assert {item.custom_id: item.outcome for item in results} == expected
    assert Counter(expected.values()).keys() == {"succeeded", "expired"}
    assert all(
        "batch_expired" in (item.error or "") for item in results if item.outcome == "expired"
    )


async def test_a_cancelled_batch_reports_its_unfinished_requests_canceled(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    client = batch_client(sdk_clients(simulator.url, faults="batch_cancel_midway=1"))
    results = await client.run(requests_for(10))
    assert Counter(item.outcome for item in results) == {"succeeded": 5, "canceled": 5}
    assert_answers_match_positions(results)


async def test_a_batch_the_api_failed_reports_every_request_errored_with_the_reason(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    mixed = requests_for(1) + requests_for(2, model="gpt-4o")[1:]
    results = await client.run(mixed)
    assert [item.outcome for item in results] == ["errored", "errored"]
    assert all("mismatched_model" in (item.error or "") for item in results)


async def test_status_and_cancel_report_the_providers_state(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    simulator = frozen(make_simulator)
    client = batch_client(sdk_clients(simulator.url))
    [batch] = await client.submit(requests_for(2))
    assert (await client.status(batch.batch_id)).processing == 2
    canceling = await client.cancel(batch.batch_id)
    assert canceling.processing_status == "canceling"
    assert not canceling.ended
    simulator.clock.advance(5)
    ended = await client.status(batch.batch_id)
    assert ended.ended
    results = await client.collect([batch])
    assert [item.outcome for item in results] == ["canceled", "canceled"]


async def test_collecting_a_batch_that_has_not_ended_is_refused_and_loses_nothing(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    simulator = frozen(make_simulator)
    client = batch_client(sdk_clients(simulator.url), FakeTime(simulator.clock))
    [batch] = await client.submit(requests_for(2))
    with pytest.raises(BatchError, match="is validating: poll it until it ends first"):
        await client.collect([batch])
    assert [record.batch_id for record in client.state_store.list_open()] == [batch.batch_id]
    await client.poll(batch.batch_id)
    assert all(item.succeeded for item in await client.collect([batch]))


async def test_a_caller_canceling_the_poll_cancels_the_batch_at_the_provider(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    simulator = frozen(make_simulator, batch_start_delay=1_000.0)
    polled = asyncio.Event()
    time = FakeTime()

    async def sleep(seconds: float) -> None:
        await time.sleep(seconds)
        polled.set()

    client = OpenAIBatchClient(sdk_clients(simulator.url), model=MODEL, sleep=sleep)
    [batch] = await client.submit(requests_for(2))
    polling = asyncio.create_task(client.poll(batch.batch_id))
    await polled.wait()
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling
    assert simulator.state.openai.batches.get(batch.batch_id)["status"] == "cancelling"


# --- never pay twice ----------------------------------------------------------------------------


def tamper_with_creates(sdk: NoWaitOpenAI, change: Callable[[int, dict[str, Any]], None]) -> None:
    """Let `change(n, kwargs)` alter the n-th batch create (from 1) `sdk` sends, nothing else."""
    send = sdk.post
    creates = 0

    async def post(path: str, **kwargs: Any) -> Any:
        nonlocal creates
        if path == "/batches":
            creates += 1
            change(creates, kwargs)
        return await send(path, **kwargs)

    sdk.post = post  # type: ignore[method-assign]


def lose_the_answer(n: int, kwargs: dict[str, Any]) -> None:
    kwargs["options"] = {**kwargs["options"], "headers": {"x-simulator-faults": "lose_response=1"}}


async def test_a_lost_create_response_is_reconciled_into_the_one_batch_the_provider_made(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    simulator = frozen(make_simulator)
    sdk = sdk_clients(simulator.url)
    tamper_with_creates(sdk, lose_the_answer)
    client = batch_client(sdk, FakeTime(simulator.clock))
    results = await client.run(requests_for(4))
    assert all(item.succeeded for item in results)
    assert len(openai_batch_ids(simulator)) == 1
    counts = simulator.counts()
    assert [counts.batch_requests[f"r{i}"].billed for i in range(4)] == [1, 1, 1, 1]
    assert client.state_store.list_intents() == []


async def test_uploads_that_never_answer_make_no_batch_and_leave_the_intent_open(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    simulator = frozen(make_simulator)
    sdk = sdk_clients(simulator.url, faults="lose_response=1")
    client = batch_client(sdk, FakeTime(simulator.clock), create_options={"attempts": 2})
    with pytest.raises(BatchError, match="failed 2 times") as caught:
        await client.submit(requests_for(2))
    assert caught.value.positions == [0, 1]
    assert openai_batch_ids(simulator) == []
    assert len(sdk.retry_waits) == 4  # each upload retried twice by the SDK: it bills nothing
    # the outcome was never known: the intent stays for the next submit to reconcile
    assert len(client.state_store.list_intents()) == 1


async def test_a_crashed_submit_is_adopted_by_the_next_one_and_never_sent_twice(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI], tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    store = FileBatchStateStore(tmp_path)
    requests = requests_for(3)
    # The first process's create reached the provider; it died before recording the answer.
    lost = sdk_clients(simulator.url, max_retries=0)
    tamper_with_creates(lost, lose_the_answer)

    async def die(seconds: float) -> None:
        raise ProcessKilled

    options = {"reconcile_delays": (1.0,), "sleep": die}
    first = batch_client(lost, state_store=store, create_options=options)
    with pytest.raises(ProcessKilled):
        await first.submit(requests)
    assert len(store.list_intents()) == 1
    second = batch_client(sdk_clients(simulator.url), FakeTime(simulator.clock), state_store=store)
    [batch] = await second.submit(requests, reconcile_open=True)
    assert openai_batch_ids(simulator) == [batch.batch_id]
    assert store.list_intents() == []
    await second.poll(batch.batch_id)
    assert all(item.succeeded for item in await second.collect([batch]))


async def test_a_storm_of_429s_and_500s_is_ridden_out_without_a_second_batch(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    sdk = sdk_clients(simulator.url, faults="rate_limit=0.4,server_error=0.2", max_retries=10)
    client = batch_client(sdk, create_options={"attempts": 10, "reconcile_delays": (0.0,)})
    results = await client.run(requests_for(5))
    assert all(item.succeeded for item in results)
    assert len(openai_batch_ids(simulator)) == 1
    assert sdk.retry_waits  # the SDK did retry the calls it may retry


class RetrievesAnswered(httpx.AsyncBaseTransport):
    """The provider's HTTP transport, answering the next retrieves of a batch with `answers`
    (status, headers) before letting them through."""

    def __init__(self, answers: list[tuple[int, dict[str, str]]]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.answers = answers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        is_retrieve = request.method == "GET" and request.url.path.startswith("/v1/batches/")
        if is_retrieve and self.answers:
            status, headers = self.answers.pop(0)
            error = {"error": {"message": f"HTTP {status}", "type": "server_error"}}
            return httpx.Response(status, headers=headers, json=error)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def poll_through(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI], answers: RetrievesAnswered
) -> BatchStatus:
    """Submit a batch, then poll it with an SDK client (no retries of its own) behind `answers`."""
    time = FakeTime(simulator.clock)
    store = InMemoryBatchStateStore()
    submitter = batch_client(sdk_clients(simulator.url), time, state_store=store)
    [batch] = await submitter.submit(requests_for(3))
    sdk = openai.AsyncOpenAI(
        base_url=f"{simulator.url}/v1",
        api_key="sk-test",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=answers),
    )
    try:
        return await batch_client(sdk, time, state_store=store).poll(batch.batch_id)
    finally:
        await sdk.close()


async def test_polling_rides_out_what_the_sdk_would_send_again(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    # 408 and 409 are worth sending again by the SDK's rule, as are 429 and 5xx.
    answers = RetrievesAnswered([(409, {}), (408, {}), (429, {}), (503, {})])
    status = await poll_through(frozen(make_simulator), sdk_clients, answers)
    assert status.ended
    assert status.succeeded == 3
    assert answers.answers == []


async def test_polling_stops_at_an_error_the_server_says_not_to_send_again(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    answers = RetrievesAnswered([(500, {"x-should-retry": "false"})])
    with pytest.raises(openai.InternalServerError):
        await poll_through(frozen(make_simulator), sdk_clients, answers)


async def test_a_refused_second_batch_reports_the_first_as_submitted(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitOpenAI]
) -> None:
    sdk = sdk_clients(simulator.url)

    def refuse_the_second(n: int, kwargs: dict[str, Any]) -> None:
        if n == 2:  # a create the API refuses with a 400
            kwargs["body"] = {**kwargs["body"], "completion_window": "1h"}

    tamper_with_creates(sdk, refuse_the_second)
    client = batch_client(sdk, max_requests=2)
    with pytest.raises(BatchSubmitError, match="batch 2 failed after 1 were accepted") as caught:
        await client.submit(requests_for(3))
    [accepted] = caught.value.submitted
    assert dict(accepted.custom_ids) == {"r0": 0, "r1": 1}
    assert caught.value.positions == [2]
    assert openai_batch_ids(simulator) == [accepted.batch_id]
    assert client.state_store.list_intents() == []  # a refused create leaves nothing open


# --- resume -------------------------------------------------------------------------------------


async def test_batches_are_resumed_after_the_provider_restarts_and_the_process_too(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitOpenAI], tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    time = FakeTime(simulator.clock)
    first = batch_client(
        sdk_clients(simulator.url), time, state_store=FileBatchStateStore(tmp_path), max_requests=2
    )
    submitted = await first.submit(requests_for(5))
    simulator.restart(keep_state=True)  # the provider crashes and comes back with its state
    del first  # and the process restarts: only the files in tmp_path remain

    store = FileBatchStateStore(tmp_path)
    second = batch_client(sdk_clients(simulator.url), time, state_store=store)
    resumed = await second.resume_open()
    assert list(resumed) == [batch.batch_id for batch in submitted]
    results = [item for batch_results in resumed.values() for item in batch_results]
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)
    assert openai_batch_ids(simulator) == [batch.batch_id for batch in submitted]
    assert store.list_open() == []


# --- Azure OpenAI -------------------------------------------------------------------------------


async def test_an_azure_client_batches_through_the_azure_paths(simulator: LiveSimulator) -> None:
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=simulator.url,
        azure_deployment="my-deployment",
        api_key="azure-key",
        api_version="2024-10-21",
    ) as sdk:
        client = batch_client(sdk, max_requests=2)
        assert client.endpoint == AZURE_ENDPOINT
        results = await client.run(requests_for(3, model="my-deployment"))
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)
    assert {item.message.response_metadata["model_name"] for item in results if item.message} == {
        "my-deployment"
    }
