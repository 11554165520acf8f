"""ChatOpenAI and AzureChatOpenAI through optimize(), over HTTP against the simulator: cache
routing keys and cache reads on single calls, the Batch API on bulk calls."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import AzureChatOpenAI, ChatOpenAI

from optimization.batch_scope import batching
from optimization.dropin import optimize
from optimization.exceptions import CacheError
from optimization.factory import get_generator_model
from optimization.families.openai import prompt_cache_key
from optimization.recorders import InMemoryUsageRecorder
from optimization.simulator import Clock
from optimization.wrapper import OptimizedLLMWrapper
from tests.optimization.simulators import FAST, MakeSimulator

MODEL = "gpt-4o-mini"
LONG_SYSTEM = "You answer questions about the handbook. " + "Policy clause. " * 1500
CACHING = {"optimizationEnabled": True, "cachingEnabled": True}
BATCHING = {"optimizationEnabled": True, "batchingEnabled": True, "batchTimeout": 1}


def chat(url: str, **kwargs: Any) -> ChatOpenAI:
    options = {"model": MODEL, **kwargs}
    return ChatOpenAI(api_key="sk-test", base_url=f"{url}/v1", max_retries=0, **options)


def optimized(model: Any, provider: str, recorder: InMemoryUsageRecorder, **config: Any) -> Any:
    result = optimize(model, provider, config, recorder=recorder)
    assert isinstance(result, OptimizedLLMWrapper)
    return result


def conversation(question: str, system: str = LONG_SYSTEM) -> list[BaseMessage]:
    return [SystemMessage(system), HumanMessage(question)]


# --- the routing key ------------------------------------------------------------------------


def test_the_key_names_the_static_prefix_only() -> None:
    first = prompt_cache_key(conversation("What is the leave policy?"))
    assert first is not None
    assert first == prompt_cache_key(conversation("And the travel policy?"))
    assert first != prompt_cache_key(conversation("What is the leave policy?", "Another prompt."))
    tool = {"type": "function", "function": {"name": "search", "parameters": {}}}
    assert prompt_cache_key(conversation("Hi"), [tool]) not in (first, None)
    assert prompt_cache_key([HumanMessage("No system prompt, no tools")]) is None


async def test_calls_on_one_system_prompt_share_a_key_and_read_the_cache(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(FAST)
    recorder = InMemoryUsageRecorder()
    # A plain call writes the prefix without a key: the optimized calls route by their own key,
    # so the first of them cannot read it and the second reads what the first wrote.
    await chat(simulator.url).ainvoke(conversation("Warm-up"))
    model = optimized(chat(simulator.url), "openAI", recorder, **CACHING)
    assert isinstance(model, ChatOpenAI)
    first = await model.ainvoke(conversation("What is the leave policy?"))
    second = await model.ainvoke(conversation("And the travel policy?"))
    assert _cache_read(first) == 0
    assert _cache_read(second) > 1024
    assert [event.mode for event in recorder.events] == ["cached", "cached"]
    read = recorder.events[1]
    assert read.provider == "openAI"
    assert read.cache_read_tokens == _cache_read(second)
    assert read.cost < read.baseline_cost


async def test_the_callers_own_key_wins(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator(FAST)
    model = optimized(chat(simulator.url), "openAI", InMemoryUsageRecorder(), **CACHING)
    await model.ainvoke(conversation("One"), prompt_cache_key="tenant-a")
    other = await model.ainvoke(conversation("Two"), prompt_cache_key="tenant-b")
    same = await model.ainvoke(conversation("Three"), prompt_cache_key="tenant-a")
    assert _cache_read(other) == 0
    assert _cache_read(same) > 0


async def test_calls_ask_for_the_extended_retention_where_the_model_offers_it(
    make_simulator: MakeSimulator,
) -> None:
    # Chat Completions default to in-memory retention (gone after minutes of inactivity); the
    # 24 h policy costs nothing more on the models that offer both.
    simulator = make_simulator(FAST, Clock(speed=0))
    for name, survives in (("gpt-5.1", True), ("gpt-4o-mini", False)):
        model = optimized(
            chat(simulator.url, model=name), "openAI", InMemoryUsageRecorder(), **CACHING
        )
        await model.ainvoke(conversation("Before the pause"))
        simulator.clock.advance(2 * 3600)
        after = await model.ainvoke(conversation("After the pause"))
        assert (_cache_read(after) > 0) is survives, name


async def test_a_refused_cache_param_is_sent_again_without_the_hints(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(FAST)
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), "openAI", recorder, **CACHING)
    reply = await model.ainvoke(conversation("Hi"), prompt_cache_retention="7d")
    assert reply.content
    assert [event.mode for event in recorder.events] == ["fallback"]
    strict = optimized(chat(simulator.url), "openAI", recorder, **CACHING, fallbackToStandard=False)
    with pytest.raises(CacheError):
        await strict.ainvoke(conversation("Hi"), prompt_cache_retention="7d")


def test_streamed_calls_record_their_cache_reads(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator(FAST)
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url, stream_usage=True), "openAI", recorder, **CACHING)
    model.invoke(conversation("First"))
    chunks = list(model.stream(conversation("Second")))
    assert "".join(str(chunk.content) for chunk in chunks)
    assert recorder.events[-1].cache_read_tokens > 0


def test_azure_deployments_before_gpt_5_6_get_no_key() -> None:
    old = AzureChatOpenAI(
        azure_endpoint="http://127.0.0.1:9",
        api_key="k",
        api_version="2025-04-01-preview",
        azure_deployment="gpt-4o-prod",
    )
    new = old.model_copy(update={"deployment_name": "gpt-5.6-prod"})
    for model, keyed in ((old, False), (new, True)):
        hints = optimized(model, "azureOpenAI", InMemoryUsageRecorder(), **CACHING)
        kwargs = hints._with_cache_hints(conversation("Hi"), {})
        assert ("prompt_cache_key" in kwargs) is keyed


# --- bulk calls -----------------------------------------------------------------------------


async def test_abatch_goes_through_the_batch_api_in_input_order(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(FAST)
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), "openAI", recorder, **BATCHING, cachingEnabled=True)
    questions = [conversation(f"Question {i}?") for i in range(5)]
    replies = await model.abatch(questions)
    assert all(isinstance(reply, AIMessage) for reply in replies)
    assert [f"Question {i}" in str(r.content) for i, r in enumerate(replies)] == [True] * 5
    [batch] = simulator.state.openai.batches.list()
    assert {event.batch_id for event in recorder.events} == {batch["id"]}
    assert {event.mode for event in recorder.events} == {"batch+cache"}


async def test_ainvoke_inside_batching_is_answered_from_a_batch(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(FAST)
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), "openAI", recorder, **BATCHING)
    async with batching():
        replies = await asyncio.gather(
            *(model.ainvoke(conversation(f"Document {i}")) for i in range(3))
        )
    assert [f"Document {i}" in str(r.content) for i, r in enumerate(replies)] == [True] * 3
    assert len(simulator.state.openai.batches.list()) == 1
    assert {event.mode for event in recorder.events} == {"batch"}


async def test_azure_abatch_uses_the_deployment(make_simulator: MakeSimulator) -> None:
    simulator = make_simulator(FAST)
    recorder = InMemoryUsageRecorder()
    azure = AzureChatOpenAI(
        azure_endpoint=simulator.url,
        api_key="azure-key",
        api_version="2024-10-21",
        azure_deployment=MODEL,
        max_retries=0,
    )
    model = optimized(azure, "azureOpenAI", recorder, **BATCHING)
    replies = await model.abatch([conversation("Azure one"), conversation("Azure two")])
    assert ["Azure one" in str(replies[0].content), "Azure two" in str(replies[1].content)] == [
        True,
        True,
    ]
    assert len(simulator.state.openai.batches.list()) == 1
    assert [event.provider for event in recorder.events] == ["azureOpenAI"] * 2


def test_pipeshubs_factory_builds_an_optimized_chat_openai(
    make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = make_simulator(FAST)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{simulator.url}/v1")
    entry = {
        "provider": "openAI",
        "configuration": {"model": MODEL, "apiKey": "sk-test", **CACHING},
    }
    model = get_generator_model("openAI", entry)
    assert isinstance(model, ChatOpenAI)
    assert isinstance(model, OptimizedLLMWrapper)
    assert model.invoke(conversation("Hello")).content


def _cache_read(message: BaseMessage) -> int:
    usage = getattr(message, "usage_metadata", None) or {}
    return int((usage.get("input_token_details") or {}).get("cache_read") or 0)
