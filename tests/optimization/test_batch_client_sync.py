"""SyncAnthropicBatchClient over real HTTP against the simulator, as the async twin is tested.

Time never really passes: the client's poll sleep and clock are a `FakeTime`, which also moves
a frozen simulator clock forward, and the SDK's own retry waits are recorded, not slept.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from time import time as wall_clock
from typing import Any

import anthropic
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from optimization.batch_client import (
    AnthropicBatchClient,
    BatchSubmitError,
    SubmittedBatch,
    SyncAnthropicBatchClient,
)
from optimization.batch_create import BatchInFlight, SyncBatchCreator
from optimization.batch_state import FileBatchStateStore, InMemoryBatchStateStore, SubmitIntent
from optimization.batch_wire import BatchBody, RawBatchResult, prepare_requests
from optimization.exceptions import BatchError
from optimization.simulator import Clock
from tests.optimization.simulators import FAST, LiveSimulator, MakeSimulator
from tests.optimization.test_anthropic_adapter import sdk_http_library
from tests.optimization.test_batch_client import (
    LONG_SYSTEM,
    MODEL,
    SEED_500_FIRST,
    STORM,
    TEMPLATE,
    ProcessKilled,
    assert_answers_match_positions,
    frozen,
    outcomes_at_the_simulator,
    questions,
    simulator_lines,
)


class NoWaitAnthropic(anthropic.Anthropic):
    """The official sync SDK client, recording each retry wait it computes instead of sleeping."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_waits: list[tuple[str, float]] = []

    def _sleep_for_retry(
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

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self._simulator_clock is not None:
            self._simulator_clock.advance(seconds)


@pytest.fixture
def sdk_clients() -> Iterator[Callable[..., NoWaitAnthropic]]:
    """Build sync SDK clients for a simulator URL; all are closed after the test."""
    made: list[NoWaitAnthropic] = []

    def build(
        url: str, *, faults: str | None = None, max_retries: int = 2, timeout: float = 60.0
    ) -> NoWaitAnthropic:
        headers = {"x-simulator-faults": faults} if faults else None
        client = NoWaitAnthropic(
            base_url=url,
            api_key="sk-test",
            max_retries=max_retries,
            default_headers=headers,
            timeout=timeout,
        )
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


def batch_client(
    sdk: anthropic.Anthropic, time: FakeTime | None = None, **options: Any
) -> SyncAnthropicBatchClient:
    time = time or FakeTime()
    return SyncAnthropicBatchClient(sdk, model=MODEL, sleep=time.sleep, clock=time.clock, **options)


def billed(simulator: LiveSimulator, count: int) -> list[int]:
    """How many times the simulator billed each of requests r0 .. r<count-1>."""
    tallies = simulator.counts().batch_requests
    return [tallies[f"r{i}"].billed for i in range(count)]


# --- submit, poll, collect ------------------------------------------------------------------


def test_submit_poll_and_collect_return_every_answer_at_its_position(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    system = SystemMessage(
        content=[{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    )
    [batch] = client.submit(prepare_requests([[system, *m] for m in questions(6)], TEMPLATE))
    assert client.status(batch.batch_id).batch_id == batch.batch_id
    assert client.poll(batch.batch_id).succeeded == 6
    results = client.collect([batch])
    assert_answers_match_positions(results)
    assert sum(1 for item in results if item.usage.cache_write_5m_tokens) == 1
    assert sum(1 for item in results if item.usage.cache_read_tokens) == 5
    assert results[0].message is not None
    assert results[0].message.response_metadata["batch_id"] == batch.batch_id
    assert client.state_store.list_open() == []  # collected batches are marked done
    assert billed(simulator, 6) == [1] * 6


def test_run_reports_errored_items_at_their_positions(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url, faults="batch_errored=0.5"))
    results = client.run(prepare_requests(questions(12), TEMPLATE))
    expected = outcomes_at_the_simulator(simulator)
    assert {item.custom_id: item.outcome for item in results} == expected
    assert 0 < Counter(expected.values())["errored"] < 12
    assert_answers_match_positions(results)


def test_requests_above_the_request_limit_go_in_several_batches(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = make_simulator(dataclasses.replace(FAST, batch_max_requests=3))
    client = batch_client(sdk_clients(simulator.url), max_requests=3)
    submitted = client.submit(prepare_requests(questions(8), TEMPLATE))
    assert [batch.request_count for batch in submitted] == [3, 3, 2]
    assert simulator.batch_ids() == [batch.batch_id for batch in submitted]
    for batch in submitted:
        client.poll(batch.batch_id)
    results = client.collect(submitted)
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)


def test_requests_above_the_byte_limit_go_in_several_batches_streamed_in_pieces(
    make_simulator: MakeSimulator,
    sdk_clients: Callable[..., NoWaitAnthropic],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(BatchBody, "CHUNK", 100)  # each body goes up in several pieces
    simulator = make_simulator(dataclasses.replace(FAST, batch_max_bytes=1_000))
    client = batch_client(sdk_clients(simulator.url), max_bytes=1_000)
    results = client.run(prepare_requests(questions(20), TEMPLATE))
    # the simulator answers 413 to any body above 1,000 bytes: every batch fitted
    assert len(simulator.batch_ids()) > 1
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)


def test_invalid_custom_ids_are_refused_before_anything_is_sent(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    requests = prepare_requests(questions(2), TEMPLATE)
    requests[1] = dataclasses.replace(requests[1], custom_id="not valid!")
    with pytest.raises(BatchError, match="custom_id") as caught:
        client.submit(requests)
    assert caught.value.positions == [1]
    assert simulator.batch_ids() == []


def test_a_refused_second_batch_reports_the_first_as_submitted(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = make_simulator(dataclasses.replace(FAST, batch_max_bytes=2_000))
    client = batch_client(sdk_clients(simulator.url), max_requests=2)
    conversations = questions(2) + [[HumanMessage(f"Question {i} " + "x" * 1_500)] for i in (2, 3)]
    with pytest.raises(BatchSubmitError, match="batch 2 failed after 1 were accepted") as caught:
        client.submit(prepare_requests(conversations, TEMPLATE))
    [accepted] = caught.value.submitted
    assert dict(accepted.custom_ids) == {"r0": 0, "r1": 1}
    assert caught.value.positions == [2, 3]
    assert simulator.batch_ids() == [accepted.batch_id]


# --- never pay twice ------------------------------------------------------------------------


def test_a_lost_create_response_is_adopted_not_sent_again(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator)
    sdk = sdk_clients(simulator.url, faults="lose_response=1", max_retries=5)
    client = batch_client(sdk, FakeTime(simulator.clock))
    results = client.run(prepare_requests(questions(4), TEMPLATE))
    assert all(item.succeeded for item in results)
    assert len(simulator.batch_ids()) == 1
    assert billed(simulator, 4) == [1, 1, 1, 1]
    assert client.state_store.list_intents() == []


def test_a_create_answered_after_the_client_timed_out_is_adopted_not_sent_again(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator)
    sdk = sdk_clients(simulator.url, faults="create_delay_ms=1500", timeout=0.3)
    client = batch_client(sdk, FakeTime(simulator.clock))
    [batch] = client.submit(prepare_requests(questions(3), TEMPLATE))
    assert simulator.batch_ids() == [batch.batch_id]
    assert client.state_store.list_intents() == []


def test_a_create_that_failed_before_the_provider_made_anything_is_sent_again_once(
    make_simulator: MakeSimulator,
    sdk_clients: Callable[..., NoWaitAnthropic],
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator = frozen(make_simulator, seed=SEED_500_FIRST)
    sdk = sdk_clients(simulator.url, faults="server_error=0.5", max_retries=8)
    client = batch_client(sdk, FakeTime(simulator.clock))
    with caplog.at_level(logging.WARNING):
        results = client.run(prepare_requests(questions(3), TEMPLATE))
    assert "outcome unknown" in caplog.text
    assert all(item.succeeded for item in results)
    assert len(simulator.batch_ids()) == 1


def test_refused_creates_back_off_and_are_never_retried_by_the_sdk(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    sdk = sdk_clients(simulator.url, faults="overloaded=1", max_retries=2)
    time = FakeTime()
    client = batch_client(sdk, time, create_options={"attempts": 3})
    with pytest.raises(BatchError, match="submitting a batch of 3 requests failed") as caught:
        client.submit(prepare_requests(questions(3), TEMPLATE))
    assert caught.value.positions == [0, 1, 2]
    assert isinstance(caught.value.__cause__, anthropic.APIStatusError)
    assert sdk.retry_waits == []
    assert time.sleeps == [1.0, 2.0]  # backing off, as a 529 created nothing
    assert client.state_store.list_intents() == []  # refused outright: nothing to reconcile


def test_a_storm_of_429_529_and_500_is_ridden_out_with_the_servers_retry_after(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    # seed 3: the create's first two attempts draw a 429, later polls draw 429/529/500s too
    simulator = frozen(make_simulator, seed=3)
    sdk = sdk_clients(simulator.url, faults=STORM, max_retries=20)
    time, create_time = FakeTime(simulator.clock), FakeTime(simulator.clock)
    client = batch_client(sdk, time, create_options={"sleep": create_time.sleep})
    results = client.run(prepare_requests(questions(4), TEMPLATE))
    assert all(item.succeeded for item in results)
    assert len(simulator.batch_ids()) == 1
    assert create_time.sleeps == [1.0, 1.0]  # each 429's retry-after, never the SDK's retry
    urls = {url for url, _ in sdk.retry_waits}
    assert "/v1/messages/batches" not in urls
    assert any(url.startswith("/v1/messages/batches/msgbatch_") for url in urls)


def test_a_crashed_submit_is_adopted_by_the_next_one_and_never_sent_twice(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic], tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    store = FileBatchStateStore(tmp_path)
    requests = prepare_requests(questions(3), TEMPLATE)
    # The first process's create reached the provider; it died before recording the answer.
    lost = sdk_clients(simulator.url, faults="lose_response=1", max_retries=0)

    def die(seconds: float) -> None:
        raise ProcessKilled

    options = {"reconcile_delays": (1.0,), "sleep": die}
    first = batch_client(lost, state_store=store, create_options=options)
    with pytest.raises(ProcessKilled):
        first.submit(requests)
    assert len(store.list_intents()) == 1
    second = batch_client(sdk_clients(simulator.url), FakeTime(simulator.clock), state_store=store)
    [batch] = second.submit(requests, reconcile_open=True)
    assert simulator.batch_ids() == [batch.batch_id]
    assert store.list_intents() == []
    second.poll(batch.batch_id)
    assert all(item.succeeded for item in second.collect([batch]))
    assert billed(simulator, 3) == [1, 1, 1]


def test_an_intent_too_young_to_rule_out_stops_the_submit_until_it_is_known(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    store = InMemoryBatchStateStore()
    requests = prepare_requests(questions(2), TEMPLATE)
    # a create that never reached the provider, a moment ago
    store.save_intent(SubmitIntent("intent-crashed", {"r0": 0, "r1": 1}, {}, wall_clock()))
    client = batch_client(sdk_clients(simulator.url), state_store=store)
    with pytest.raises(BatchInFlight, match="may still be being created"):
        client.submit(requests, reconcile_open=True)
    assert simulator.batch_ids() == []  # nothing sent while it may be in flight
    later = SyncBatchCreator(sdk_clients(simulator.url), store, in_flight_grace=0.0)
    assert later.reconcile_open() == []  # long after, nothing listed: it was never created
    assert store.list_intents() == []
    [batch] = client.submit(requests, reconcile_open=True)
    assert simulator.batch_ids() == [batch.batch_id]


# --- polling, timeout, cancel, resume -------------------------------------------------------


def test_polling_backs_off_exponentially_up_to_the_cap(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    expected = [0.5, 1, 2, 3, 3, 3]
    simulator = frozen(make_simulator, batch_start_delay=sum(expected) - 3 + 0.5)
    time = FakeTime(simulator.clock)
    client = batch_client(sdk_clients(simulator.url), time, poll_initial=0.5, poll_max=3.0)
    [batch] = client.submit(prepare_requests(questions(1), TEMPLATE))
    assert client.poll(batch.batch_id).ended
    assert time.sleeps == expected


def test_a_batch_still_running_at_the_timeout_is_canceled_and_its_done_part_kept(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator, batch_cancel_delay=5.0)
    time = FakeTime(simulator.clock)
    client = batch_client(
        sdk_clients(simulator.url, faults="batch_never_ends=1"), time, timeout=30.0
    )
    [batch] = client.submit(prepare_requests(questions(6), TEMPLATE))
    status = client.poll(batch.batch_id)
    assert status.timed_out
    assert status.ended
    assert time.sleeps[-3:] == [1.0, 2.0, 4.0]
    assert time.now == 37.0
    results = client.collect([batch])
    assert Counter(item.outcome for item in results) == {"succeeded": 3, "canceled": 3}


def test_a_caller_interrupting_the_poll_cancels_the_batch_at_the_provider(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    simulator = frozen(make_simulator, batch_start_delay=1_000.0)
    time = FakeTime()  # the simulator's clock stays put: the batch never ends by itself

    def sleep(seconds: float) -> None:
        time.sleep(seconds)
        if len(time.sleeps) >= 3:
            raise KeyboardInterrupt

    client = SyncAnthropicBatchClient(sdk_clients(simulator.url), model=MODEL, sleep=sleep)
    [batch] = client.submit(prepare_requests(questions(2), TEMPLATE))
    with pytest.raises(KeyboardInterrupt):
        client.poll(batch.batch_id)
    assert simulator.state.batches.get(batch.batch_id).status == "canceling"


def test_a_new_process_resumes_a_stored_batch_without_submitting_it_again(
    make_simulator: MakeSimulator, sdk_clients: Callable[..., NoWaitAnthropic], tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    time = FakeTime(simulator.clock)
    first = batch_client(
        sdk_clients(simulator.url), time, state_store=FileBatchStateStore(tmp_path), max_requests=2
    )
    submitted = first.submit(prepare_requests(questions(5), TEMPLATE))
    store = FileBatchStateStore(tmp_path)  # the process "restarts": only the files remain
    second = batch_client(sdk_clients(simulator.url), time, state_store=store)
    resumed = second.resume_open()
    assert list(resumed) == [batch.batch_id for batch in submitted]
    results = [item for batch_results in resumed.values() for item in batch_results]
    assert all(item.succeeded for item in results)
    assert_answers_match_positions(results)
    assert simulator.batch_ids() == [batch.batch_id for batch in submitted]  # sent once
    assert store.list_open() == []


def test_results_of_a_batch_missing_from_the_state_store_are_refused_at_once(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    client = batch_client(sdk_clients(simulator.url))
    with pytest.raises(BatchError, match="not in the state store"):
        client.resume("msgbatch_unknown")
    with pytest.raises(BatchError, match="custom_id map is unknown"):
        client.raw_results("msgbatch_unknown")  # not at the first line: at the call
    with pytest.raises(BatchError, match="custom_id map is unknown"):
        client.collect([SubmittedBatch("msgbatch_unknown", {"r0": 0}, 1)])


# --- results --------------------------------------------------------------------------------


async def test_the_twins_read_the_same_results_the_same_way(
    simulator: LiveSimulator, sdk_clients: Callable[..., NoWaitAnthropic]
) -> None:
    sync = batch_client(sdk_clients(simulator.url, faults="batch_errored=0.5"))
    [batch] = sync.submit(prepare_requests(questions(12), TEMPLATE))
    sync.poll(batch.batch_id)
    async with anthropic.AsyncAnthropic(base_url=simulator.url, api_key="sk-test") as sdk:
        twin = AnthropicBatchClient(sdk, model=MODEL, state_store=sync.state_store)
        async_raw = [item async for item in twin.raw_results(batch.batch_id)]
        async_lines = [line async for line in twin.result_lines(batch.batch_id)]
    raw = list(sync.raw_results(batch.batch_id))
    assert raw == async_raw
    assert list(sync.result_lines(batch.batch_id)) == async_lines
    expected = simulator_lines(simulator, batch.batch_id)
    assert [(item.custom_id, item.outcome) for item in raw] == [
        (custom_id, result["type"]) for custom_id, result in expected
    ]
    assert {item.outcome for item in raw} == {"succeeded", "errored"}
    views = list(sync.results(batch.batch_id))
    assert [(view.custom_id, view.usage) for view in views] == [
        (item.custom_id, item.usage) for item in raw
    ]


def test_a_results_download_cut_off_midway_is_a_connection_error(
    sdk_clients: Callable[..., NoWaitAnthropic],
) -> None:
    """A provider that promises a longer body than it sends, then hangs up."""
    first = json.dumps({"custom_id": "r0", "result": {"type": "expired"}}).encode() + b"\n"
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        serving = threading.Thread(target=_serve_cut_off, args=(server, port, first), daemon=True)
        serving.start()
        client = batch_client(sdk_clients(f"http://127.0.0.1:{port}", max_retries=0))
        client.state_store.save("msgbatch_cut", {"r0": 0, "r1": 1}, {})
        received: list[RawBatchResult] = []

        def download() -> None:
            for item in client.raw_results("msgbatch_cut"):
                received.append(item)

        with pytest.raises(anthropic.APIConnectionError, match="msgbatch_cut broke off"):
            download()
        serving.join(timeout=10)
    assert [(item.custom_id, item.outcome) for item in received] == [("r0", "expired")]


def _serve_cut_off(server: socket.socket, port: int, first: bytes) -> None:
    """Answer the retrieve with a batch whose results URL is here, the results with `first`
    of a promised 100,000 bytes, then close."""
    for _ in range(2):
        connection, _ = server.accept()
        with connection:
            head = b""
            while b"\r\n\r\n" not in head:
                head += connection.recv(65536)
            if b"/results" in head.split(b"\r\n", 1)[0]:
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + first)
                continue
            body = json.dumps(
                {
                    "id": "msgbatch_cut",
                    "type": "message_batch",
                    "processing_status": "ended",
                    "request_counts": {},
                    "results_url": f"http://127.0.0.1:{port}/v1/messages/batches/msgbatch_cut/results",
                }
            ).encode()
            connection.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )


# --- what a poll rides out: the SDK's own retry rule --------------------------------------


def _sdk_failing_retrieves(url: str, status: int, times: int) -> NoWaitAnthropic:
    """An SDK client without retries whose first `times` batch retrieves are answered `status`
    (nothing sent on); every other request goes to the simulator at `url`."""
    http = sdk_http_library()
    real = http.HTTPTransport()
    left = [times]

    class FailingRetrieves(http.BaseTransport):  # type: ignore[misc]
        def handle_request(self, request: Any) -> Any:
            path = request.url.path
            retrieve = request.method == "GET" and path.startswith("/v1/messages/batches/")
            if retrieve and not path.endswith("/results") and left[0] > 0:
                left[0] -= 1
                body = {"type": "error", "error": {"type": "api_error", "message": "not now"}}
                return http.Response(status, json=body, request=request)
            return real.handle_request(request)

    return NoWaitAnthropic(
        base_url=url,
        api_key="sk-test",
        max_retries=0,  # the poll itself meets the error, not the SDK's retries
        http_client=http.Client(transport=FailingRetrieves()),
    )


@pytest.mark.parametrize("status", [408, 409, 429, 500, 529])
def test_a_poll_rides_out_what_the_sdk_would_retry(
    make_simulator: MakeSimulator, status: int
) -> None:
    simulator = frozen(make_simulator)
    sdk = _sdk_failing_retrieves(simulator.url, status, times=2)
    time = FakeTime(simulator.clock)
    client = batch_client(sdk, time, poll_initial=1.0, poll_max=1.0)
    try:
        [batch] = client.submit(prepare_requests(questions(1), TEMPLATE))
        assert client.poll(batch.batch_id).ended
        assert len(time.sleeps) >= 2  # one wait per failed retrieve
    finally:
        sdk.close()


@pytest.mark.parametrize("status", [400, 403, 404])
def test_a_poll_raises_what_the_sdk_would_not_retry(
    make_simulator: MakeSimulator, status: int
) -> None:
    simulator = frozen(make_simulator)
    sdk = _sdk_failing_retrieves(simulator.url, status, times=1)
    client = batch_client(sdk, FakeTime(simulator.clock))
    try:
        [batch] = client.submit(prepare_requests(questions(1), TEMPLATE))
        with pytest.raises(anthropic.APIStatusError) as raised:
            client.poll(batch.batch_id)
        assert raised.value.status_code == status
    finally:
        sdk.close()
