"""The planner on traffic as it comes: pauses, many applications, processes, restarts.

Requests are priced by the model of Anthropic's cache the benchmarks use, so these tests say
what a request reads and writes, not only where its breakpoints are.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from benchmarks.cache_cost_model import AnthropicCache, Usage, blocks_of
from optimization.cache_manager import CacheManager
from optimization.capabilities import ProviderCapabilities
from optimization.config import OptimizationConfig
from optimization.messages import messages_to_anthropic_params
from optimization.planner.learning import Rate, repeats_in_time, seen_share

MODEL = "claude-sonnet-4-5"
TTL = 300


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def planner(clock: Clock) -> CacheManager:
    config = OptimizationConfig.from_dict(
        {"optimizationEnabled": True, "cachingEnabled": True}, strict=True
    )
    return CacheManager(ProviderCapabilities.detect("anthropic", MODEL), config, clock=clock)


def long(tokens: int, tag: str) -> str:
    return (f"{tag} " + "lorem ipsum dolor sit amet " * tokens)[: tokens * 4]


SYSTEM = SystemMessage(long(2000, "system"))


class Anthropic:
    """Anthropic's cache as the cost model replays it, at the clock's time."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.cache = AnthropicCache(min_tokens=1024)

    def send(self, manager: CacheManager, messages: list[BaseMessage], tools: Any = None) -> Usage:
        plan = manager.plan(messages, tools)
        params = messages_to_anthropic_params(plan.messages, model=MODEL)
        if plan.tools:
            params["tools"] = plan.tools
        return self.cache.process(blocks_of(params), self.clock.now)


def tokens_of(messages: list[BaseMessage]) -> int:
    return sum(len(str(message.content)) for message in messages) // 4


def next_turn(history: list[BaseMessage], tag: str) -> None:
    history += [AIMessage(long(300, f"{tag} answer")), HumanMessage(long(100, f"{tag} question"))]


# -- pauses -------------------------------------------------------------------------------


def test_a_conversation_back_from_a_pause_beyond_the_ttl_is_read_again_from_its_next_turn() -> None:
    clock = Clock()
    manager, anthropic = planner(clock), Anthropic(clock)
    history: list[BaseMessage] = [SYSTEM, HumanMessage(long(200, "q0"))]
    anthropic.send(manager, history)
    for turn in range(1, 4):
        clock.now += 30
        next_turn(history, f"t{turn}")
        anthropic.send(manager, history)
    clock.now += 20 * 60  # a meeting: every entry has expired
    next_turn(history, "back")
    back = anthropic.send(manager, history)
    assert back.read == 0
    assert back.write_5m >= tokens_of(history) - 50  # written again, for the turns to come
    sent = tokens_of(history)
    clock.now += 30
    next_turn(history, "after")
    after = anthropic.send(manager, history)
    assert after.read >= sent - 50


def test_expired_writes_of_a_few_conversations_do_not_stop_the_next_from_being_cached() -> None:
    clock = Clock()
    manager, anthropic = planner(clock), Anthropic(clock)
    for number in range(6):
        # Each conversation has two turns, then its person leaves for good: its second
        # tail, written for a third turn, expires unread.
        history: list[BaseMessage] = [SYSTEM, HumanMessage(long(200, f"c{number}"))]
        anthropic.send(manager, history)
        clock.now += 30
        next_turn(history, f"c{number}")
        anthropic.send(manager, history)
        clock.now += 400
    history = [SYSTEM, HumanMessage(long(200, "last"))]
    anthropic.send(manager, history)
    for turn in range(1, 4):
        clock.now += 30
        sent = tokens_of(history)
        next_turn(history, f"last{turn}")
        usage = anthropic.send(manager, history)
        assert usage.write_5m > 0  # its tail is still written for the next turn
    assert usage.read >= sent - 50


def test_the_system_prompt_stays_cached_while_conversations_only_read_longer_prefixes() -> None:
    clock = Clock()
    manager, anthropic = planner(clock), Anthropic(clock)
    chats: list[list[BaseMessage]] = [[SYSTEM, HumanMessage(long(200, f"c{n}"))] for n in range(2)]
    for history in chats:
        anthropic.send(manager, history)
    for turn in range(12):  # 12 minutes of turns that each read their own conversation
        clock.now += 60
        for number, history in enumerate(chats):
            next_turn(history, f"c{number}t{turn}")
            anthropic.send(manager, history)
    clock.now += 60
    newcomer = anthropic.send(manager, [SYSTEM, HumanMessage(long(200, "new"))])
    assert newcomer.read >= 2000


# -- many applications ----------------------------------------------------------------------


def test_an_application_whose_requests_come_rarely_stops_writing_its_system_prompt() -> None:
    clock = Clock()
    manager, anthropic = planner(clock), Anthropic(clock)
    written = []
    for number in range(20):
        usage = anthropic.send(manager, [SYSTEM, HumanMessage(f"Report {number}, please.")])
        written.append(usage.write_5m > 0)
        clock.now += 20 * 60
    assert written[0]  # its first request writes it, in case the next comes in time
    assert not any(written[-5:])


