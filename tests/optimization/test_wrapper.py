"""Optimized models over real HTTP against the simulator (the simulator is the provider)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pickle
import uuid
from pathlib import Path
from typing import Any

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from optimization.batch_scope import batching
from optimization.batch_state import FileBatchStateStore
from optimization.batch_wire import prepare_requests
from optimization.dropin import optimize, plain_model
from optimization.exceptions import BatchError, CacheError
from optimization.factory import get_generator_model
from optimization.recorders import InMemoryUsageRecorder, set_default_recorder
from optimization.simulator import Clock
from optimization.wrapper import OptimizedLLMWrapper
from tests.optimization.simulators import FAST, LiveSimulator, MakeSimulator

MODEL = "claude-sonnet-4-5"
LONG_SYSTEM = "You answer questions about the handbook. " + "Policy clause. " * 1500


def base(url: str, **kwargs: Any) -> ChatAnthropic:
    return ChatAnthropic(model=MODEL, api_key="sk-test", base_url=url, max_tokens=64, **kwargs)


def wrapper(
    url: str,
    recorder: InMemoryUsageRecorder,
    base_kwargs: dict[str, Any] | None = None,
    **config: Any,
) -> OptimizedLLMWrapper:
    """A ChatAnthropic on `url`, optimized with `config` (something must apply)."""
    configuration = {"optimizationEnabled": True, **config}
    model = optimize(
        base(url, **(base_kwargs or {})), "anthropic", configuration, recorder=recorder
    )
    assert isinstance(model, OptimizedLLMWrapper)
    return model


FAULTY_BATCHES = {"default_headers": {"x-simulator-faults": "batch_errored=1"}}


async def test_ainvoke_with_cache_disabled_sends_no_breakpoints(simulator_url: str) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, cachingEnabled=False, batchingEnabled=True)
    reply = await model.ainvoke([SystemMessage(LONG_SYSTEM), HumanMessage("Hi")])
    assert isinstance(reply, AIMessage)
    details = reply.usage_metadata["input_token_details"]  # type: ignore[index]
    assert not details.get("cache_creation")
    assert not details.get("cache_read")
    assert [e.mode for e in recorder.events] == ["standard"]


async def test_multi_turn_conversations_hit_the_cache_with_caching_enabled(
    simulator_url: str,
) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, cachingEnabled=True)
    history: list[Any] = [SystemMessage(LONG_SYSTEM), HumanMessage("First question?")]
    for turn in range(3):
        reply = await model.ainvoke(history)
        history += [reply, HumanMessage(f"Follow-up {turn}?")]
    # the planner learns reuse as the conversation grows; by the third turn it reads
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_token_details"].get("cache_read", 0) > 0
    assert [e.mode for e in recorder.events] == ["cached"] * 3
    assert recorder.events[-1].cache_read_tokens > 0
    assert recorder.events[-1].cost < recorder.events[-1].baseline_cost


def test_invoke_and_stream_work_and_each_call_records_one_event(simulator_url: str) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, cachingEnabled=True)
    assert isinstance(model.invoke("Hello"), AIMessage)
    chunks = list(model.stream("Hello again"))
    assert "".join(str(c.content) for c in chunks)
    assert len(recorder.events) == 2


def test_an_optimized_model_keeps_the_class_and_every_field_of_the_model_it_was_given(
    simulator_url: str,
) -> None:
    given = base(simulator_url, temperature=0.2, max_retries=2, timeout=360)
    model = optimize(given, "anthropic", {"optimizationEnabled": True, "cachingEnabled": True})
    assert model is not given
    assert isinstance(model, ChatAnthropic)
    assert type(model).__name__ == "ChatAnthropic"
    assert model.model_dump() == given.model_dump()
    assert (model.model, model.max_tokens, model.temperature) == (MODEL, 64, 0.2)
    assert (model.max_retries, model.default_request_timeout) == (2, 360)
    assert model._llm_type == "anthropic-chat"
    assert model.get_name() == "ChatAnthropic"  # what tracing shows
    copy = model.model_copy(update={"max_tokens": 8})
    assert isinstance(copy, OptimizedLLMWrapper)
    assert copy.max_tokens == 8
    assert copy.llmopt.caching
    plain = plain_model(model)
    assert type(plain) is ChatAnthropic
    assert plain.model_dump() == given.model_dump()


def test_nothing_applies_and_the_given_model_comes_back_itself(simulator_url: str) -> None:
    given = base(simulator_url)
    for configuration in (
        {},
        {"optimizationEnabled": False, "cachingEnabled": True, "batchingEnabled": True},
        {"optimizationEnabled": True},
        {"optimizationEnabled": True, "cachingEnabled": True, "cacheBreakpoints": "off"},
        {"optimizationEnabled": True, "cachingEnabled": True, "optimizationStrategy": "batch_only"},
        {
            "optimizationEnabled": True,
            "batchingEnabled": True,
            "optimizationStrategy": "cache_only",
        },
    ):
        assert optimize(given, "anthropic", configuration) is given, configuration
    assert optimize(given, "openAI", {"optimizationEnabled": True, "cachingEnabled": True}) is given


async def test_bound_tools_reach_the_provider_through_the_wrapper(simulator_url: str) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, cachingEnabled=True)

    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    bound = model.bind_tools([get_weather], tool_choice="any")
    reply = await bound.ainvoke("Weather in Paris?")
    assert reply.tool_calls
    assert reply.tool_calls[0]["name"] == "get_weather"
    assert len(recorder.events) == 1  # the call went through the wrapper


async def test_abatch_with_batching_enabled_uses_the_batch_api_in_order(simulator_url: str) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, batchingEnabled=True)
    model.llmopt.batch_client_options.update(poll_initial=0.05, poll_max=0.2)
    replies = await model.abatch([f"Question {i}" for i in range(5)])
    assert len(replies) == 5
    assert all(isinstance(r, AIMessage) for r in replies)
    assert all(r.response_metadata.get("batch_id") for r in replies)
    assert [r.response_metadata["custom_id"] for r in replies] == [f"r{i}" for i in range(5)]
    assert {e.mode for e in recorder.events} == {"batch"}


async def test_abatch_with_batching_disabled_uses_the_standard_api(simulator_url: str) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, batchingEnabled=False, cachingEnabled=True)
    replies = await model.abatch(["a", "b"])
    assert all("batch_id" not in r.response_metadata for r in replies)
    assert [e.mode for e in recorder.events] == ["cached", "cached"]


async def test_failed_batch_items_fall_back_to_the_standard_api(simulator_url: str) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(
        simulator_url,
        recorder,
        {"default_headers": {"x-simulator-faults": "batch_errored=0.5"}},
        batchingEnabled=True,
        fallbackToStandard=True,
    )
    model.llmopt.batch_client_options.update(poll_initial=0.05, poll_max=0.2)
    replies = await model.abatch([f"Q{i}" for i in range(8)])
    assert all(isinstance(r, AIMessage) for r in replies)
    modes = [e.mode for e in recorder.events]
    assert "fallback" in modes
    assert "batch" in modes
    assert len(recorder.events) == 8  # nothing was sent twice


async def test_failed_batch_items_raise_batch_error_when_fallback_is_off(
    simulator_url: str,
) -> None:
    model = wrapper(
        simulator_url,
        InMemoryUsageRecorder(),
        FAULTY_BATCHES,
        batchingEnabled=True,
        fallbackToStandard=False,
    )
    model.llmopt.batch_client_options.update(poll_initial=0.05, poll_max=0.2)
    with pytest.raises(BatchError) as caught:
        await model.abatch(["a", "b", "c"])
    assert caught.value.positions == [0, 1, 2]
    assert set(caught.value.outcomes.values()) == {"errored"}


async def test_a_factory_built_wrapper_records_to_the_default_recorder_set_after_it(
    simulator_url: str,
) -> None:
    config = {
        "provider": "anthropic",
        "isDefault": True,
        "configuration": {
            "model": MODEL,
            "apiKey": "sk-test",
            "baseUrl": simulator_url,
            "optimizationEnabled": True,
            "cachingEnabled": True,
        },
    }
    model = get_generator_model("anthropic", config)
    assert isinstance(model, OptimizedLLMWrapper)
    assert isinstance(model, ChatAnthropic)
    memory = InMemoryUsageRecorder()
    set_default_recorder(memory)  # looked up at record time, not frozen when the model was built
    try:
        await model.ainvoke("Hello")
    finally:
        set_default_recorder(None)
    assert [event.mode for event in memory.events] == ["cached"]
    assert memory.events[0].model == MODEL


# --- batches: sync, splitting, accumulator, resume ------------------------------------------


class ManualTimer:
    """The accumulator's injected sleep: returns only when the test fires it."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self.started = asyncio.Event()
        self._fired = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        self.started.set()
        await self._fired.wait()

    def fire(self) -> None:
        self._fired.set()


