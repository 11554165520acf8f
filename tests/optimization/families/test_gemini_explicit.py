"""Explicit Gemini context caches on optimized calls, over HTTP against the simulator.

The simulator runs on a stopped clock the test advances, and the process's cache memory reads
the same clock, so an hour of traffic takes no time. Calls seven minutes apart outlive the
simulator's implicit cache (five minutes): only an explicit entry can serve them from cache.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool

from optimization import context_cache_memory
from optimization.recorders import InMemoryUsageRecorder
from optimization.simulator import Clock
from optimization.telemetry import UsageEvent
from tests.optimization.families.test_gemini import LONG_SYSTEM, conversation, optimized
from tests.optimization.simulators import FAST, LiveSimulator, MakeSimulator
from tests.optimization.test_gemini_batch_client import chat

EXPLICIT = {"optimizationEnabled": True, "cachingEnabled": True, "cacheTTL": 3600}
APART = 420.0  # seconds between calls: longer than the implicit cache lives


@pytest.fixture
def simulator(make_simulator: MakeSimulator, monkeypatch: pytest.MonkeyPatch) -> LiveSimulator:
    """A simulator on a stopped clock, shared with the process's context cache memory."""
    live = make_simulator(FAST, clock=Clock(speed=0))
    monkeypatch.setattr(context_cache_memory, "clock", live.clock.now)
    return live


def entries(simulator: LiveSimulator) -> list[Any]:
    return simulator.state.gemini.cached_contents.list(now=simulator.clock.now())


def storage_events(recorder: InMemoryUsageRecorder) -> list[UsageEvent]:
    return [event for event in recorder.events if event.cache_storage_token_hours]


def call_events(recorder: InMemoryUsageRecorder) -> list[UsageEvent]:
    return [event for event in recorder.events if not event.cache_storage_token_hours]


def cache_read(reply: BaseMessage) -> int:
    assert isinstance(reply, AIMessage)
    assert reply.usage_metadata is not None
    return int(reply.usage_metadata.get("input_token_details", {}).get("cache_read", 0))


async def spaced_calls(
    model: Any, simulator: LiveSimulator, count: int, apart: float = APART
) -> list[BaseMessage]:
    replies = []
    for i in range(count):
        replies.append(await model.ainvoke(conversation(f"Question {i}?")))
        simulator.clock.advance(apart)
    return replies


async def test_a_busy_prefix_gets_one_entry_that_later_calls_read(
    simulator: LiveSimulator,
) -> None:
    recorder = InMemoryUsageRecorder()
    replies = await spaced_calls(
        optimized(chat(simulator.url), recorder, **EXPLICIT), simulator, 12
    )
    [entry] = entries(simulator)
    reads = [cache_read(reply) for reply in replies]
    first_read = next(i for i, read in enumerate(reads) if read)
    assert 1 < first_read < 8  # learned from a few calls, then it paid
    assert reads[:first_read] == [0] * first_read  # the implicit cache had expired each time
    assert reads[first_read:] == [entry.tokens] * (12 - first_read)  # the whole prefix
    assert all(str(r.content).endswith(f"Question {i}?") for i, r in enumerate(replies))
    assert {event.mode for event in call_events(recorder)} == {"cached"}
    total = sum(event.cost for event in recorder.events)
    assert total < sum(event.baseline_cost for event in call_events(recorder))


async def test_storage_events_count_the_token_hours_bought(simulator: LiveSimulator) -> None:
    recorder = InMemoryUsageRecorder()
    start = simulator.clock.now()
    await spaced_calls(optimized(chat(simulator.url), recorder, **EXPLICIT), simulator, 12)
    [entry] = entries(simulator)
    created, *refreshed = storage_events(recorder)
    assert created.cache_storage_token_hours == entry.tokens  # one hour of TTL
    assert refreshed  # kept alive while the calls kept coming
    bought = sum(event.cache_storage_token_hours for event in storage_events(recorder))
    alive_hours = Decimal(str(entry.expires_at - entry.created_at)) / 3600
    assert bought == pytest.approx(entry.tokens * alive_hours)
    assert entry.created_at > start
    assert all(event.cost > 0 and event.baseline_cost == 0 for event in storage_events(recorder))


async def test_a_prefix_used_rarely_never_gets_an_entry(simulator: LiveSimulator) -> None:
    recorder = InMemoryUsageRecorder()
    await spaced_calls(optimized(chat(simulator.url), recorder, **EXPLICIT), simulator, 6, 1800)
    assert entries(simulator) == []
    assert storage_events(recorder) == []


