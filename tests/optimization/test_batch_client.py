"""AnthropicBatchClient over real HTTP against the simulator (the simulator is the provider).

Time never really passes: the client's poll sleep and clock are a `FakeTime`, which also moves
a frozen simulator clock forward, and the SDK's own retry waits are recorded, not slept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anthropic
import pytest
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from optimization.batch_client import (
    MAX_BYTES_PER_BATCH,
    MAX_REQUESTS_PER_BATCH,
    AnthropicBatchClient,
    BatchItemResult,
    BatchSubmitError,
    SubmittedBatch,
)
from optimization.batch_state import FileBatchStateStore, InMemoryBatchStateStore
from optimization.batch_wire import (
    CUSTOM_ID_PATTERN,
    BatchBody,
    BatchRequest,
    JsonlLines,
    RawBatchResult,
    parse_result_line,
    prepare_requests,
    token_usage_from_api,
)
from optimization.exceptions import BatchError
from optimization.messages import messages_to_anthropic_params
from optimization.pricing import TokenUsage
from optimization.simulator import Clock
from optimization.telemetry import token_usage_from_metadata
from tests.optimization.simulators import FAST, LiveSimulator, MakeSimulator

MODEL = "claude-sonnet-4-5"
TEMPLATE: dict[str, Any] = {"model": MODEL, "max_tokens": 32}
LONG_SYSTEM = "You answer questions about the handbook. " + "Policy clause. " * 1500
STORM = "rate_limit=0.5,overloaded=0.2,server_error=0.1"


class NoWaitAnthropic(anthropic.AsyncAnthropic):
    """The official async SDK client, recording each retry wait it computes instead of sleeping.

    The wait is the SDK's own (retry-after header or its exponential backoff), so a test can see
    the server's retry-after honoured without spending that time.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_waits: list[tuple[str, float]] = []

    async def _sleep_for_retry(
        self, *, retries_taken: int, max_retries: int, options: Any, response: Any
    ) -> None:
        headers = response.headers if response is not None else None
        wait = self._calculate_retry_timeout(max_retries - retries_taken, options, headers)
        self.retry_waits.append((str(options.url), wait))


class FakeTime:
    """An injected clock and sleep: sleeping moves fake time (and a frozen simulator) forward."""

    def __init__(self, simulator_clock: Clock | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._simulator_clock = simulator_clock

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self._simulator_clock is not None:
            self._simulator_clock.advance(seconds)
        await asyncio.sleep(0)


@pytest.fixture
async def sdk_clients() -> AsyncIterator[Callable[..., NoWaitAnthropic]]:
    """Build SDK clients for a simulator URL; all are closed after the test."""
    made: list[NoWaitAnthropic] = []

    def build(url: str, *, faults: str | None = None, max_retries: int = 2) -> NoWaitAnthropic:
        headers = {"x-simulator-faults": faults} if faults else None
        client = NoWaitAnthropic(
            base_url=url, api_key="sk-test", max_retries=max_retries, default_headers=headers
        )
        made.append(client)
        return client

    yield build
    for client in made:
        await client.close()


def frozen(make_simulator: MakeSimulator, **settings: Any) -> LiveSimulator:
    """A simulator whose clock only moves when a test (or its FakeTime) advances it."""
    return make_simulator(dataclasses.replace(FAST, **settings), clock=Clock(speed=0))


def questions(count: int, *, start: int = 0) -> list[list[BaseMessage]]:
    return [[HumanMessage(f"Question {i}")] for i in range(start, start + count)]


def batch_client(
    sdk: anthropic.AsyncAnthropic, time: FakeTime | None = None, **options: Any
) -> AnthropicBatchClient:
    time = time or FakeTime()
    return AnthropicBatchClient(sdk, model=MODEL, sleep=time.sleep, clock=time.clock, **options)


def outcomes_at_the_simulator(simulator: LiveSimulator) -> dict[str, str]:
    """custom_id → outcome, as the simulator recorded it, over every batch it holds."""
    return {
        item.custom_id: item.result["type"]
        for batch in simulator.state.batches.list()
        for item in batch.items
        if item.result is not None
    }


def assert_answers_match_positions(results: list[BatchItemResult]) -> None:
    assert [item.position for item in results] == list(range(len(results)))
    for item in results:
        assert item.custom_id == f"r{item.position}"
        if item.succeeded:
            assert item.message is not None
            assert f"Question {item.position}" in str(item.message.content)


# --- splitting ------------------------------------------------------------------------------


async def test_requests_above_the_request_limit_go_in_several_batches(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    # the simulator refuses batches above 3 requests, as the API does above its limit
    simulator = make_simulator(dataclasses.replace(FAST, batch_max_requests=3))
    client = batch_client(sdk_clients(simulator.url), max_requests=3)
    requests = prepare_requests(questions(8), TEMPLATE)
    submitted = await client.submit(requests)
    assert [batch.request_count for batch in submitted] == [3, 3, 2]
    assert simulator.batch_ids() == [batch.batch_id for batch in submitted]
    for batch in submitted:
        await client.poll(batch.batch_id)
    results = await client.collect(submitted)
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)


async def test_requests_above_the_byte_limit_go_in_several_batches(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = make_simulator(dataclasses.replace(FAST, batch_max_bytes=1_000))
    client = batch_client(sdk_clients(simulator.url), max_bytes=1_000)
    results = await client.run(prepare_requests(questions(20), TEMPLATE))
    # the simulator answers 413 to any body above 1,000 bytes: every batch fitted
    assert len(simulator.batch_ids()) > 1
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)


async def test_a_single_request_above_the_byte_limit_is_refused_before_sending(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url), max_bytes=1_000)
    conversations = questions(3)
    conversations[1] = [HumanMessage("Question 1 " + "long " * 400)]
    with pytest.raises(BatchError, match=r"r1 is \d+ bytes") as caught:
        await client.submit(prepare_requests(conversations, TEMPLATE))
    assert caught.value.positions == [1]
    assert caught.value.custom_ids == ["r1"]
    assert simulator.batch_ids() == []