def fast_batches(model: OptimizedLLMWrapper) -> OptimizedLLMWrapper:
    model.llmopt.batch_client_options.update(poll_initial=0.05, poll_max=0.2)
    return model


def test_sync_batch_goes_through_the_batch_api(simulator: LiveSimulator) -> None:
    recorder = InMemoryUsageRecorder()
    model = fast_batches(wrapper(simulator.url, recorder, batchingEnabled=True))
    replies = model.batch(["Question 0", "Question 1", "Question 2"])
    assert [r.response_metadata["custom_id"] for r in replies] == ["r0", "r1", "r2"]
    assert all(f"Question {i}" in str(r.content) for i, r in enumerate(replies))
    assert len(simulator.batch_ids()) == 1
    assert [e.mode for e in recorder.events] == ["batch"] * 3


async def test_abatch_splits_at_batch_max_size(simulator: LiveSimulator) -> None:
    model = fast_batches(
        wrapper(simulator.url, InMemoryUsageRecorder(), batchingEnabled=True, batchMaxSize=2)
    )
    replies = await model.abatch([f"Question {i}" for i in range(5)])
    assert len(simulator.batch_ids()) == 3
    assert all(f"Question {i}" in str(r.content) for i, r in enumerate(replies))
    assert len({r.response_metadata["batch_id"] for r in replies}) == 3