async def test_a_prefix_the_implicit_cache_serves_gets_no_entry(simulator: LiveSimulator) -> None:
    recorder = InMemoryUsageRecorder()
    replies = await spaced_calls(
        optimized(chat(simulator.url), recorder, **EXPLICIT), simulator, 12, 60
    )
    assert entries(simulator) == []
    assert all(cache_read(reply) > 2048 for reply in replies[1:])


async def test_an_entry_deleted_behind_our_back_falls_back_and_recovers(
    simulator: LiveSimulator,
) -> None:
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), recorder, **EXPLICIT)
    await spaced_calls(model, simulator, 8)
    [entry] = entries(simulator)
    simulator.state.gemini.cached_contents.delete(entry.name, now=simulator.clock.now())
    refused = await model.ainvoke(conversation("After the deletion?"))
    assert str(refused.content).endswith("After the deletion?")
    assert call_events(recorder)[-1].mode == "fallback"
    simulator.clock.advance(APART)
    recovered = await model.ainvoke(conversation("And now?"))
    [again] = entries(simulator)
    assert again.name != entry.name
    assert cache_read(recovered) == again.tokens


async def test_without_fallback_a_refused_entry_fails_the_call(
    simulator: LiveSimulator,
) -> None:
    from optimization.exceptions import CacheError

    model = optimized(
        chat(simulator.url), InMemoryUsageRecorder(), **EXPLICIT, fallbackToStandard=False
    )
    await spaced_calls(model, simulator, 8)
    [entry] = entries(simulator)
    simulator.state.gemini.cached_contents.delete(entry.name, now=simulator.clock.now())
    with pytest.raises(CacheError):
        await model.ainvoke(conversation("After the deletion?"))


def test_sync_calls_and_streams_use_the_entry_too(simulator: LiveSimulator) -> None:
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), recorder, **EXPLICIT)
    for i in range(8):
        model.invoke(conversation(f"Question {i}?"))
        simulator.clock.advance(APART)
    [entry] = entries(simulator)
    assert cache_read(model.invoke(conversation("Sync?"))) == entry.tokens
    streamed = list(model.stream(conversation("Streamed?")))
    assert "".join(str(chunk.content) for chunk in streamed).endswith("Streamed?")
    assert call_events(recorder)[-1].cache_read_tokens == entry.tokens


async def test_bound_tools_go_into_the_entry_and_leave_the_call(
    simulator: LiveSimulator,
) -> None:
    @tool
    def lookup_clause(number: int) -> str:
        """Look a handbook clause up by its number."""
        return f"clause {number}"

    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), recorder, **EXPLICIT).bind_tools([lookup_clause])
    replies = await spaced_calls(model, simulator, 10)
    [entry] = entries(simulator)
    assert entry.prompt.functions  # the tools are held by the entry
    assert cache_read(replies[-1]) == entry.tokens
    assert {event.mode for event in call_events(recorder)} == {"cached"}  # never refused


async def test_batches_never_name_an_entry(simulator: LiveSimulator) -> None:
    recorder = InMemoryUsageRecorder()
    config = {**EXPLICIT, "batchingEnabled": True, "batchTimeout": 1}
    model = optimized(chat(simulator.url), recorder, **config)
    await spaced_calls(model, simulator, 8)
    [entry] = entries(simulator)
    assert model._with_cache_hints(conversation("Batched?"), {}) == {}
    ticking = asyncio.create_task(tick(simulator))  # the batch runs on the simulator's clock
    try:
        replies = await model.abatch([conversation(f"Batched {i}?") for i in range(3)])
    finally:
        ticking.cancel()
    assert [str(r.content).endswith(f"Batched {i}?") for i, r in enumerate(replies)] == [True] * 3
    assert [e.name for e in entries(simulator)] == [entry.name]
    assert {event.mode for event in call_events(recorder)[-3:]} <= {"batch", "batch+cache"}


async def tick(simulator: LiveSimulator) -> None:
    while True:
        await asyncio.sleep(0.01)
        simulator.clock.advance(0.05)


def test_a_system_prompt_is_needed_for_an_entry() -> None:
    from optimization.gemini_explicit_cache import static_prefix

    assert static_prefix([HumanMessage("Hi")], {}) is None
    assert static_prefix([SystemMessage(LONG_SYSTEM)], {}) is None  # nothing would follow
    split = static_prefix([SystemMessage(LONG_SYSTEM), HumanMessage("Hi")], {"stop": ["X"]})
    assert split is not None
    assert [m.type for m in split.rest] == ["human"]
    assert split.rest_kwargs == {"stop": ["X"]}
    assert 0.9 < split.share < 1