def test_a_busy_application_keeps_its_system_prompt_cached_beside_a_rare_one() -> None:
    clock = Clock()
    manager, anthropic = planner(clock), Anthropic(clock)
    rare = SystemMessage(long(2000, "rare"))
    reads = []
    for number in range(60):
        if number % 15 == 0:
            anthropic.send(manager, [rare, HumanMessage(long(3000, f"document {number}"))])
        usage = anthropic.send(manager, [SYSTEM, HumanMessage(long(3000, f"context {number}"))])
        reads.append(usage.read)
        clock.now += 60
    assert all(read >= 2000 for read in reads[1:])


def test_one_off_jobs_and_chat_applications_each_teach_their_own_kind_of_newcomer() -> None:
    clock = Clock()
    manager, anthropic = planner(clock), Anthropic(clock)
    for number in range(10):
        # A chat application whose conversations go on, beside one-off document jobs (a
        # short instruction, a long document) that nothing ever extends.
        chat: list[BaseMessage] = [SYSTEM, HumanMessage(long(200, f"chat {number}"))]
        anthropic.send(manager, chat)
        job = [SystemMessage("Summarise."), HumanMessage(long(3000, f"document {number}"))]
        anthropic.send(manager, job)
        clock.now += 30
        next_turn(chat, f"chat {number}")
        anthropic.send(manager, chat)
        clock.now += 30
    # A new chat application's first turn is written for its second, as the other
    # application's first turns were read ...
    first_turn = [SystemMessage(long(1500, "another app")), HumanMessage(long(300, "hello"))]
    assert anthropic.send(manager, first_turn).write_5m >= tokens_of(first_turn) - 50
    # ... and a new kind of one-off job is not written, as the other jobs were never read.
    job = [SystemMessage("Translate."), HumanMessage(long(3000, "contract"))]
    assert anthropic.send(manager, job).write_5m == 0


# -- processes and restarts -----------------------------------------------------------------


def test_a_fresh_planner_reads_what_another_process_wrote_for_the_same_conversation() -> None:
    clock = Clock()
    anthropic = Anthropic(clock)
    first = planner(clock)
    history: list[BaseMessage] = [SYSTEM, HumanMessage(long(200, "q0"))]
    for turn in range(3):
        anthropic.send(first, history)
        clock.now += 30
        next_turn(history, f"t{turn}")
    sent = tokens_of(history[:-2])
    usage = anthropic.send(planner(clock), history)  # another process, or after a restart
    assert usage.read >= sent - 50
    assert usage.write_5m > 0


def test_a_fresh_planner_marks_an_agents_previous_step_beyond_the_lookback() -> None:
    clock = Clock()
    anthropic = Anthropic(clock)
    history: list[BaseMessage] = [SYSTEM, HumanMessage(long(300, "task"))]
    for step in range(2):
        ids = [f"toolu_{step}_{k}" for k in range(11)]
        history.append(
            AIMessage(
                "",
                tool_calls=[{"name": "grep", "args": {"k": k}, "id": i} for k, i in enumerate(ids)],
            )
        )
        history += [
            ToolMessage(long(150, f"r{step}{k}"), tool_call_id=i) for k, i in enumerate(ids)
        ]
        if step == 0:
            anthropic.send(planner(clock), history)
            sent = tokens_of(history)
        clock.now += 5
    usage = anthropic.send(planner(clock), history)
    assert usage.read >= sent - 100


def test_processes_taking_turns_keep_caching_the_conversations_they_share() -> None:
    clock = Clock()
    anthropic = Anthropic(clock)
    workers = [planner(clock) for _ in range(4)]
    # Five conversations, a turn each every 90 s, the requests dealt to four workers in turn:
    # a worker sees a conversation again only after its tail has expired.
    chats: list[list[BaseMessage]] = [[SYSTEM, HumanMessage(long(200, f"c{n}"))] for n in range(5)]
    sent = 0
    reads = []
    for turn in range(16):
        for number, history in enumerate(chats):
            if turn:
                next_turn(history, f"c{number}t{turn}")
            usage = anthropic.send(workers[sent % len(workers)], history)
            sent += 1
            if turn >= 8:
                reads.append(usage.read / tokens_of(history))
            clock.now += 18
    assert min(reads) > 0.85


def test_the_share_of_turns_a_planner_sees_is_learnt_from_the_turns_whose_parent_it_saw() -> None:
    known = Rate()
    assert seen_share(known) == 1.0  # one process, until shown otherwise
    for number in range(200):
        known.count(number % 4 == 0)
    assert 0.2 < seen_share(known) < 0.35
    # a quarter of the traffic with a 25% chance of a repeat in time: 68% over all processes
    assert round(repeats_in_time(0.25, 0.25), 2) == 0.68