async def test_abatch_with_caching_and_batching_on_marks_batched_requests_too(
    simulator: LiveSimulator,
) -> None:
    recorder = InMemoryUsageRecorder()
    model = fast_batches(
        wrapper(simulator.url, recorder, batchingEnabled=True, cachingEnabled=True)
    )
    system = SystemMessage(LONG_SYSTEM + uuid.uuid4().hex)
    await model.ainvoke([system, HumanMessage("Warm up")])  # writes the long system prompt
    replies = await model.abatch([[system, HumanMessage(f"Question {i}")] for i in range(3)])
    # every batched request reads the system prompt the warm-up call wrote (and writes at most
    # its own short question: a new application's first turns are written until shown unread)
    warm_up = recorder.events[0]
    assert warm_up.cache_write_5m_tokens > 0
    for event in recorder.events[1:]:
        assert event.cache_read_tokens >= warm_up.cache_write_5m_tokens - 10
        assert event.cache_write_5m_tokens <= 10
    assert [e.mode for e in recorder.events] == ["cached"] + ["batch+cache"] * 3
    assert all(r.response_metadata["batch_id"] for r in replies)


def batching_model(url: str, recorder: InMemoryUsageRecorder, **config: Any) -> Any:
    """A new model per call, as PipesHub builds one per document."""
    return fast_batches(wrapper(url, recorder, batchingEnabled=True, **config))


