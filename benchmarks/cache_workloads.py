"""Synthetic traffic for the cache planner benchmark (`benchmarks.bench_cache_planner`).

Multi-turn chats; agent loops with (sometimes parallel) tool calls; single-turn
RAG over a long shared system prompt with unique retrieved context; one-off long documents;
a few-shot block behind a short system prompt; RAG conversations with follow-ups; chats whose
people sometimes step away for longer than the cache lifetime (`chat_pauses`); many tenants
at once, each with its own system prompt, kind of traffic and rhythm (`tenants`); PipesHub's
shape (`pipeshub`: an agent whose system string ends with the current time, retrieval tool
calls dropped from the stored history, bursts of document extraction; messages rebuilt from
a store for every request, as PipesHub builds a new model per request, and requests spread
round robin over 4 worker processes, each planner with its own memory); the chats with
pauses spread the same way (`chat_workers`: each process sees about a quarter of every
conversation's turns); and chats, agents and RAG on 2 processes (by conversation) that each
restart every 20 minutes (`restarts`: the first requests after a restart meet a planner
that has seen nothing).

Each workload is a generator of `Event`s (a request at a time, built when it is sent, so that
it can depend on earlier replies) and a `Deployment` (how its requests reach planners).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

_WORDS = (
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "with", "was", "on",
    "model", "cache", "prompt", "token", "request", "answer", "context", "document", "tool",
)  # fmt: skip


class Text:
    """Unique, realistic-looking text of a given token length (4 characters a token)."""

    def __init__(self, rng: random.Random) -> None:
        words = _WORDS
        self.corpus = " ".join(rng.choice(words) for _ in range(200_000))
        self.rng = rng
        self.count = 0

    def __call__(self, tokens: int, tag: str = "") -> str:
        self.count += 1
        length = max(8, tokens * 4)
        start = self.rng.randrange(0, len(self.corpus) - length)
        head = f"[{tag}#{self.count}] "
        return head + self.corpus[start : start + length - len(head)]


Built = tuple[list[BaseMessage], list[dict[str, Any]] | None]


@dataclass(order=True)
class Event:
    """One request: at `time`, built by `build` (which may depend on earlier replies).

    `key` names its conversation (or document): a sticky deployment routes by it. `kind`
    names the kind of traffic it belongs to where a workload mixes several (chat, agent,
    single): the planner never sees it, the benchmark's class rule does.
    """

    time: float
    order: float
    key: str = field(compare=False)
    build: Callable[[], Built] = field(compare=False)
    kind: str = field(default="", compare=False)


class _Conversation:
    """A growing message history; each turn adds a question, the request, then a reply."""

    def __init__(self, prefix: list[BaseMessage], tools: list[dict[str, Any]] | None = None):
        self.history = list(prefix)
        self.tools = tools


Generator = Callable[[Text, random.Random, float, str, int], Iterator[Event]]


def _chat(text: Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[Event]:
    system = SystemMessage(text(2000, f"{tag}-system"))
    for number in range(count):
        conversation = _Conversation([system])
        moment = start + rng.uniform(0, 1800)
        for turn in range(rng.randint(2, 10)):

            def build(c: _Conversation = conversation, n: int = number, t: int = turn) -> Built:
                if t > 0:
                    c.history.append(AIMessage(text(rng.randint(150, 600), f"{tag}a{n}.{t}")))
                c.history.append(HumanMessage(text(rng.randint(30, 300), f"{tag}q{n}.{t}")))
                return list(c.history), None

            yield Event(moment, rng.random(), f"{tag}{number}", build)
            moment += min(rng.expovariate(1 / 40), 600)


_TOOL_NAMES = ("search", "read_file", "run_tests", "list_dir", "grep", "write_file")


def _tools(text: Text, names: Sequence[str] = _TOOL_NAMES) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "description": text(150, f"tool-{name}"),
            "input_schema": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": text(40, name)}},
                "required": ["query"],
            },
        }
        for name in names
    ]


def _tool_turn(
    text: Text, rng: random.Random, ids: Sequence[str], sizes: tuple[int, int]
) -> list[BaseMessage]:
    """An assistant turn calling tools, and one result per call."""
    turn: list[BaseMessage] = [
        AIMessage(
            content="",
            tool_calls=[
                {"name": rng.choice(_TOOL_NAMES), "args": {"query": text(20, "args")}, "id": i}
                for i in ids
            ],
        )
    ]
    turn += [ToolMessage(text(rng.randint(*sizes), "result"), tool_call_id=i) for i in ids]
    return turn


def _agent(text: Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[Event]:
    tools = _tools(text)
    system = SystemMessage(text(1500, f"{tag}-system"))
    for number in range(count):
        conversation = _Conversation([system, HumanMessage(text(300, f"{tag}task{number}"))], tools)
        moment = start + rng.uniform(0, 1800)
        for step in range(rng.randint(4, 20)):

            def build(c: _Conversation = conversation, n: int = number, s: int = step) -> Built:
                if s > 0:
                    calls = rng.choice([1, 1, 1, 2, 3, 11])
                    ids = [f"toolu_{tag}{n}x{s}x{k}" for k in range(calls)]
                    c.history += _tool_turn(text, rng, ids, (100, 2500))
                return list(c.history), c.tools

            yield Event(moment, rng.random(), f"{tag}{number}", build)
            moment += rng.uniform(3, 20)


def _rag(text: Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[Event]:
    system = SystemMessage(text(2500, f"{tag}-system"))
    moment = start
    for number in range(count):

        def build(n: int = number) -> Built:
            context = text(rng.randint(2000, 8000), f"{tag}ctx{n}")
            question = text(rng.randint(10, 60), "question")
            return [system, HumanMessage(f"<context>{context}</context>\n{question}")], None

        yield Event(moment, rng.random(), f"{tag}{number}", build)
        moment += rng.expovariate(1 / 8)


def _oneoff(text: Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[Event]:
    system = SystemMessage(text(80, f"{tag}-system"))
    moment = start
    for number in range(count):

        def build(n: int = number) -> Built:
            document = text(rng.randint(3000, 25000), f"{tag}doc{n}")
            return [system, HumanMessage(f"{document}\nSummarise the document above.")], None

        yield Event(moment, rng.random(), f"{tag}{number}", build)
        moment += rng.expovariate(1 / 15)


def _fewshot(text: Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[Event]:
    system = SystemMessage(text(150, f"{tag}-system"))
    shots: list[BaseMessage] = []
    for index in range(4):
        shots.append(HumanMessage(text(300, f"{tag}shot-q{index}")))
        shots.append(AIMessage(text(330, f"{tag}shot-a{index}")))
    moment = start
    for number in range(count):

        def build(n: int = number) -> Built:
            query = HumanMessage(text(rng.randint(20, 200), f"{tag}query{n}"))
            return [system, *shots, query], None

        yield Event(moment, rng.random(), f"{tag}{number}", build)
        moment += rng.expovariate(1 / 8)


def _rag_chat(
    text: Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[Event]:
    system = SystemMessage(text(1500, f"{tag}-system"))
    for number in range(count):
        conversation = _Conversation([system])
        moment = start + rng.uniform(0, 1800)
        for turn in range(rng.randint(1, 5)):

            def build(c: _Conversation = conversation, n: int = number, t: int = turn) -> Built:
                if t == 0:
                    context = text(rng.randint(3000, 6000), f"{tag}ctx{n}")
                    c.history.append(HumanMessage(f"<context>{context}</context>\nQuestion?"))
                else:
                    c.history.append(AIMessage(text(rng.randint(100, 400), f"{tag}a{n}.{t}")))
                    c.history.append(HumanMessage(text(rng.randint(10, 80), f"{tag}q{n}.{t}")))
                return list(c.history), None

            yield Event(moment, rng.random(), f"{tag}{number}", build)
            moment += rng.uniform(30, 150)


def _gap(rng: random.Random, away: float) -> float:
    """Seconds between a reply and the next question: reading and typing, now and then away."""
    roll = rng.random()
    if roll < away:
        return rng.uniform(6 * 60, 90 * 60)  # a meeting, lunch: longer than the cache lifetime
    if roll < away + 0.15:
        return rng.uniform(100, 290)  # a long answer read with care
    return rng.lognormvariate(math.log(30), 0.7)


def _chat_session(
    text: Text,
    rng: random.Random,
    key: str,
    prefix: list[BaseMessage],
    moment: float,
    *,
    away: float,
    turns: int,
) -> Iterator[Event]:
    """One person's chat: questions (now and then a pasted document), answers, pauses."""
    conversation = _Conversation(prefix)
    for turn in range(turns):

        def build(c: _Conversation = conversation, t: int = turn) -> Built:
            if t > 0:
                c.history.append(AIMessage(text(rng.randint(80, 900), f"{key}a{t}")))
            size = rng.randint(1500, 6000) if rng.random() < 0.08 else rng.randint(15, 300)
            c.history.append(HumanMessage(text(size, f"{key}q{t}")))
            return list(c.history), None

        yield Event(moment, rng.random(), key, build, "chat")
        moment += _gap(rng, away)