def test_limits_above_the_providers_are_capped_at_the_providers() -> None:
    client = AnthropicBatchClient(
        anthropic.AsyncAnthropic(api_key="sk-test"),
        model=MODEL,
        max_requests=10**9,
        max_bytes=10**12,
    )
    assert client.max_requests == MAX_REQUESTS_PER_BATCH
    assert client.max_bytes == MAX_BYTES_PER_BATCH


def test_poll_intervals_must_grow_from_a_positive_start() -> None:
    with pytest.raises(ValueError, match="poll_initial"):
        AnthropicBatchClient(
            anthropic.AsyncAnthropic(api_key="sk-test"), model=MODEL, poll_initial=0
        )


# --- custom ids -----------------------------------------------------------------------------


def test_prepared_requests_have_unique_custom_ids_the_api_accepts() -> None:
    requests = prepare_requests(questions(1_000), TEMPLATE)
    custom_ids = [request.custom_id for request in requests]
    assert len(set(custom_ids)) == 1_000
    assert all(CUSTOM_ID_PATTERN.match(custom_id) for custom_id in custom_ids)
    assert requests[7].params["messages"] == [{"role": "user", "content": "Question 7"}]


@pytest.mark.parametrize(
    ("custom_ids", "position"),
    [(["ok", "not valid!"], 1), (["x" * 65], 0), (["same", "other", "same"], 2)],
)
async def test_invalid_or_duplicate_custom_ids_are_refused_naming_the_position(
    simulator: LiveSimulator,
    sdk_clients: Callable[..., NoWaitAnthropic],
    custom_ids: list[str],
    position: int,
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    params = {**TEMPLATE, "messages": [{"role": "user", "content": "Hi"}]}
    requests = [BatchRequest.from_params(custom_id, params) for custom_id in custom_ids]
    with pytest.raises(BatchError, match="custom_id") as caught:
        await client.submit(requests)
    assert caught.value.positions == [position]
    assert simulator.batch_ids() == []


# --- results --------------------------------------------------------------------------------


async def test_results_come_back_in_input_order_with_cache_usage(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    system = SystemMessage(
        content=[{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    )
    conversations = [[system, *messages] for messages in questions(6)]
    results = await client.run(prepare_requests(conversations, TEMPLATE))
    assert_answers_match_positions(results)
    writes = [item for item in results if item.usage.cache_write_5m_tokens]
    reads = [item for item in results if item.usage.cache_read_tokens]
    assert len(writes) == 1  # the first request processed writes the prefix ...
    assert len(reads) == 5  # ... and every later one reads it
    message = reads[0].message
    assert message is not None
    assert message.usage_metadata is not None
    details = message.usage_metadata["input_token_details"]
    assert details["cache_read"] == reads[0].usage.cache_read_tokens
    assert message.response_metadata["model"] == MODEL
    assert message.response_metadata["batch_id"] == reads[0].batch_id
    assert client.state_store.list_open() == []  # collected batches are marked done


async def test_errored_items_are_reported_at_their_positions(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url, faults="batch_errored=0.5"))
    results = await client.run(prepare_requests(questions(12), TEMPLATE))
    expected = outcomes_at_the_simulator(simulator)
    assert {item.custom_id: item.outcome for item in results} == expected
    errored = [item for item in results if item.outcome == "errored"]
    assert 0 < len(errored) < 12
    assert all(item.message is None and "api_error" in (item.error or "") for item in errored)
    assert_answers_match_positions(results)


async def test_expired_items_are_reported_at_their_positions(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator, batch_expiry_seconds=100.0)
    time = FakeTime(simulator.clock)
    client = batch_client(sdk_clients(simulator.url, faults="batch_expired=0.4"), time)
    results = await client.run(prepare_requests(questions(10), TEMPLATE))
    assert time.now >= 100.0  # the batch ran into its (simulated) expiry
    expected = outcomes_at_the_simulator(simulator)
    assert {item.custom_id: item.outcome for item in results} == expected
    assert Counter(expected.values()).keys() == {"succeeded", "expired"}
    assert all(item.error == "request expired" for item in results if item.outcome == "expired")
    assert_answers_match_positions(results)


async def test_canceled_items_are_reported_at_their_positions(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url, faults="batch_cancel_midway=1"))
    results = await client.run(prepare_requests(questions(10), TEMPLATE))
    expected = outcomes_at_the_simulator(simulator)
    assert {item.custom_id: item.outcome for item in results} == expected
    assert Counter(expected.values()) == {"succeeded": 5, "canceled": 5}
    assert_answers_match_positions(results)


async def test_a_position_missing_from_the_results_is_reported_errored(
    simulator: LiveSimulator,
    sdk_clients: Callable[..., NoWaitAnthropic],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    [batch] = await client.submit(prepare_requests(questions(2), TEMPLATE))
    await client.poll(batch.batch_id)
    # a stale map: it lacks r0 (which the results file has) and expects a request never sent
    stale = {"r1": 1, "ghost": 2}
    client.state_store.save(batch.batch_id, stale, {})
    with caplog.at_level(logging.WARNING):
        results = await client.collect([SubmittedBatch(batch.batch_id, stale, 2)])
    assert [(item.position, item.outcome) for item in results] == [(1, "succeeded"), (2, "errored")]
    assert results[1].error == "missing from the batch results"
    assert "unknown custom_id 'r0'" in caplog.text


async def test_results_of_a_batch_missing_from_the_state_store_are_refused(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    with pytest.raises(BatchError, match="not in the state store"):
        await client.resume("msgbatch_unknown")
    with pytest.raises(BatchError, match="custom_id map is unknown"):
        await client.collect([SubmittedBatch("msgbatch_unknown", {"r0": 0}, 1)])


# --- rate limits, overload, server errors ---------------------------------------------------


async def test_a_storm_of_429_529_and_500_during_create_and_poll_is_ridden_out(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    # seed 3: the create's first two attempts draw a 429, later polls draw 429/529/500s too
    simulator = frozen(make_simulator, seed=3)
    sdk = sdk_clients(simulator.url, faults=STORM, max_retries=20)
    time, create_time = FakeTime(simulator.clock), FakeTime(simulator.clock)
    client = batch_client(sdk, time, create_options={"sleep": create_time.sleep})
    results = await client.run(prepare_requests(questions(4), TEMPLATE))
    assert all(item.succeeded for item in results)
    assert len(simulator.batch_ids()) == 1  # refused creates never made a second batch
    # the create was sent again only after each 429's retry-after (1 s), never by the SDK
    assert create_time.sleeps == [1.0, 1.0]
    urls = {url for url, _ in sdk.retry_waits}
    assert "/v1/messages/batches" not in urls
    assert any(url.startswith("/v1/messages/batches/msgbatch_") for url in urls)  # polls were


async def test_polling_rides_out_errors_the_sdk_gave_up_on(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator)
    time = FakeTime(simulator.clock)
    store = InMemoryBatchStateStore()
    submitter = batch_client(sdk_clients(simulator.url), time, state_store=store)
    [batch] = await submitter.submit(prepare_requests(questions(3), TEMPLATE))
    stormy = sdk_clients(simulator.url, faults="rate_limit=0.7", max_retries=0)
    poller = batch_client(stormy, time, state_store=store)
    status = await poller.poll(batch.batch_id)
    assert status.ended
    assert status.succeeded == 3
    assert len(time.sleeps) > 1  # at least one failed poll was followed by another


async def test_a_create_refused_every_time_is_a_batch_error_with_every_position(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    sdk = sdk_clients(simulator.url, faults="overloaded=1", max_retries=2)
    time = FakeTime()
    client = batch_client(sdk, time, create_options={"attempts": 3})
    with pytest.raises(BatchError, match="submitting a batch of 3 requests failed") as caught:
        await client.submit(prepare_requests(questions(3), TEMPLATE))
    assert caught.value.positions == [0, 1, 2]
    assert isinstance(caught.value.__cause__, anthropic.APIStatusError)
    assert sdk.retry_waits == []  # a create is never retried by the SDK
    assert time.sleeps == [1.0, 2.0]  # but by us, backing off, as a 529 created nothing
    assert client.state_store.list_open() == []
    assert client.state_store.list_intents() == []  # refused outright: nothing to reconcile


# --- polling, timeout, cancel ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("initial", "cap", "expected"),
    [
        (1.0, 60.0, [1, 2, 4, 8, 16, 32, 60, 60, 60]),
        (0.5, 3.0, [0.5, 1, 2, 3, 3, 3]),
    ],
)
async def test_polling_backs_off_exponentially_up_to_the_cap(
    make_simulator: MakeSimulator,
    sdk_clients: Callable[..., NoWaitAnthropic],
    initial: float,
    cap: float,
    expected: list[float],
) -> None:
    # the batch starts after `sum(expected) - cap + 1` simulated seconds
    start_delay = sum(expected) - cap + 0.5
    simulator = frozen(make_simulator, batch_start_delay=start_delay)
    time = FakeTime(simulator.clock)
    client = batch_client(sdk_clients(simulator.url), time, poll_initial=initial, poll_max=cap)
    [batch] = await client.submit(prepare_requests(questions(1), TEMPLATE))
    status = await client.poll(batch.batch_id)
    assert status.ended
    assert time.sleeps == expected


async def test_a_batch_still_running_at_the_timeout_is_canceled_and_its_done_part_kept(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator, batch_cancel_delay=5.0)
    time = FakeTime(simulator.clock)
    sdk = sdk_clients(simulator.url, faults="batch_never_ends=1")
    client = batch_client(sdk, time, timeout=30.0)
    [batch] = await client.submit(prepare_requests(questions(6), TEMPLATE))
    status = await client.poll(batch.batch_id)
    assert status.timed_out
    assert status.ended
    assert simulator.state.batches.get(batch.batch_id).cancel_initiated_at is not None
    # canceled at the timeout (30 s), then polled from 1 s again until the cancel ended (5 s)
    assert time.sleeps[-3:] == [1.0, 2.0, 4.0]
    assert time.now == 37.0
    results = await client.collect([batch])
    assert Counter(item.outcome for item in results) == {"succeeded": 3, "canceled": 3}


async def test_a_cancel_that_never_ends_is_a_batch_error_after_the_grace_period(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator, batch_cancel_delay=10_000.0)
    time = FakeTime(simulator.clock)
    sdk = sdk_clients(simulator.url, faults="batch_never_ends=1")
    client = batch_client(sdk, time, timeout=30.0, cancel_grace=100.0)
    [batch] = await client.submit(prepare_requests(questions(4), TEMPLATE))
    with pytest.raises(BatchError, match="did not end within 100 s") as caught:
        await client.poll(batch.batch_id)
    assert caught.value.batch_id == batch.batch_id
    assert client.state_store.list_open()  # still resumable later


async def test_a_caller_canceling_the_poll_cancels_the_batch_at_the_provider(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator, batch_start_delay=1_000.0)
    time = FakeTime()  # the simulator's clock stays put: the batch never ends by itself
    polled_thrice = asyncio.Event()

    async def sleep(seconds: float) -> None:
        await time.sleep(seconds)
        if len(time.sleeps) >= 3:
            polled_thrice.set()

    client = AnthropicBatchClient(sdk_clients(simulator.url), model=MODEL, sleep=sleep)
    [batch] = await client.submit(prepare_requests(questions(2), TEMPLATE))
    polling = asyncio.create_task(client.poll(batch.batch_id))
    await polled_thrice.wait()
    polling.cancel()
    with pytest.raises(asyncio.CancelledError):
        await polling
    assert simulator.state.batches.get(batch.batch_id).status == "canceling"


# --- persistence and resume -----------------------------------------------------------------


async def test_a_new_process_resumes_a_stored_batch_without_submitting_it_again(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic], tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    time = FakeTime(simulator.clock)
    first = batch_client(
        sdk_clients(simulator.url), time, state_store=FileBatchStateStore(tmp_path), max_requests=2
    )
    submitted = await first.submit(prepare_requests(questions(5), TEMPLATE))
    await first.client.close()
    del first  # the process "restarts": only the files in tmp_path remain

    store = FileBatchStateStore(tmp_path)
    second = batch_client(sdk_clients(simulator.url), time, state_store=store)
    resumed = await second.resume_open()
    assert list(resumed) == [batch.batch_id for batch in submitted]
    results = [item for batch_results in resumed.values() for item in batch_results]
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)
    assert simulator.batch_ids() == [batch.batch_id for batch in submitted]  # sent once
    assert store.list_open() == []


async def test_a_refused_second_batch_reports_the_first_as_submitted(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    # the simulator takes at most 2,000 bytes a batch; the client does not know and sends two
    # small requests, then two large ones: the second batch is refused with 413
    simulator = make_simulator(dataclasses.replace(FAST, batch_max_bytes=2_000))
    client = batch_client(sdk_clients(simulator.url), max_requests=2)
    conversations = questions(2) + [[HumanMessage(f"Question {i} " + "x" * 1_500)] for i in (2, 3)]
    with pytest.raises(BatchSubmitError, match="batch 2 failed after 1 were accepted") as caught:
        await client.submit(prepare_requests(conversations, TEMPLATE))
    [accepted] = caught.value.submitted
    assert dict(accepted.custom_ids) == {"r0": 0, "r1": 1}
    assert caught.value.positions == [2, 3]
    assert simulator.batch_ids() == [accepted.batch_id]
    assert [record.batch_id for record in client.state_store.list_open()] == [accepted.batch_id]
    await client.poll(accepted.batch_id)  # the accepted part is collected, not resent
    results = await client.collect([accepted])
    assert all(item.succeeded for item in results)


async def test_status_and_cancel_report_the_providers_state(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator)
    client = batch_client(sdk_clients(simulator.url))
    [batch] = await client.submit(prepare_requests(questions(2), TEMPLATE))
    assert (await client.status(batch.batch_id)).processing == 2
    canceling = await client.cancel(batch.batch_id)
    assert canceling.processing_status == "canceling"
    assert not canceling.ended


def test_prepared_bodies_are_what_the_one_converter_makes() -> None:
    template = {**TEMPLATE, "temperature": None, "tools": [{"name": "f", "input_schema": {}}]}
    conversations = [
        [SystemMessage("Be brief."), HumanMessage("Question 0")],
        [HumanMessage("Question 1"), HumanMessage("merged with this")],
    ]
    prepared = prepare_requests(conversations, template)
    for request, messages in zip(prepared, conversations, strict=True):
        params = messages_to_anthropic_params(messages, **template)
        assert request.body == json.dumps(params, separators=(",", ":")).encode()


def test_an_upload_body_is_streamed_in_pieces_and_is_exactly_its_declared_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(BatchBody, "CHUNK", 100)
    requests = prepare_requests(questions(10), TEMPLATE)
    body = BatchBody(requests, range(2, 9))
    pieces = list(body._pieces())
    assert len(pieces) > 3
    assert max(len(piece) for piece in pieces) < 100 + max(len(r.body) for r in requests) + 30
    data = b"".join(pieces)
    assert len(data) == body.size
    assert bytes(body) == data  # re-iterable: a retry sends the same bytes
    assert [item["custom_id"] for item in json.loads(data)["requests"]] == [
        f"r{i}" for i in range(2, 9)
    ]


# --- the raw results path (for callers that store results) ----------------------------------


async def raw_results(client: AnthropicBatchClient, batch_id: str) -> list[RawBatchResult]:
    return [item async for item in client.raw_results(batch_id)]


def simulator_lines(simulator: LiveSimulator, batch_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(custom_id, result) of each line of the batch's results file, in the simulator's order."""
    [batch] = [b for b in simulator.state.batches.list() if b.id == batch_id]
    return [(item.custom_id, item.result) for item in batch.items]


async def test_raw_results_stream_every_line_in_file_order_with_its_outcome(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url, faults="batch_errored=0.5"))
    [batch] = await client.submit(prepare_requests(questions(12), TEMPLATE))
    await client.poll(batch.batch_id)
    raw = await raw_results(client, batch.batch_id)
    expected = simulator_lines(simulator, batch.batch_id)
    assert [item.custom_id for item in raw] == [custom_id for custom_id, _ in expected]
    assert [item.outcome for item in raw] == [result["type"] for _, result in expected]
    assert {item.outcome for item in raw} == {"succeeded", "errored"}
    for item, (_, result) in zip(raw, expected, strict=True):
        assert item.position == batch.custom_ids[item.custom_id]
        assert item.batch_id == batch.batch_id
        if item.succeeded:
            # the message exactly as the API sent it: a plain dict, no LangChain object
            assert item.message == result["message"]
            assert item.text == result["message"]["content"][0]["text"]
            assert f"Question {item.position}" in item.text
            assert item.model == MODEL
            assert (item.error, item.error_text) == (None, None)
            assert item.usage.output_tokens == result["message"]["usage"]["output_tokens"] > 0
        else:
            assert (item.message, item.text, item.model) == (None, "", None)
            assert item.error == result["error"]
            assert item.error_text == f"api_error: {result['error']['error']['message']}"
            assert item.usage == TokenUsage()


async def test_raw_results_read_cache_usage_straight_from_the_usage_dict(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    marked = {"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}
    conversations = [[SystemMessage(content=[marked]), *m] for m in questions(5)]
    [batch] = await client.submit(prepare_requests(conversations, TEMPLATE))
    await client.poll(batch.batch_id)
    raw = await raw_results(client, batch.batch_id)
    for item in raw:
        assert item.message is not None
        usage = item.message["usage"]
        assert item.usage == TokenUsage(
            input_tokens=usage["input_tokens"],
            cache_write_5m_tokens=usage["cache_creation"]["ephemeral_5m_input_tokens"],
            cache_write_1h_tokens=usage["cache_creation"]["ephemeral_1h_input_tokens"],
            cache_read_tokens=usage["cache_read_input_tokens"],
            output_tokens=usage["output_tokens"],
        )
    assert sum(1 for item in raw if item.usage.cache_write_5m_tokens) == 1
    assert sum(1 for item in raw if item.usage.cache_read_tokens) == 4
    # the LangChain view reads the same lines: same usage as its AIMessage's usage_metadata
    views = [item async for item in client.results(batch.batch_id)]
    assert [view.custom_id for view in views] == [item.custom_id for item in raw]
    for view, item in zip(views, raw, strict=True):
        assert view.message is not None
        assert view.usage == item.usage
        assert token_usage_from_metadata(view.message.usage_metadata) == item.usage
        assert view.message.text == item.text
        assert view.message.response_metadata["id"] == item.message["id"]  # type: ignore[index]


async def test_raw_results_report_expired_requests_without_a_message(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator, batch_expiry_seconds=100.0)
    time = FakeTime(simulator.clock)
    client = batch_client(sdk_clients(simulator.url, faults="batch_expired=0.5"), time)
    [batch] = await client.submit(prepare_requests(questions(10), TEMPLATE))
    await client.poll(batch.batch_id)
    raw = await raw_results(client, batch.batch_id)
    expected = simulator_lines(simulator, batch.batch_id)
    assert [item.outcome for item in raw] == [result["type"] for _, result in expected]
    expired = [item for item in raw if not item.succeeded]
    assert expired
    assert all(item.outcome == "expired" for item in expired)
    assert all(item.error_text == "request expired" for item in expired)
    assert all(item.message is None and item.error is None for item in expired)


async def test_raw_results_report_canceled_requests_without_a_message(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url, faults="batch_cancel_midway=1"))
    [batch] = await client.submit(prepare_requests(questions(4), TEMPLATE))
    await client.poll(batch.batch_id)
    raw = await raw_results(client, batch.batch_id)
    assert Counter(item.outcome for item in raw) == {"succeeded": 2, "canceled": 2}
    canceled = [item for item in raw if item.outcome == "canceled"]
    assert all(item.error_text == "request canceled" and item.message is None for item in canceled)


def test_results_are_cut_into_whole_lines_wherever_the_chunks_break() -> None:
    lines = JsonlLines()
    assert lines.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert lines.feed(b":2}") == []
    assert lines.feed(b'\n\n  \n{"c":3}') == [b'{"b":2}']
    assert lines.end() == [b'{"c":3}']  # the last line needs no newline
    assert lines.end() == []


def test_a_results_line_of_an_unknown_custom_id_is_skipped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    line = json.dumps({"custom_id": "ghost", "result": {"type": "expired"}})
    with caplog.at_level(logging.WARNING):
        assert parse_result_line(line, {"r0": 0}, batch_id="msgbatch_1") is None
    assert "unknown custom_id 'ghost'" in caplog.text


def test_a_results_line_that_is_not_a_result_is_a_batch_error_naming_the_batch() -> None:
    for line in (b"not json", b'{"custom_id": "r0"}', b"[1, 2]"):
        with pytest.raises(BatchError, match="batch msgbatch_1: a results line is not a result"):
            parse_result_line(line, {"r0": 0}, batch_id="msgbatch_1")


def test_an_unknown_outcome_is_reported_as_errored() -> None:
    line = json.dumps({"custom_id": "r0", "result": {"type": "vanished"}})
    item = parse_result_line(line, {"r0": 3}, batch_id="msgbatch_1")
    assert item is not None
    assert (item.position, item.outcome, item.error_text) == (
        3,
        "errored",
        "unknown outcome 'vanished'",
    )


def test_usage_splits_cache_writes_by_ttl_when_the_api_reports_the_split() -> None:
    split = {
        "input_tokens": 7,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 5,
        "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20},
        "output_tokens": 3,
    }
    assert token_usage_from_api(split) == TokenUsage(7, 10, 20, 5, 3)
    # without the split, writes are 5-minute writes (the API's default TTL)
    unsplit = {"input_tokens": 7, "cache_creation_input_tokens": 30, "output_tokens": 3}
    assert token_usage_from_api(unsplit) == TokenUsage(7, 30, 0, 0, 3)
    assert token_usage_from_api(None) == TokenUsage()


async def test_a_results_download_cut_off_midway_is_a_connection_error(
    sdk_clients: Callable[..., NoWaitAnthropic],
) -> None:
    """A provider that promises a longer body than it sends, then hangs up."""
    first = json.dumps({"custom_id": "r0", "result": {"type": "expired"}}).encode() + b"\n"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        if "/results" in head.split("\r\n", 1)[0]:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + first)
        else:
            port = writer.get_extra_info("sockname")[1]
            body = json.dumps(
                {
                    "id": "msgbatch_cut",
                    "type": "message_batch",
                    "processing_status": "ended",
                    "request_counts": {},
                    "results_url": f"http://127.0.0.1:{port}/v1/messages/batches/msgbatch_cut/results",
                }
            ).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        client = batch_client(sdk_clients(f"http://127.0.0.1:{port}", max_retries=0))
        client.state_store.save("msgbatch_cut", {"r0": 0, "r1": 1}, {})
        received: list[RawBatchResult] = []

        async def download() -> None:
            async for item in client.raw_results("msgbatch_cut"):
                received.append(item)

        with pytest.raises(anthropic.APIConnectionError, match="msgbatch_cut broke off"):
            await download()
    assert [(item.custom_id, item.outcome) for item in received] == [("r0", "expired")]


def test_a_raw_results_text_joins_the_text_blocks_and_skips_the_others() -> None:
    message = {
        "model": MODEL,
        "content": [
            {"type": "text", "text": "Let me look. "},
            {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}},
            {"type": "text", "text": "Found it."},
        ],
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    item = RawBatchResult.from_message(0, "r0", message)
    assert (item.text, item.outcome, item.usage) == (
        "Let me look. Found it.",
        "succeeded",
        TokenUsage(input_tokens=3, output_tokens=4),
    )
    only_tool = RawBatchResult.from_message(0, "r0", {"content": [message["content"][1]]})
    assert only_tool.text == ""


# --- never pay twice: lost responses, crashes between create and record ----------------------


class ProcessKilled(BaseException):
    """Stands for the process dying at that point."""


SEED_500_FIRST = 2  # the simulator's draws under this seed answer the first create with a 500


async def test_a_lost_create_response_is_reconciled_into_the_one_batch_the_provider_made(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator)
    sdk = sdk_clients(simulator.url, faults="lose_response=1", max_retries=5)
    client = batch_client(sdk, FakeTime(simulator.clock))
    requests = prepare_requests(questions(4), TEMPLATE)
    results = await client.run(requests)
    assert all(item.succeeded for item in results)
    assert len(simulator.batch_ids()) == 1
    counts = simulator.state.counts()
    assert [counts.batch_requests[f"r{i}"].billed for i in range(4)] == [1, 1, 1, 1]
    assert client.state_store.list_intents() == []


async def test_a_create_that_failed_before_the_provider_made_anything_is_sent_again_once(
    make_simulator: MakeSimulator,
    sdk_clients: Callable[..., NoWaitAnthropic],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A 500 on create leaves its outcome unknown: reconciled, found nothing, sent again.
    simulator = frozen(make_simulator, seed=SEED_500_FIRST)
    sdk = sdk_clients(simulator.url, faults="server_error=0.5", max_retries=8)
    client = batch_client(sdk, FakeTime(simulator.clock))
    with caplog.at_level(logging.WARNING):
        results = await client.run(prepare_requests(questions(3), TEMPLATE))
    assert "outcome unknown" in caplog.text
    assert all(item.succeeded for item in results)
    assert len(simulator.batch_ids()) == 1


async def test_a_crashed_submit_is_adopted_by_the_next_one_and_never_sent_twice(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic], tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    store = FileBatchStateStore(tmp_path)
    requests = prepare_requests(questions(3), TEMPLATE)
    # The first process's create reached the provider; it died before recording the answer.
    lost = sdk_clients(simulator.url, faults="lose_response=1", max_retries=0)

    async def die(seconds: float) -> None:
        raise ProcessKilled

    options = {"reconcile_delays": (1.0,), "sleep": die}
    first = batch_client(lost, state_store=store, create_options=options)
    with pytest.raises(ProcessKilled):
        await first.submit(requests)
    assert len(store.list_intents()) == 1
    second = batch_client(sdk_clients(simulator.url), FakeTime(simulator.clock), state_store=store)
    [batch] = await second.submit(requests, reconcile_open=True)
    assert simulator.batch_ids() == [batch.batch_id]
    assert store.list_intents() == []
    await second.poll(batch.batch_id)
    assert all(item.succeeded for item in await second.collect([batch]))