async def test_inside_batching_single_calls_wait_for_the_timeout_and_go_out_as_one_batch(
    simulator: LiveSimulator,
) -> None:
    recorder = InMemoryUsageRecorder()
    async with batching():
        calls = [
            asyncio.create_task(
                batching_model(simulator.url, recorder, batchTimeout=0.5).ainvoke(f"Question {i}")
            )
            for i in range(3)
        ]
        await asyncio.sleep(0.2)
        assert simulator.batch_ids() == []  # nothing sent before the timeout
        assert not any(call.done() for call in calls)
        replies = await asyncio.gather(*calls)
    assert [f"Question {i}" in str(r.content) for i, r in enumerate(replies)] == [True] * 3
    assert len(simulator.batch_ids()) == 1
    assert {r.response_metadata["batch_id"] for r in replies} == set(simulator.batch_ids())
    assert [e.mode for e in recorder.events] == ["batch"] * 3


async def test_inside_batching_calls_go_out_as_soon_as_batch_max_size_wait(
    simulator: LiveSimulator,
) -> None:
    recorder = InMemoryUsageRecorder()

    async def one_document(number: int) -> AIMessage:
        # each document in its own scope and with its own model, as PipesHub indexes them
        async with batching():
            model = batching_model(simulator.url, recorder, batchMaxSize=2, batchTimeout=3600)
            return await model.ainvoke(f"Question {number}")

    replies = await asyncio.wait_for(asyncio.gather(one_document(0), one_document(1)), 30)
    assert len({r.response_metadata["batch_id"] for r in replies}) == 1


async def test_outside_batching_no_call_waits_for_a_batch_even_with_batch_only(
    simulator: LiveSimulator,
) -> None:
    recorder = InMemoryUsageRecorder()
    model = batching_model(
        simulator.url, recorder, optimizationStrategy="batch_only", batchTimeout=3600
    )
    reply = await asyncio.wait_for(model.ainvoke("Health check"), 30)
    assert "batch_id" not in reply.response_metadata
    assert simulator.batch_ids() == []
    assert [e.mode for e in recorder.events] == ["standard"]


async def test_a_streamed_or_structured_call_inside_batching_is_answered_by_the_batch(
    simulator: LiveSimulator,
) -> None:
    recorder = InMemoryUsageRecorder()
    async with batching():
        model = batching_model(simulator.url, recorder, batchTimeout=0.2)
        streamed, trip = await asyncio.gather(
            _collect(model.astream("Question 0")),
            model.with_structured_output(Trip, method="json_schema", stream=True).ainvoke(
                "Plan a trip"
            ),
        )
    assert "Question 0" in "".join(str(chunk.content) for chunk in streamed)
    assert isinstance(trip, Trip)
    assert len(simulator.batch_ids()) == 1
    assert [e.mode for e in recorder.events] == ["batch", "batch"]


async def _collect(stream: Any) -> list[Any]:
    return [chunk async for chunk in stream]


class ProcessKilled(BaseException):
    """Stands for the process dying while it waits between polls."""


async def test_a_new_process_collects_an_open_batch_with_resume_open(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    simulator = make_simulator(dataclasses.replace(FAST, batch_start_delay=5.0), Clock(speed=0))

    async def die(seconds: float) -> None:
        raise ProcessKilled

    first = wrapper(simulator.url, InMemoryUsageRecorder(), batchingEnabled=True)
    first.llmopt.state_store = FileBatchStateStore(tmp_path)
    first.llmopt.batch_client_options["sleep"] = die
    with pytest.raises(ProcessKilled):
        await first.abatch([f"Question {i}" for i in range(3)])
    [batch_id] = simulator.batch_ids()

    simulator.clock.advance(10)  # the batch finishes while no process watches it
    recorder = InMemoryUsageRecorder()
    second = wrapper(simulator.url, recorder, batchingEnabled=True)
    second.llmopt.state_store = FileBatchStateStore(tmp_path)
    resumed = await second.resume_open()
    assert list(resumed) == [batch_id]
    assert [f"Question {i}" in str(r.content) for i, r in enumerate(resumed[batch_id])] == [
        True
    ] * 3
    assert simulator.batch_ids() == [batch_id]  # not submitted again
    assert [e.batch_id for e in recorder.events] == [batch_id] * 3
    assert await second.resume_open() == {}


async def test_resume_open_reports_requests_that_did_not_succeed(
    make_simulator: MakeSimulator, tmp_path: Path
) -> None:
    simulator = make_simulator(FAST)
    store = FileBatchStateStore(tmp_path)
    model = wrapper(simulator.url, InMemoryUsageRecorder(), FAULTY_BATCHES, batchingEnabled=True)
    model.llmopt.state_store = store
    client = model._batch_client()
    template = {"model": MODEL, "max_tokens": 16}
    await client.submit(prepare_requests([[HumanMessage("Hi")]], template))
    [[error]] = (await model.resume_open()).values()
    assert isinstance(error, BatchError)
    assert error.outcomes == {0: "errored"}


# --- the base model's features through the wrapper ------------------------------------------


class Trip(BaseModel):
    """A trip request."""

    city: str
    days: int


async def test_structured_output_is_built_by_the_base_model_and_called_on_the_wrapper(
    simulator_url: str,
) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, cachingEnabled=True)
    trip = await model.with_structured_output(Trip).ainvoke("Plan a trip")
    assert isinstance(trip, Trip)
    raw = await model.with_structured_output(Trip, include_raw=True).ainvoke("Plan a trip")
    assert isinstance(raw["parsed"], Trip)
    assert isinstance(raw["raw"], AIMessage)
    assert len(recorder.events) == 2