_TURNS = (1, 1, 2, 2, 3, 4, 5, 6, 8, 12, 20, 30)


def _chat_pauses(
    text: Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[Event]:
    systems = [SystemMessage(text(rng.randint(1200, 5000), f"{tag}-system{k}")) for k in range(3)]
    for number in range(count):
        yield from _chat_session(
            text,
            rng,
            f"{tag}{number}",
            [rng.choice(systems)],
            start + rng.uniform(0, 7200),
            away=rng.uniform(0.05, 0.4),
            turns=rng.choice(_TURNS),
        )


def _single(
    text: Text, rng: random.Random, key: str, prefix: list[BaseMessage], moment: float
) -> Iterator[Event]:
    """One request: the tenant's prefix and a unique document or retrieved context."""
    size = rng.choice([(300, 1500), (1000, 8000), (3000, 20000)])

    def build() -> Built:
        body = text(rng.randint(*size), f"{key}doc")
        return [*prefix, HumanMessage(f"{body}\n{text(rng.randint(5, 60), 'ask')}")], None

    yield Event(moment, rng.random(), key, build, "single")


def _agent_session(
    text: Text,
    rng: random.Random,
    key: str,
    prefix: list[BaseMessage],
    moment: float,
    tools: list[dict[str, Any]],
) -> Iterator[Event]:
    """An agent working on one task: steps a few seconds apart, each adding tool results."""
    conversation = _Conversation([*prefix, HumanMessage(text(rng.randint(50, 800), key))], tools)
    for step in range(rng.randint(1, 14)):

        def build(c: _Conversation = conversation, s: int = step) -> Built:
            if s > 0:
                ids = [f"toolu_{key}x{s}x{k}" for k in range(rng.choice([1, 1, 2, 4]))]
                c.history += _tool_turn(text, rng, ids, (50, 3000))
            return list(c.history), c.tools

        yield Event(moment, rng.random(), key, build, "agent")
        moment += rng.uniform(2, 25)


def _tenants(text: Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[Event]:
    """Tenants with their own system prompt, kind of traffic and rhythm, over three hours."""
    for tenant in range(count):
        name = f"{tag}t{tenant}"
        size = rng.choice((150, 500, 900, 1500, 2500, 4000, 7000))
        prefix: list[BaseMessage] = [SystemMessage(text(int(size * rng.uniform(0.8, 1.25)), name))]
        kind = rng.choice(("chat", "chat", "single", "single", "agent", "classify"))
        if kind == "classify":
            for shot in range(rng.randint(2, 6)):
                prefix.append(HumanMessage(text(rng.randint(100, 500), f"{name}shot{shot}")))
                prefix.append(AIMessage(text(rng.randint(20, 300), f"{name}label{shot}")))
        tools = _tools(text, rng.sample(_TOOL_NAMES, rng.randint(2, 6)))
        mean_gap = rng.choice((6.0, 25.0, 90.0, 400.0, 1500.0))  # seconds between sessions
        away = rng.uniform(0.0, 0.35)
        moment, end, sessions = start + rng.uniform(0, 1800), start + 3 * 3600, 0
        while moment < end and sessions < 50:
            busy_until = moment + rng.uniform(300, 3600)  # busy for a while, then quiet
            while moment < min(busy_until, end) and sessions < 50:
                key = f"{name}s{sessions}"
                if kind == "chat":
                    turns = rng.choice(_TURNS)
                    yield from _chat_session(text, rng, key, prefix, moment, away=away, turns=turns)
                elif kind == "agent":
                    yield from _agent_session(text, rng, key, prefix, moment, tools)
                else:
                    yield from _single(text, rng, key, prefix, moment)
                sessions += 1
                moment += rng.expovariate(1 / mean_gap)
            moment += rng.uniform(0, 5400)


_PIPESHUB_TOOLS = ("search_knowledge_base", "fetch_document", "web_search")


def _pipeshub_agent_prompt(stable: str, moment: float, turn: int) -> str:
    clock = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_790_000_000 + moment))
    return f"{stable}\n\n**Current time**: {clock}\nTurn context {turn}."


