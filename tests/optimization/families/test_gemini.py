"""ChatGoogleGenerativeAI through optimize(), over HTTP against the simulator's Gemini API:
implicit cache reads on single calls, Gemini Batch Mode on bulk calls."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_google_genai import ChatGoogleGenerativeAI

from optimization.batch_scope import batching
from optimization.dropin import optimize
from optimization.recorders import InMemoryUsageRecorder
from optimization.wrapper import OptimizedLLMWrapper
from tests.optimization.simulators import FAST, LiveSimulator, MakeSimulator
from tests.optimization.test_gemini_batch_client import chat

LONG_SYSTEM = "You answer questions about the handbook. " + "Policy clause. " * 1500
CACHING = {"optimizationEnabled": True, "cachingEnabled": True}
BATCHING = {"optimizationEnabled": True, "batchingEnabled": True, "batchTimeout": 1}


def optimized(model: Any, recorder: InMemoryUsageRecorder, **config: Any) -> Any:
    result = optimize(model, "gemini", config, recorder=recorder)
    assert isinstance(result, OptimizedLLMWrapper)
    assert isinstance(result, ChatGoogleGenerativeAI)
    return result


def conversation(question: str) -> list[BaseMessage]:
    return [SystemMessage(LONG_SYSTEM), HumanMessage(question)]


def gemini_batches(simulator: LiveSimulator) -> list[dict[str, Any]]:
    return simulator.state.gemini.batches.operations()


async def test_single_calls_read_the_implicit_cache_and_are_recorded(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(FAST)
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), recorder, **CACHING)
    first = await model.ainvoke(conversation("What is the leave policy?"))
    second = await model.ainvoke(conversation("And the travel policy?"))
    assert first.usage_metadata["input_token_details"]["cache_read"] == 0
    read = second.usage_metadata["input_token_details"]["cache_read"]
    assert read > 2048
    assert [event.provider for event in recorder.events] == ["gemini", "gemini"]
    assert recorder.events[1].cache_read_tokens == read
    assert gemini_batches(simulator) == []


def test_the_optimized_copy_outlives_the_model_it_was_made_from(
    make_simulator: MakeSimulator,
) -> None:
    # PipesHub's factory builds a model, optimize() copies it and the original is collected:
    # a release that closes its client when collected must not close the copy's.
    simulator = make_simulator(FAST)
    model = optimized(chat(simulator.url), InMemoryUsageRecorder(), **CACHING)
    gc.collect()
    assert model.invoke(conversation("Still there?")).content
    copy = optimized(model, InMemoryUsageRecorder(), **CACHING)
    del model
    gc.collect()
    assert copy.invoke(conversation("And now?")).content


async def test_abatch_goes_through_batch_mode_in_input_order(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(FAST)
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), recorder, **BATCHING)
    questions = [conversation(f"Question {i}?") for i in range(5)]
    replies = await model.abatch(questions)
    assert all(isinstance(reply, AIMessage) for reply in replies)
    assert [str(r.content).endswith(f"Question {i}?") for i, r in enumerate(replies)] == [True] * 5
    [batch] = gemini_batches(simulator)
    assert {event.batch_id for event in recorder.events} == {batch["name"]}
    assert {event.mode for event in recorder.events} <= {"batch", "batch+cache"}
    assert all(event.cost < event.baseline_cost for event in recorder.events)


async def test_ainvoke_inside_batching_is_answered_from_a_batch(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(FAST)
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), recorder, **BATCHING)
    async with batching():
        replies = await asyncio.gather(
            *(model.ainvoke(conversation(f"Document {i}")) for i in range(3))
        )
    assert [str(r.content).endswith(f"Document {i}") for i, r in enumerate(replies)] == [True] * 3
    assert len(gemini_batches(simulator)) == 1
    assert {event.mode for event in recorder.events} <= {"batch", "batch+cache"}