def test_an_optimized_model_pickles_without_the_configurations_secrets(
    simulator_url: str,
) -> None:
    recorder = InMemoryUsageRecorder()
    configuration = {"optimizationEnabled": True, "cachingEnabled": True, "apiKey": "sk-in-config"}
    model = optimize(base(simulator_url), "anthropic", configuration, recorder=recorder)
    assert b"sk-in-config" not in pickle.dumps(model)
    copy = pickle.loads(pickle.dumps(model))
    assert isinstance(copy, OptimizedLLMWrapper)
    assert isinstance(copy, ChatAnthropic)
    assert copy.llmopt.caching
    assert copy.llmopt.config.caching_enabled
    assert isinstance(copy.invoke("Hello"), AIMessage)


def test_pickling_fails_exactly_where_the_plain_models_does(simulator_url: str) -> None:
    model = wrapper(simulator_url, InMemoryUsageRecorder(), cachingEnabled=True)
    model.invoke("Hello")  # ChatAnthropic now holds an SDK client with locks
    with pytest.raises(TypeError) as plain_error:
        pickle.dumps(plain_model(model))
    with pytest.raises(TypeError) as optimized_error:
        pickle.dumps(model)
    assert str(optimized_error.value) == str(plain_error.value)


def test_langchain_serialization_writes_the_plain_class_with_the_key_as_a_secret_reference(
    simulator_url: str,
) -> None:
    # Deliberate: the optimization lives in the aiconfigs entry, not in the serialized model;
    # a loaded model is optimized again by the factory that builds it.
    model = wrapper(simulator_url, InMemoryUsageRecorder(), cachingEnabled=True)
    text = dumps(model)
    assert text == dumps(plain_model(model))
    assert "sk-test" not in text
    loaded = loads(
        text, secrets_map={"ANTHROPIC_API_KEY": "sk-test"}, allowed_objects=[ChatAnthropic]
    )
    assert type(loaded) is ChatAnthropic
    assert isinstance(loaded.invoke("Hello"), AIMessage)


# --- fallback on cache errors ---------------------------------------------------------------


def caller_marked(count: int) -> list[Any]:
    """A conversation whose caller placed `count` cache breakpoints themselves."""
    marked = {"cache_control": {"type": "ephemeral"}}
    system = SystemMessage(
        [{"type": "text", "text": f"Part {i}. " + LONG_SYSTEM, **marked} for i in range(count)]
    )
    return [system, HumanMessage("Question 0")]


async def test_a_callers_five_breakpoints_are_cut_to_the_providers_four(
    simulator_url: str,
) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, cachingEnabled=True)
    conversation = caller_marked(5)
    reply = await model.ainvoke(conversation)  # the simulator answers 400 above 4
    assert isinstance(reply, AIMessage)
    assert [e.mode for e in recorder.events] == ["cached"]
    assert recorder.events[0].cache_write_5m_tokens > 0
    assert conversation == caller_marked(5)  # trimmed on a copy