def _pipeshub(
    text: Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[Event]:
    """PipesHub: an agent chat (system string ending with the time, retrieval tool calls that
    the stored history drops) and bursts of document extraction when a connector syncs."""
    stable = text(4000, f"{tag}-agent")
    tools = _tools(text, _PIPESHUB_TOOLS)
    for number in range(count):
        key = f"{tag}c{number}"
        moment = start + rng.uniform(0, 7200)
        away = rng.uniform(0.05, 0.35)
        stored: list[BaseMessage] = []  # what the chat store keeps: questions and answers
        for turn in range(rng.choice(_TURNS)):
            question = HumanMessage(text(rng.randint(10, 200), f"{key}q{turn}"))
            lookups = rng.choice([0, 1, 1, 2])
            scratch: list[BaseMessage] = []
            for step in range(lookups + 1):

                def build(
                    t: int = turn,
                    s: int = step,
                    last: int = lookups,
                    at: float = moment,
                    k: str = key,
                    q: HumanMessage = question,
                    done: list[BaseMessage] = stored,
                    work: list[BaseMessage] = scratch,
                ) -> Built:
                    if s == 0 and t > 0:
                        done.append(AIMessage(text(rng.randint(100, 800), f"{k}a{t}")))
                    if s > 0:
                        work += _tool_turn(text, rng, [f"toolu_{k}x{t}x{s}"], (800, 4000))
                    system = SystemMessage(_pipeshub_agent_prompt(stable, at, t))
                    messages = [system, *done, q, *work]
                    if s == last:
                        done.append(q)
                    return messages, tools

                yield Event(moment, rng.random(), key, build)
                moment += rng.uniform(2, 8)
            moment += _gap(rng, away)
    extraction = SystemMessage(text(1800, f"{tag}-extraction"))
    moment = start + rng.uniform(0, 600)
    for sync in range(max(1, count // 10)):
        for document in range(rng.randint(5, 80)):
            key = f"{tag}s{sync}d{document}"
            yield from _single(text, rng, key, [extraction], moment)
            moment += rng.uniform(0.5, 6)
        moment += rng.uniform(900, 3600)


def _restart_traffic(
    text: Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[Event]:
    """Chats with pauses, agent tasks and RAG of one deployment (replayed with restarts)."""
    yield from _chat_pauses(text, rng, start, f"{tag}c", count)
    yield from _agent(text, rng, start, f"{tag}a", max(1, count // 5))
    yield from _rag(text, rng, start, f"{tag}r", count * 4)


@dataclass(frozen=True)
class Deployment:
    """How requests reach planners: `processes` each with its own memory, routed by
    conversation (`sticky`) or round robin, each replaced by a fresh planner every
    `restart_every` seconds (staggered), messages rebuilt for every request or not."""

    processes: int = 1
    sticky: bool = True
    restart_every: float | None = None
    rebuilt: bool = False


@dataclass(frozen=True)
class Workload:
    generator: Generator
    count: int
    deployment: Deployment = Deployment()


WORKLOADS: dict[str, Workload] = {
    "chat": Workload(_chat, 40),
    "agent": Workload(_agent, 14),
    "rag": Workload(_rag, 250),
    "oneoff": Workload(_oneoff, 120),
    "fewshot": Workload(_fewshot, 250),
    "rag_chat": Workload(_rag_chat, 40),
    "chat_pauses": Workload(_chat_pauses, 70),
    "tenants": Workload(_tenants, 30),
    "pipeshub": Workload(_pipeshub, 60, Deployment(processes=4, sticky=False, rebuilt=True)),
    "chat_workers": Workload(_chat_pauses, 70, Deployment(processes=4, sticky=False, rebuilt=True)),
    "restarts": Workload(
        _restart_traffic, 40, Deployment(processes=2, restart_every=1200, rebuilt=True)
    ),
}


def ends_of_conversations(events: Sequence[Event], ttl: float = 300.0) -> list[bool]:
    """For each event (in time order): whether its conversation sends nothing within `ttl`."""
    ends = [True] * len(events)
    last: dict[str, int] = {}
    for index, event in enumerate(events):
        previous = last.get(event.key)
        if previous is not None and event.time - events[previous].time <= ttl:
            ends[previous] = False
        last[event.key] = index
    return ends


def turns_of_conversations(events: Sequence[Event], ttl: float = 300.0) -> list[tuple[int, bool]]:
    """For each event (in time order): its turn number in its conversation, and whether it
    comes more than `ttl` after the conversation's previous request (back from a pause)."""
    turns: list[tuple[int, bool]] = []
    last: dict[str, tuple[int, float]] = {}
    for event in events:
        previous = last.get(event.key)
        if previous is None:
            turns.append((0, False))
            last[event.key] = (1, event.time)
        else:
            turns.append((previous[0], event.time - previous[1] > ttl))
            last[event.key] = (previous[0] + 1, event.time)
    return turns


__all__ = [
    "WORKLOADS",
    "Built",
    "Deployment",
    "Event",
    "Generator",
    "Text",
    "Workload",
    "ends_of_conversations",
    "turns_of_conversations",
]