async def test_concurrent_calls_create_one_entry_between_them(simulator: LiveSimulator) -> None:
    recorder = InMemoryUsageRecorder()
    model = optimized(chat(simulator.url), recorder, **EXPLICIT)
    await spaced_calls(model, simulator, 4)  # the next call on the prefix pays for an entry
    replies = await asyncio.gather(
        *(model.ainvoke(conversation(f"Together {i}?")) for i in range(6))
    )
    assert all(str(r.content).endswith(f"Together {i}?") for i, r in enumerate(replies))
    [entry] = entries(simulator)
    assert len(storage_events(recorder)) == 1
    assert cache_read(await model.ainvoke(conversation("After?"))) == entry.tokens


async def test_another_process_reads_the_entry_one_process_made_instead_of_its_own(
    simulator: LiveSimulator,
) -> None:
    first_recorder = InMemoryUsageRecorder()
    await spaced_calls(optimized(chat(simulator.url), first_recorder, **EXPLICIT), simulator, 6)
    [entry] = entries(simulator)
    context_cache_memory.forget_all()  # another worker: the same key, a memory of its own
    recorder = InMemoryUsageRecorder()
    replies = await spaced_calls(optimized(chat(simulator.url), recorder, **EXPLICIT), simulator, 6)
    assert [e.name for e in entries(simulator)] == [entry.name]  # no second entry is made
    assert cache_read(replies[-1]) == entry.tokens  # read from the entry (the calls are apart)
    # It may extend the entry's life, but never buys an hour of a new one.
    assert all(event.cache_storage_token_hours < entry.tokens for event in storage_events(recorder))


def sync_calls(simulator: LiveSimulator, recorder: InMemoryUsageRecorder, count: int) -> None:
    model = optimized(chat(simulator.url), recorder, **EXPLICIT)
    for i in range(count):
        model.invoke(conversation(f"Question {i}?"))
        simulator.clock.advance(APART)


def test_a_sync_caller_adopts_another_processs_entry_too(simulator: LiveSimulator) -> None:
    sync_calls(simulator, InMemoryUsageRecorder(), 6)
    [entry] = entries(simulator)
    context_cache_memory.forget_all()
    recorder = InMemoryUsageRecorder()
    sync_calls(simulator, recorder, 6)
    assert [e.name for e in entries(simulator)] == [entry.name]
    assert all(event.cache_storage_token_hours < entry.tokens for event in storage_events(recorder))


async def test_an_entry_near_its_expiry_is_not_adopted(simulator: LiveSimulator) -> None:
    recorder = InMemoryUsageRecorder()
    await spaced_calls(optimized(chat(simulator.url), recorder, **EXPLICIT), simulator, 6)
    [entry] = entries(simulator)
    simulator.clock.advance(entry.expires_at - simulator.clock.now() - 5)  # 5 s left
    context_cache_memory.forget_all()
    recorder = InMemoryUsageRecorder()
    await spaced_calls(optimized(chat(simulator.url), recorder, **EXPLICIT), simulator, 6)
    [own] = entries(simulator)
    assert own.name != entry.name  # the old one was about to go: this worker made its own
    assert storage_events(recorder)[0].cache_storage_token_hours == own.tokens


async def test_two_workers_sharing_an_entry_record_its_storage_once(
    simulator: LiveSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    memories: dict[int, OrderedDict[Any, Any]] = {0: OrderedDict(), 1: OrderedDict()}
    recorder = InMemoryUsageRecorder()
    models = [optimized(chat(simulator.url), recorder, **EXPLICIT) for _ in range(2)]
    for turn in range(24):  # the workers take the calls in turn, for about three hours
        worker = turn % 2
        # each worker process has its own memory of the prefix and its entry
        monkeypatch.setattr(context_cache_memory, "_memories", memories[worker])
        await models[worker].ainvoke(conversation(f"Question {turn}?"))
        simulator.clock.advance(APART)
    [entry] = entries(simulator)  # one entry between them, kept alive
    bought = sum(event.cache_storage_token_hours for event in storage_events(recorder))
    alive_hours = Decimal(str(entry.expires_at - entry.created_at)) / 3600
    # Neither worker pays for time the other one bought already.
    assert bought == pytest.approx(entry.tokens * alive_hours)