def strict_provider(make_simulator: MakeSimulator) -> LiveSimulator:
    """A provider that takes at most 2 breakpoints (the planner plans for Anthropic's 4)."""
    return make_simulator(dataclasses.replace(FAST, max_cache_breakpoints=2))


async def test_refused_breakpoints_are_retried_without_any_when_fallback_is_on(
    make_simulator: MakeSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    simulator = strict_provider(make_simulator)
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator.url, recorder, cachingEnabled=True, fallbackToStandard=True)
    conversation = caller_marked(3)
    with caplog.at_level(logging.WARNING):
        reply = await model.ainvoke(conversation)
    details = reply.usage_metadata["input_token_details"]  # type: ignore[index]
    assert not details.get("cache_creation")
    assert not details.get("cache_read")
    assert [e.mode for e in recorder.events] == ["fallback"]
    assert "retrying without them" in caplog.text
    assert conversation == caller_marked(3)  # the caller's messages were not touched


def test_sync_invoke_and_stream_fall_back_the_same_way(make_simulator: MakeSimulator) -> None:
    simulator = strict_provider(make_simulator)
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator.url, recorder, cachingEnabled=True, fallbackToStandard=True)
    assert isinstance(model.invoke(caller_marked(3)), AIMessage)
    assert "".join(str(chunk.content) for chunk in model.stream(caller_marked(3)))
    assert [e.mode for e in recorder.events] == ["fallback", "fallback"]


async def test_async_stream_falls_back_too(make_simulator: MakeSimulator) -> None:
    simulator = strict_provider(make_simulator)
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator.url, recorder, cachingEnabled=True, fallbackToStandard=True)
    chunks = [chunk async for chunk in model.astream(caller_marked(3))]
    assert "".join(str(chunk.content) for chunk in chunks)
    assert [e.mode for e in recorder.events] == ["fallback"]


async def test_refused_breakpoints_raise_cache_error_when_fallback_is_off(
    make_simulator: MakeSimulator,
) -> None:
    simulator = strict_provider(make_simulator)
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator.url, recorder, cachingEnabled=True, fallbackToStandard=False)
    with pytest.raises(CacheError, match="A maximum of 2 blocks with cache_control") as caught:
        await model.ainvoke(caller_marked(3))
    assert isinstance(caught.value.__cause__, anthropic.BadRequestError)
    assert caught.value.provider == "anthropic"
    assert caught.value.model == MODEL
    assert recorder.events == []  # nothing was answered, nothing recorded
    with pytest.raises(CacheError):
        model.invoke(caller_marked(3))
    with pytest.raises(CacheError):
        list(model.stream(caller_marked(3)))


async def test_errors_unrelated_to_caching_are_not_retried(simulator_url: str) -> None:
    model = wrapper(
        simulator_url,
        InMemoryUsageRecorder(),
        {"default_headers": {"x-simulator-faults": "server_error=1"}, "max_retries": 0},
        cachingEnabled=True,
    )
    with pytest.raises(anthropic.InternalServerError):
        await model.ainvoke(caller_marked(1))


# --- batches the provider would not take ----------------------------------------------------


def mixed_sizes() -> list[str]:
    return ["Question 0", "Question 1", "Question 2 " + "x" * 1_500, "Question 3 " + "y" * 1_500]


async def test_a_refused_second_batch_is_answered_by_the_standard_api_and_the_first_kept(
    make_simulator: MakeSimulator,
) -> None:
    # the provider takes at most 2,000 bytes a batch: the first (small) batch is accepted, the
    # second (large) one refused with 413
    simulator = make_simulator(dataclasses.replace(FAST, batch_max_bytes=2_000))
    recorder = InMemoryUsageRecorder()
    model = fast_batches(wrapper(simulator.url, recorder, batchingEnabled=True, batchMaxSize=2))
    replies = await model.abatch(mixed_sizes())
    assert all(f"Question {i}" in str(r.content) for i, r in enumerate(replies))
    assert len(simulator.batch_ids()) == 1
    assert [e.mode for e in recorder.events] == ["batch", "batch", "fallback", "fallback"]


