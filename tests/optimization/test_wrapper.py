"""OptimizedLLMWrapper over real HTTP against the simulator (the simulator is the provider)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from optimization.exceptions import BatchError
from optimization.factory import get_generator_model
from optimization.recorders import InMemoryUsageRecorder, set_default_recorder
from optimization.wrapper import OptimizedLLMWrapper

MODEL = "claude-sonnet-4-5"
LONG_SYSTEM = "You answer questions about the handbook. " + "Policy clause. " * 1500


def base(url: str, **kwargs: Any) -> ChatAnthropic:
    return ChatAnthropic(model=MODEL, api_key="sk-test", base_url=url, max_tokens=64, **kwargs)


def wrapper(url: str, recorder: InMemoryUsageRecorder, **config: Any) -> OptimizedLLMWrapper:
    configuration = {"optimizationEnabled": True, **config}
    return OptimizedLLMWrapper(base(url), "anthropic", configuration, recorder=recorder)


async def test_ainvoke_with_cache_disabled_sends_no_breakpoints(simulator_url: str) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, cachingEnabled=False)
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


def test_the_wrapper_keeps_the_base_models_identity(simulator_url: str) -> None:
    model = wrapper(simulator_url, InMemoryUsageRecorder())
    assert model._llm_type == "anthropic-chat"
    assert model._identifying_params["model"] == MODEL
    keyword = OptimizedLLMWrapper(base_model=base(simulator_url), provider="anthropic")
    assert not keyword.caching
    assert not keyword.batching


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
    model.batch_client_options.update(poll_initial=0.05, poll_max=0.2)
    replies = await model.abatch([f"Question {i}" for i in range(5)])
    assert len(replies) == 5
    assert all(isinstance(r, AIMessage) for r in replies)
    assert all(r.response_metadata.get("batch_id") for r in replies)
    assert [r.response_metadata["custom_id"] for r in replies] == [f"r{i}" for i in range(5)]
    assert {e.mode for e in recorder.events} == {"batch"}


async def test_abatch_with_batching_disabled_uses_the_standard_api(simulator_url: str) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, batchingEnabled=False)
    replies = await model.abatch(["a", "b"])
    assert all("batch_id" not in r.response_metadata for r in replies)
    assert [e.mode for e in recorder.events] == ["standard", "standard"]


async def test_failed_batch_items_fall_back_to_the_standard_api(simulator_url: str) -> None:
    recorder = InMemoryUsageRecorder()
    model = wrapper(simulator_url, recorder, batchingEnabled=True, fallbackToStandard=True)
    model.batch_client_options.update(poll_initial=0.05, poll_max=0.2)
    model.base_model.default_headers = {"x-simulator-faults": "batch_errored=0.5"}
    model._batch_clients.clear()
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
        simulator_url, InMemoryUsageRecorder(), batchingEnabled=True, fallbackToStandard=False
    )
    model.batch_client_options.update(poll_initial=0.05, poll_max=0.2)
    model.base_model.default_headers = {"x-simulator-faults": "batch_errored=1"}
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
    memory = InMemoryUsageRecorder()
    set_default_recorder(memory)  # looked up at record time, not frozen when the model was built
    try:
        await model.ainvoke("Hello")
    finally:
        set_default_recorder(None)
    assert [event.mode for event in memory.events] == ["cached"]
    assert memory.events[0].model == MODEL
