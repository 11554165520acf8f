"""GeminiBatchClient over real HTTP against the simulator's Gemini API (the simulator is Google).

Time never really passes: the client's poll sleep and clock are a `FakeTime` that moves the
frozen simulator clock forward.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from google import genai
from google.genai import types
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_google_genai import ChatGoogleGenerativeAI

from optimization._gemini_adapter import client_base_url
from optimization._gemini_batch_io import display_name
from optimization.batch_state import FileBatchStateStore
from optimization.batch_wire import BatchRequest
from optimization.exceptions import BatchError
from optimization.gemini_batch_client import GeminiBatchClient
from optimization.gemini_batches import gemini_batch_client, gemini_batch_requests
from optimization.simulator import Clock
from optimization.telemetry import token_usage_from_metadata
from tests.optimization.simulators import FAST, LiveSimulator, MakeSimulator
from tests.optimization.test_batch_client import FakeTime, ProcessKilled

MODEL = "gemini-2.5-flash"
LONG_SYSTEM = "You answer questions about the handbook. " + "Policy clause. " * 1500


def frozen(make_simulator: MakeSimulator, **settings: Any) -> LiveSimulator:
    return make_simulator(dataclasses.replace(FAST, **settings), clock=Clock(speed=0))


def chat(url: str, faults: str | None = None) -> ChatGoogleGenerativeAI:
    """The chat model as PipesHub builds it, pointed at the simulator."""
    headers = {"x-simulator-faults": faults} if faults else None
    return ChatGoogleGenerativeAI(  # type: ignore[call-arg]
        model=MODEL,
        temperature=0.2,
        max_tokens=None,
        max_retries=2,
        google_api_key="test-key",
        base_url=url,
        additional_headers=headers,
    )


def questions(count: int, system: str | None = None) -> list[list[BaseMessage]]:
    head: list[BaseMessage] = [SystemMessage(system)] if system else []
    return [[*head, HumanMessage(f"Question {i}")] for i in range(count)]


def client_for(
    url: str, time: FakeTime, *, faults: str | None = None, **options: Any
) -> GeminiBatchClient:
    options.setdefault("max_requests", 1000)
    options.setdefault("state_store", None)
    return gemini_batch_client(chat(url, faults), sleep=time.sleep, clock=time.clock, **options)


def gemini_batches(simulator: LiveSimulator) -> list[dict[str, Any]]:
    """The simulator's Gemini batch operations, oldest first."""
    return list(reversed(simulator.state.gemini.batches.operations()))


def requests_for(url: str, count: int, system: str | None = None) -> list[BatchRequest]:
    return gemini_batch_requests(chat(url), questions(count, system), {})


async def test_results_come_back_in_input_order_across_batches_with_cache_reads(
    make_simulator: MakeSimulator,
) -> None:
    simulator = frozen(make_simulator)
    time = FakeTime(simulator.clock)
    client = client_for(simulator.url, time, max_requests=2)
    results = await client.run(requests_for(simulator.url, 5, LONG_SYSTEM))
    assert len(gemini_batches(simulator)) == 3
    assert [item.position for item in results] == [0, 1, 2, 3, 4]
    assert [item.custom_id for item in results] == ["r0", "r1", "r2", "r3", "r4"]
    for item in results:
        assert item.succeeded
        assert item.message is not None
        assert str(item.message.content).endswith(f"Question {item.position}")
        assert item.message.response_metadata["custom_id"] == item.custom_id
        assert item.usage == token_usage_from_metadata(item.message.usage_metadata)
    reads = sorted(item.usage.cache_read_tokens for item in results)
    assert reads[0] == 0  # the first request processed wrote the prefix...
    assert all(read > 2048 for read in reads[1:])  # ...every later one read it
    for item in results:
        assert item.message is not None
        usage = item.message.usage_metadata
        assert usage is not None
        assert usage["input_token_details"]["cache_read"] == item.usage.cache_read_tokens


async def test_a_batch_above_the_inline_limit_goes_as_a_jsonl_file(
    make_simulator: MakeSimulator,
) -> None:
    simulator = frozen(make_simulator)
    client = client_for(simulator.url, FakeTime(simulator.clock), inline_max_bytes=400)
    requests = requests_for(simulator.url, 5, LONG_SYSTEM)
    results = await client.run(requests)
    [operation] = gemini_batches(simulator)
    assert "responsesFile" in operation["metadata"]["output"]
    assert [item.custom_id for item in results] == ["r0", "r1", "r2", "r3", "r4"]
    for item in results:
        assert item.succeeded
        assert item.message is not None
        assert str(item.message.content).endswith(f"Question {item.position}")
    assert sorted(item.usage.cache_read_tokens > 0 for item in results) == [False] + [True] * 4


async def test_a_small_batch_goes_inline(make_simulator: MakeSimulator) -> None:
    simulator = frozen(make_simulator)
    client = client_for(simulator.url, FakeTime(simulator.clock))
    await client.run(requests_for(simulator.url, 2))
    [operation] = gemini_batches(simulator)
    assert "inlinedResponses" in operation["metadata"]["output"]