async def test_a_request_too_large_for_any_batch_sends_all_through_the_standard_api(
    simulator: LiveSimulator,
) -> None:
    recorder = InMemoryUsageRecorder()
    model = fast_batches(wrapper(simulator.url, recorder, batchingEnabled=True))
    model.llmopt.batch_client_options["max_bytes"] = 1_000
    replies = await model.abatch(mixed_sizes())
    assert all(f"Question {i}" in str(r.content) for i, r in enumerate(replies))
    assert simulator.batch_ids() == []
    assert [e.mode for e in recorder.events] == ["fallback"] * 4


async def test_without_fallback_an_unsendable_batch_fails_every_position(
    simulator: LiveSimulator,
) -> None:
    model = fast_batches(
        wrapper(
            simulator.url, InMemoryUsageRecorder(), batchingEnabled=True, fallbackToStandard=False
        )
    )
    model.llmopt.batch_client_options["max_bytes"] = 1_000
    with pytest.raises(BatchError, match="4 of 4 batched request") as caught:
        await model.abatch(mixed_sizes())
    assert caught.value.positions == [0, 1, 2, 3]
    assert simulator.batch_ids() == []
    replies = await model.abatch(mixed_sizes(), return_exceptions=True)
    assert all(isinstance(reply, BatchError) for reply in replies)


class BrokenRecorder:
    def record(self, event: object) -> None:
        raise RuntimeError("the telemetry sink is down")


async def test_a_failing_recorder_never_breaks_the_call(
    simulator_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    model = optimize(
        base(simulator_url),
        "anthropic",
        {"optimizationEnabled": True, "cachingEnabled": True},
        recorder=BrokenRecorder(),
    )
    with caplog.at_level(logging.WARNING):
        reply = await model.ainvoke("Hello")
    assert isinstance(reply, AIMessage)
    assert "recording usage failed: the telemetry sink is down" in caplog.text


async def _abatch_while_the_provider_loses_its_state(
    make_simulator: MakeSimulator, **abatch_options: Any
) -> tuple[list[Any] | BaseException, str, InMemoryUsageRecorder]:
    """abatch, while the provider restarts without its state mid-batch: the batch is gone."""
    simulator = make_simulator(dataclasses.replace(FAST, batch_start_delay=30.0))
    recorder = InMemoryUsageRecorder()
    model = fast_batches(wrapper(simulator.url, recorder, batchingEnabled=True))
    call = asyncio.create_task(model.abatch(["Question 0", "Question 1"], **abatch_options))
    # The simulator's state has no event to wait on: look until the batch exists.
    while not simulator.batch_ids():  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    [batch_id] = simulator.batch_ids()
    simulator.restart(keep_state=False)
    try:
        replies: list[Any] | BaseException = await asyncio.wait_for(call, 30)
    except BatchError as exc:
        replies = exc
    return replies, batch_id, recorder


async def test_a_batch_that_vanishes_answers_each_caller_with_an_error_not_a_raise(
    make_simulator: MakeSimulator,
) -> None:
    replies, batch_id, recorder = await _abatch_while_the_provider_loses_its_state(
        make_simulator, return_exceptions=True
    )
    assert isinstance(replies, list)
    assert [type(reply) for reply in replies] == [BatchError, BatchError]
    assert all(reply.batch_id == batch_id for reply in replies)
    assert "could not be followed" in str(replies[0])
    assert recorder.events == []  # not sent again through the standard API


async def test_without_return_exceptions_a_vanished_batch_raises_one_batch_error(
    make_simulator: MakeSimulator,
) -> None:
    raised, batch_id, _ = await _abatch_while_the_provider_loses_its_state(make_simulator)
    assert isinstance(raised, BatchError)
    assert raised.positions == [0, 1]
    assert raised.batch_id == batch_id