async def test_each_batch_is_named_after_its_intent(make_simulator: MakeSimulator) -> None:
    simulator = frozen(make_simulator)
    client = client_for(simulator.url, FakeTime(simulator.clock))
    [batch] = await client.submit(requests_for(simulator.url, 2))
    [operation] = gemini_batches(simulator)
    assert operation["name"] == batch.batch_id
    assert operation["metadata"]["displayName"].startswith(display_name("intent-"))


async def test_errored_requests_are_reported_at_their_positions(
    make_simulator: MakeSimulator,
) -> None:
    simulator = frozen(make_simulator)
    client = client_for(simulator.url, FakeTime(simulator.clock))
    requests = requests_for(simulator.url, 3)
    broken = BatchRequest.from_params("r1", {**requests[1].params, "notAField": 1})
    results = await client.run([requests[0], broken, requests[2]])
    assert [item.outcome for item in results] == ["succeeded", "errored", "succeeded"]
    assert results[1].error is not None
    assert results[1].error.startswith("400: ")
    assert "notAField" in results[1].error
    assert results[1].message is None


async def test_a_batch_with_faulted_requests_keeps_the_others(
    make_simulator: MakeSimulator,
) -> None:
    simulator = frozen(make_simulator, seed=3)
    client = client_for(simulator.url, FakeTime(simulator.clock), faults="batch_errored=0.5")
    results = await client.run(requests_for(simulator.url, 8))
    outcomes = [item.outcome for item in results]
    assert "errored" in outcomes
    assert "succeeded" in outcomes
    for item in results:
        assert (item.message is not None) == item.succeeded
        assert item.position == int(item.custom_id[1:])


async def test_a_canceled_batch_keeps_its_done_part_and_reports_the_rest_canceled(
    make_simulator: MakeSimulator,
) -> None:
    simulator = frozen(make_simulator, batch_seconds_per_request=1.0)
    time = FakeTime(simulator.clock)
    client = client_for(simulator.url, time)
    [batch] = await client.submit(requests_for(simulator.url, 5))
    simulator.clock.advance(2.5)  # start delay, then two requests done
    canceling = await client.cancel(batch.batch_id)
    assert not canceling.ended
    status = await client.poll(batch.batch_id)
    assert status.ended
    assert (status.succeeded, status.canceled) == (2, 3)
    results = await client.collect([batch])
    assert sorted(item.outcome for item in results) == ["canceled"] * 3 + ["succeeded"] * 2
    assert [item.position for item in results] == [0, 1, 2, 3, 4]


async def test_a_batch_still_running_at_the_timeout_is_canceled(
    make_simulator: MakeSimulator,
) -> None:
    simulator = frozen(make_simulator, batch_seconds_per_request=10.0)
    client = client_for(simulator.url, FakeTime(simulator.clock), timeout=25.0, poll_max=5.0)
    [batch] = await client.submit(requests_for(simulator.url, 6))
    status = await client.poll(batch.batch_id)
    assert status.timed_out
    assert status.ended
    results = await client.collect([batch])
    assert {item.outcome for item in results} == {"succeeded", "canceled"}


@pytest.mark.parametrize("inline_max_bytes", [10_000_000, 100], ids=["inline", "file"])
async def test_a_lost_create_response_is_found_by_name_and_never_sent_twice(
    make_simulator: MakeSimulator, inline_max_bytes: int
) -> None:
    simulator = frozen(make_simulator)
    client = client_for(
        simulator.url,
        FakeTime(simulator.clock),
        faults="lose_response=1",
        inline_max_bytes=inline_max_bytes,
    )
    requests = requests_for(simulator.url, 4)
    results = await client.run(requests)
    assert all(item.succeeded for item in results)
    assert len(gemini_batches(simulator)) == 1
    counts = simulator.counts()
    assert sorted(counts.sent_by_params.values()) == [1, 1, 1, 1]
    assert sorted(counts.billed_by_params.values()) == [1, 1, 1, 1]
    assert client.state_store.list_intents() == []


async def test_a_crashed_submit_is_adopted_by_the_next_one_and_never_sent_twice(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    store = FileBatchStateStore(tmp_path)
    requests = requests_for(simulator.url, 3)

    async def die(seconds: float) -> None:
        raise ProcessKilled

    first = client_for(
        simulator.url,
        FakeTime(),
        faults="lose_response=1",
        state_store=store,
        create_options={"reconcile_delays": (1.0,), "sleep": die},
    )
    with pytest.raises(ProcessKilled):
        await first.submit(requests)
    assert len(store.list_intents()) == 1
    second = client_for(simulator.url, FakeTime(simulator.clock), state_store=store)
    [batch] = await second.submit(requests, reconcile_open=True)
    assert [operation["name"] for operation in gemini_batches(simulator)] == [batch.batch_id]
    assert store.list_intents() == []
    await second.poll(batch.batch_id)
    assert all(item.succeeded for item in await second.collect([batch]))


async def test_a_create_refused_every_time_is_a_batch_error_and_creates_nothing(
    make_simulator: MakeSimulator,
) -> None:
    simulator = frozen(make_simulator)
    time = FakeTime(simulator.clock)
    client = client_for(simulator.url, time, faults="rate_limit=1", create_options={"attempts": 3})
    with pytest.raises(BatchError) as failed:
        await client.submit(requests_for(simulator.url, 3))
    assert failed.value.positions == [0, 1, 2]
    assert gemini_batches(simulator) == []
    assert len(time.sleeps) == 2  # backed off between the three refused attempts
    assert client.state_store.list_intents() == []


async def test_polls_ride_out_server_errors(make_simulator: MakeSimulator) -> None:
    simulator = frozen(make_simulator, seed=5)
    time = FakeTime(simulator.clock)
    client = client_for(simulator.url, time)
    [batch] = await client.submit(requests_for(simulator.url, 2))
    simulator.set_faults({"server_error": 0.5})
    status = await client.poll(batch.batch_id)
    assert status.ended
    assert status.succeeded == 2


async def test_a_new_process_resumes_after_the_provider_restarted(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    first = client_for(
        simulator.url, FakeTime(simulator.clock), state_store=FileBatchStateStore(tmp_path)
    )
    submitted = await first.submit(requests_for(simulator.url, 3))
    del first  # the process "restarts": only the files in tmp_path remain
    simulator.restart(keep_state=True)
    second = client_for(
        simulator.url, FakeTime(simulator.clock), state_store=FileBatchStateStore(tmp_path)
    )
    resumed = await second.resume_open()
    assert list(resumed) == [batch.batch_id for batch in submitted]
    [results] = resumed.values()
    assert [item.outcome for item in results] == ["succeeded"] * 3
    assert len(gemini_batches(simulator)) == 1
    assert FileBatchStateStore(tmp_path).list_open() == []


async def test_a_batch_the_provider_forgot_is_an_error_not_a_resubmit(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    simulator = frozen(make_simulator)
    store = FileBatchStateStore(tmp_path)
    client = client_for(simulator.url, FakeTime(simulator.clock), state_store=store)
    [batch] = await client.submit(requests_for(simulator.url, 2))
    simulator.restart(keep_state=False)
    with pytest.raises(Exception, match="404"):
        await client.resume(batch.batch_id)
    assert gemini_batches(simulator) == []


async def test_results_of_a_running_batch_are_refused_not_reported_missing(
    make_simulator: MakeSimulator,
) -> None:
    simulator = frozen(make_simulator)
    client = client_for(simulator.url, FakeTime(simulator.clock))
    [batch] = await client.submit(requests_for(simulator.url, 2))
    with pytest.raises(BatchError, match="has not ended"):
        await client.collect([batch])
    assert client.state_store.list_open() != []


async def test_status_reports_the_providers_state(make_simulator: MakeSimulator) -> None:
    simulator = frozen(make_simulator, batch_seconds_per_request=1.0)
    client = client_for(simulator.url, FakeTime(simulator.clock))
    [batch] = await client.submit(requests_for(simulator.url, 3))
    pending = await client.status(batch.batch_id)
    assert (pending.processing_status, pending.processing) == ("in_progress", 3)
    simulator.clock.advance(60)
    done = await client.status(batch.batch_id)
    assert (done.processing_status, done.succeeded, done.processing) == ("ended", 3, 0)


def test_the_client_takes_the_sdk_client_and_limits_of_the_chat_model() -> None:
    model = chat("http://127.0.0.1:9")
    client = gemini_batch_client(model, state_store=None, max_requests=50)
    assert isinstance(client.client, genai.Client)
    assert client_base_url(client.client) == client_base_url(model.client)
    assert (client.model, client.max_requests) == (MODEL, 50)
    assert client.inline_max_bytes <= 20 * 1024 * 1024
    assert client.max_bytes <= 2 * 1024 * 1024 * 1024


def test_inline_responses_carry_no_metadata_and_are_matched_by_place() -> None:
    # The real API has been seen to return inline responses without their metadata.
    from optimization.batch_state import InMemoryBatchStateStore

    store = InMemoryBatchStateStore()
    store.save("batches/b1", {"r0": 0, "r1": 1}, {})
    client = GeminiBatchClient(
        genai.Client(api_key="k", http_options=types.HttpOptions(base_url="http://127.0.0.1:9")),
        model=MODEL,
        state_store=store,
    )
    answer = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "a"}]}}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1},
    }
    job = types.BatchJob(
        name="batches/b1",
        state=types.JobState.JOB_STATE_SUCCEEDED,
        dest=types.BatchJobDestination(
            inlined_responses=[
                types.InlinedResponse(error=types.JobError(code=400, message="bad")),
                types.InlinedResponse(
                    response=types.GenerateContentResponse.model_validate(answer)
                ),
            ]
        ),
    )
    assert job.dest is not None
    outputs = job.dest.inlined_responses or []
    by_id = {raw.custom_id: raw for raw in client._raws(job, "batches/b1", outputs)}
    assert by_id["r0"].outcome == "errored"
    assert by_id["r1"].outcome == "succeeded"
    assert by_id["r1"].usage.input_tokens == 5
