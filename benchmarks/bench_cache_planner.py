"""Cache planner: time per call, and what its breakpoints cost on synthetic traffic.

1. `cache_planner_us`: median time of `add_cache_markers` on a 20-message, ~30k-token
   conversation planned turn by turn (the 18 earlier messages are the same objects as in the
   previous call, the assistant reply and the new question are new). Also the same request
   planned again (`_repeat_us`), the same turn when the caller builds new message objects and
   strings for every request (`_rebuilt_us`: every text hashed again, as a backend reading its
   conversation from a store does), a conversation never seen before (`_cold_us`, every text
   read for the first time) and a pure-Python calibration loop, since this machine's speed
   varies.
2. Replays of synthetic workloads through `benchmarks.cache_cost_model` (Anthropic's cache as
   documented: prefix entries at breakpoints, 20-block lookback, minimum length, TTL refreshed on
   hit, time advancing between requests). Each request is priced as the planner marked it, as
   the two simple rules mark it (`system_last`: end of the system prompt + the last message;
   `system_last2`: end of the system prompt + the last two user turns) and unmarked, and the
   planner's trace is priced for an oracle that knows the future. Figures per workload:
   `_vs_hindsight` (1.0 is perfect), `_vs_nocache` (below 1 saves money), `_vs_best_rule` (the
   planner over the cheaper simple rule), each rule's own `_vs_hindsight`, and
   `_excess_at_ends_share`: the part of the planner's excess over the hindsight bound paid on
   requests after which their conversation sends nothing within the TTL (its last request, or
   the last before a pause): writes that only knowing the future could have spared, unless
   such requests can be told apart as they come.

   Workloads: multi-turn chats; agent loops with (sometimes parallel) tool calls; single-turn
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
   that has seen nothing). `overall` sums these; `mix` replays them all interleaved on one
   planner.
"""

from __future__ import annotations

import math
import random
import statistics
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from benchmarks.cache_cost_model import (
    RULES,
    AnthropicCache,
    Block,
    Usage,
    blocks_of,
    hindsight_usage,
)
from optimization.cache_manager import CacheManager
from optimization.capabilities import ProviderCapabilities
from optimization.config import OptimizationConfig
from optimization.messages import messages_to_anthropic_params

MODEL = "claude-sonnet-4-5"
SEED = 20261125


def _planner(clock: Callable[[], float] | None = None) -> CacheManager:
    capabilities = ProviderCapabilities.detect("anthropic", MODEL)
    config = OptimizationConfig.from_dict(
        {"optimizationEnabled": True, "cachingEnabled": True, "cacheTTL": 300}
    )
    return CacheManager(capabilities, config, clock=clock)


_WORDS = (
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "with", "was", "on",
    "model", "cache", "prompt", "token", "request", "answer", "context", "document", "tool",
)  # fmt: skip


class _Text:
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


# -- timing -------------------------------------------------------------------------------


def _rebuilt(message: BaseMessage) -> BaseMessage:
    """An equal message made from scratch, with new strings, as a backend reading its store."""
    content = message.content
    text = content[:1] + content[1:] if isinstance(content, str) else content
    if isinstance(message, ToolMessage):
        return ToolMessage(text, tool_call_id=message.tool_call_id)
    if isinstance(message, AIMessage):
        return AIMessage(text, tool_calls=message.tool_calls)
    return type(message)(text)


def _timing() -> None:
    rng = random.Random(SEED)
    text = _Text(rng)
    system = SystemMessage(text(3000, "system"))
    conversations = []
    for number in range(400):
        messages: list[BaseMessage] = [system]
        for index in range(19):
            kind = HumanMessage if index % 2 == 0 else AIMessage
            messages.append(kind(text(1420, f"c{number}")))
        conversations.append(messages)
    planner = _planner()
    turn, repeat = [], []
    clock = time.perf_counter
    for messages in conversations:
        planner.add_cache_markers(messages[:18])
        started = clock()
        planner.add_cache_markers(messages)
        turn.append(clock() - started)
    for messages in conversations:
        started = clock()
        planner.add_cache_markers(messages)
        repeat.append(clock() - started)
    rebuilt = []
    for messages in conversations[:100]:
        # A backend that rebuilds its messages from its store for every request: new message
        # objects and new strings (whose hashes Python has not cached yet), equal content.
        planner.add_cache_markers([_rebuilt(message) for message in messages[:18]])
        fresh = [_rebuilt(message) for message in messages]
        started = clock()
        planner.add_cache_markers(fresh)
        rebuilt.append(clock() - started)
    cold = []
    for number in range(100):
        fresh = [SystemMessage(text(3000, "system"))] + [
            (HumanMessage if index % 2 == 0 else AIMessage)(text(1420, f"cold{number}"))
            for index in range(19)
        ]
        started = clock()
        planner.add_cache_markers(fresh)
        cold.append(clock() - started)
    started = clock()
    for _ in range(1_000_000):
        pass
    loop_ms = (clock() - started) * 1e3
    tokens = sum(len(str(m.content)) for m in conversations[0]) // 4
    print(f"   (conversation: {len(conversations[0])} messages, ~{tokens} tokens)")
    print(f"BENCH cache_planner_us {statistics.median(turn) * 1e6:.1f} us")
    print(f"BENCH cache_planner_repeat_us {statistics.median(repeat) * 1e6:.1f} us")
    print(f"BENCH cache_planner_rebuilt_us {statistics.median(rebuilt) * 1e6:.1f} us")
    print(f"BENCH cache_planner_cold_us {statistics.median(cold) * 1e6:.1f} us")
    print(f"BENCH python_empty_loop_1m_ms {loop_ms:.1f} ms")


# -- traffic ------------------------------------------------------------------------------

_Built = tuple[list[BaseMessage], list[dict[str, Any]] | None]


@dataclass(order=True)
class _Event:
    """One request: at `time`, built by `build` (which may depend on earlier replies).

    `key` names its conversation (or document): a sticky deployment routes by it.
    """

    time: float
    order: float
    key: str = field(compare=False)
    build: Callable[[], _Built] = field(compare=False)


class _Conversation:
    """A growing message history; each turn adds a question, the request, then a reply."""

    def __init__(self, prefix: list[BaseMessage], tools: list[dict[str, Any]] | None = None):
        self.history = list(prefix)
        self.tools = tools


Generator = Callable[[_Text, random.Random, float, str, int], Iterator[_Event]]


def _chat(text: _Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[_Event]:
    system = SystemMessage(text(2000, f"{tag}-system"))
    for number in range(count):
        conversation = _Conversation([system])
        moment = start + rng.uniform(0, 1800)
        for turn in range(rng.randint(2, 10)):

            def build(c: _Conversation = conversation, n: int = number, t: int = turn) -> _Built:
                if t > 0:
                    c.history.append(AIMessage(text(rng.randint(150, 600), f"{tag}a{n}.{t}")))
                c.history.append(HumanMessage(text(rng.randint(30, 300), f"{tag}q{n}.{t}")))
                return list(c.history), None

            yield _Event(moment, rng.random(), f"{tag}{number}", build)
            moment += min(rng.expovariate(1 / 40), 600)


_TOOL_NAMES = ("search", "read_file", "run_tests", "list_dir", "grep", "write_file")


def _tools(text: _Text, names: Sequence[str] = _TOOL_NAMES) -> list[dict[str, Any]]:
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
    text: _Text, rng: random.Random, ids: Sequence[str], sizes: tuple[int, int]
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


def _agent(text: _Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[_Event]:
    tools = _tools(text)
    system = SystemMessage(text(1500, f"{tag}-system"))
    for number in range(count):
        conversation = _Conversation([system, HumanMessage(text(300, f"{tag}task{number}"))], tools)
        moment = start + rng.uniform(0, 1800)
        for step in range(rng.randint(4, 20)):

            def build(c: _Conversation = conversation, n: int = number, s: int = step) -> _Built:
                if s > 0:
                    calls = rng.choice([1, 1, 1, 2, 3, 11])
                    ids = [f"toolu_{tag}{n}x{s}x{k}" for k in range(calls)]
                    c.history += _tool_turn(text, rng, ids, (100, 2500))
                return list(c.history), c.tools

            yield _Event(moment, rng.random(), f"{tag}{number}", build)
            moment += rng.uniform(3, 20)


def _rag(text: _Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[_Event]:
    system = SystemMessage(text(2500, f"{tag}-system"))
    moment = start
    for number in range(count):

        def build(n: int = number) -> _Built:
            context = text(rng.randint(2000, 8000), f"{tag}ctx{n}")
            question = text(rng.randint(10, 60), "question")
            return [system, HumanMessage(f"<context>{context}</context>\n{question}")], None

        yield _Event(moment, rng.random(), f"{tag}{number}", build)
        moment += rng.expovariate(1 / 8)


def _oneoff(
    text: _Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[_Event]:
    system = SystemMessage(text(80, f"{tag}-system"))
    moment = start
    for number in range(count):

        def build(n: int = number) -> _Built:
            document = text(rng.randint(3000, 25000), f"{tag}doc{n}")
            return [system, HumanMessage(f"{document}\nSummarise the document above.")], None

        yield _Event(moment, rng.random(), f"{tag}{number}", build)
        moment += rng.expovariate(1 / 15)


def _fewshot(
    text: _Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[_Event]:
    system = SystemMessage(text(150, f"{tag}-system"))
    shots: list[BaseMessage] = []
    for index in range(4):
        shots.append(HumanMessage(text(300, f"{tag}shot-q{index}")))
        shots.append(AIMessage(text(330, f"{tag}shot-a{index}")))
    moment = start
    for number in range(count):

        def build(n: int = number) -> _Built:
            query = HumanMessage(text(rng.randint(20, 200), f"{tag}query{n}"))
            return [system, *shots, query], None

        yield _Event(moment, rng.random(), f"{tag}{number}", build)
        moment += rng.expovariate(1 / 8)


def _rag_chat(
    text: _Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[_Event]:
    system = SystemMessage(text(1500, f"{tag}-system"))
    for number in range(count):
        conversation = _Conversation([system])
        moment = start + rng.uniform(0, 1800)
        for turn in range(rng.randint(1, 5)):

            def build(c: _Conversation = conversation, n: int = number, t: int = turn) -> _Built:
                if t == 0:
                    context = text(rng.randint(3000, 6000), f"{tag}ctx{n}")
                    c.history.append(HumanMessage(f"<context>{context}</context>\nQuestion?"))
                else:
                    c.history.append(AIMessage(text(rng.randint(100, 400), f"{tag}a{n}.{t}")))
                    c.history.append(HumanMessage(text(rng.randint(10, 80), f"{tag}q{n}.{t}")))
                return list(c.history), None

            yield _Event(moment, rng.random(), f"{tag}{number}", build)
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
    text: _Text,
    rng: random.Random,
    key: str,
    prefix: list[BaseMessage],
    moment: float,
    *,
    away: float,
    turns: int,
) -> Iterator[_Event]:
    """One person's chat: questions (now and then a pasted document), answers, pauses."""
    conversation = _Conversation(prefix)
    for turn in range(turns):

        def build(c: _Conversation = conversation, t: int = turn) -> _Built:
            if t > 0:
                c.history.append(AIMessage(text(rng.randint(80, 900), f"{key}a{t}")))
            size = rng.randint(1500, 6000) if rng.random() < 0.08 else rng.randint(15, 300)
            c.history.append(HumanMessage(text(size, f"{key}q{t}")))
            return list(c.history), None

        yield _Event(moment, rng.random(), key, build)
        moment += _gap(rng, away)


_TURNS = (1, 1, 2, 2, 3, 4, 5, 6, 8, 12, 20, 30)


def _chat_pauses(
    text: _Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[_Event]:
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
    text: _Text, rng: random.Random, key: str, prefix: list[BaseMessage], moment: float
) -> Iterator[_Event]:
    """One request: the tenant's prefix and a unique document or retrieved context."""
    size = rng.choice([(300, 1500), (1000, 8000), (3000, 20000)])

    def build() -> _Built:
        body = text(rng.randint(*size), f"{key}doc")
        return [*prefix, HumanMessage(f"{body}\n{text(rng.randint(5, 60), 'ask')}")], None

    yield _Event(moment, rng.random(), key, build)


def _agent_session(
    text: _Text,
    rng: random.Random,
    key: str,
    prefix: list[BaseMessage],
    moment: float,
    tools: list[dict[str, Any]],
) -> Iterator[_Event]:
    """An agent working on one task: steps a few seconds apart, each adding tool results."""
    conversation = _Conversation([*prefix, HumanMessage(text(rng.randint(50, 800), key))], tools)
    for step in range(rng.randint(1, 14)):

        def build(c: _Conversation = conversation, s: int = step) -> _Built:
            if s > 0:
                ids = [f"toolu_{key}x{s}x{k}" for k in range(rng.choice([1, 1, 2, 4]))]
                c.history += _tool_turn(text, rng, ids, (50, 3000))
            return list(c.history), c.tools

        yield _Event(moment, rng.random(), key, build)
        moment += rng.uniform(2, 25)


def _tenants(
    text: _Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[_Event]:
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
    text: _Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[_Event]:
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
                ) -> _Built:
                    if s == 0 and t > 0:
                        done.append(AIMessage(text(rng.randint(100, 800), f"{k}a{t}")))
                    if s > 0:
                        work += _tool_turn(text, rng, [f"toolu_{k}x{t}x{s}"], (800, 4000))
                    system = SystemMessage(_pipeshub_agent_prompt(stable, at, t))
                    messages = [system, *done, q, *work]
                    if s == last:
                        done.append(q)
                    return messages, tools

                yield _Event(moment, rng.random(), key, build)
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
    text: _Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[_Event]:
    """Chats with pauses, agent tasks and RAG of one deployment (replayed with restarts)."""
    yield from _chat_pauses(text, rng, start, f"{tag}c", count)
    yield from _agent(text, rng, start, f"{tag}a", max(1, count // 5))
    yield from _rag(text, rng, start, f"{tag}r", count * 4)


@dataclass(frozen=True)
class _Deployment:
    """How requests reach planners: `processes` each with its own memory, routed by
    conversation (`sticky`) or round robin, each replaced by a fresh planner every
    `restart_every` seconds (staggered), messages rebuilt for every request or not."""

    processes: int = 1
    sticky: bool = True
    restart_every: float | None = None
    rebuilt: bool = False


@dataclass(frozen=True)
class _Workload:
    generator: Generator
    count: int
    deployment: _Deployment = _Deployment()


WORKLOADS: dict[str, _Workload] = {
    "chat": _Workload(_chat, 40),
    "agent": _Workload(_agent, 14),
    "rag": _Workload(_rag, 250),
    "oneoff": _Workload(_oneoff, 120),
    "fewshot": _Workload(_fewshot, 250),
    "rag_chat": _Workload(_rag_chat, 40),
    "chat_pauses": _Workload(_chat_pauses, 70),
    "tenants": _Workload(_tenants, 30),
    "pipeshub": _Workload(_pipeshub, 60, _Deployment(processes=4, sticky=False, rebuilt=True)),
    "chat_workers": _Workload(
        _chat_pauses, 70, _Deployment(processes=4, sticky=False, rebuilt=True)
    ),
    "restarts": _Workload(
        _restart_traffic, 40, _Deployment(processes=2, restart_every=1200, rebuilt=True)
    ),
}


# -- pricing ------------------------------------------------------------------------------


@dataclass
class _Costs:
    planner: float = 0.0
    hindsight: float = 0.0
    # planner minus hindsight, on requests their conversation follows with nothing in time
    excess_at_ends: float = 0.0
    nocache: float = 0.0
    rules: dict[str, float] = field(default_factory=lambda: dict.fromkeys(RULES, 0.0))
    requests: int = 0

    def add(self, other: _Costs) -> None:
        self.planner += other.planner
        self.hindsight += other.hindsight
        self.excess_at_ends += other.excess_at_ends
        self.nocache += other.nocache
        for name, cost in other.rules.items():
            self.rules[name] += cost
        self.requests += other.requests


def _params(messages: list[BaseMessage], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    params = messages_to_anthropic_params(messages, model=MODEL)
    if tools:
        params["tools"] = tools
    return params


class _Processes:
    """The planners of a deployment, with the replay's clock."""

    def __init__(self, deployment: _Deployment) -> None:
        self.deployment = deployment
        self.now = 0.0
        self.planners = [self._fresh() for _ in range(deployment.processes)]
        every = deployment.restart_every
        self.restarts = [
            every * (1 + number / deployment.processes) if every else math.inf
            for number in range(deployment.processes)
        ]
        self.turn = 0

    def _fresh(self) -> CacheManager:
        return _planner(clock=lambda: self.now)

    def planner_for(self, event: _Event) -> CacheManager:
        self.now = event.time
        for number, due in enumerate(self.restarts):
            if due <= event.time:
                self.planners[number] = self._fresh()
                self.restarts[number] = due + (self.deployment.restart_every or math.inf)
        if self.deployment.sticky:
            number = zlib.crc32(event.key.encode()) % len(self.planners)
        else:
            number, self.turn = self.turn, (self.turn + 1) % len(self.planners)
        return self.planners[number]


def _replay(events: list[_Event], deployment: _Deployment = _Deployment()) -> _Costs:
    processes = _Processes(deployment)
    min_tokens = processes.planners[0].capabilities.min_cacheable_tokens
    cache = AnthropicCache(min_tokens=min_tokens)
    rule_caches = {name: AnthropicCache(min_tokens=min_tokens) for name in RULES}
    trace: list[tuple[float, list[Block]]] = []
    costs = _Costs()
    planner_costs: list[float] = []
    ordered = sorted(events)
    for event in ordered:
        now = event.time
        messages, tools = event.build()
        planner = processes.planner_for(event)
        if deployment.rebuilt:
            messages = [_rebuilt(message) for message in messages]
            tools = [dict(tool) for tool in tools] if tools else tools
        plan = planner.plan(messages, tools)
        blocks = blocks_of(_params(plan.messages, plan.tools))
        usage = cache.process(blocks, now)
        costs.planner += usage.cost()
        planner_costs.append(usage.cost())
        costs.nocache += usage.total
        unmarked = _params(messages, tools)
        for name, rule in RULES.items():
            costs.rules[name] += rule_caches[name].process(blocks_of(rule(unmarked)), now).cost()
        trace.append((now, blocks))
        costs.requests += 1
    ends = ends_of_conversations(ordered)
    hindsights = hindsight_usage(trace, min_tokens=min_tokens)
    for planned, hindsight, at_end in zip(planner_costs, hindsights, ends, strict=True):
        costs.hindsight += hindsight.cost()
        if at_end:
            costs.excess_at_ends += planned - hindsight.cost()
    return costs


def ends_of_conversations(events: Sequence[_Event], ttl: float = 300.0) -> list[bool]:
    """For each event (in time order): whether its conversation sends nothing within `ttl`."""
    ends = [True] * len(events)
    last: dict[str, int] = {}
    for index, event in enumerate(events):
        previous = last.get(event.key)
        if previous is not None and event.time - events[previous].time <= ttl:
            ends[previous] = False
        last[event.key] = index
    return ends


def _print(name: str, costs: _Costs) -> None:
    rules = ", ".join(f"{rule} {cost:,.0f}" for rule, cost in costs.rules.items())
    print(
        f"   ({name}: {costs.requests} requests; input-token units: planner {costs.planner:,.0f}, "
        f"{rules}, hindsight {costs.hindsight:,.0f}, no cache {costs.nocache:,.0f})"
    )
    print(f"BENCH cache_cost_{name}_vs_hindsight {costs.planner / costs.hindsight:.4f} x")
    print(f"BENCH cache_cost_{name}_vs_nocache {costs.planner / costs.nocache:.4f} x")
    print(f"BENCH cache_cost_{name}_vs_best_rule {costs.planner / min(costs.rules.values()):.4f} x")
    for rule, cost in costs.rules.items():
        print(f"BENCH cache_cost_{name}_{rule}_vs_hindsight {cost / costs.hindsight:.4f} x")
    excess = costs.planner - costs.hindsight
    share = costs.excess_at_ends / excess if excess > 0 else 0.0
    print(f"BENCH cache_cost_{name}_excess_at_ends_share {share:.3f} share")


def _workloads() -> None:
    overall = _Costs()
    mixed: list[_Event] = []
    worst_rule, worst_nocache = 0.0, 0.0
    for name, workload in WORKLOADS.items():
        rng = random.Random(f"{SEED}-{name}")
        text = _Text(rng)
        events = list(workload.generator(text, rng, 0.0, name, workload.count))
        costs = _replay(events, workload.deployment)
        _print(name, costs)
        overall.add(costs)
        worst_rule = max(worst_rule, costs.planner / min(costs.rules.values()))
        worst_nocache = max(worst_nocache, costs.planner / costs.nocache)
        mix_rng = random.Random(f"{SEED}-mix-{name}")
        text = _Text(mix_rng)
        mixed.extend(workload.generator(text, mix_rng, 0.0, f"mix{name}", workload.count))
    _print("overall", overall)
    print(f"BENCH cache_cost_worst_workload_vs_best_rule {worst_rule:.4f} x")
    print(f"BENCH cache_cost_worst_workload_vs_nocache {worst_nocache:.4f} x")
    _print("mix", _replay(mixed))


def main() -> None:
    _timing()
    _workloads()


if __name__ == "__main__":
    main()


__all__ = ["Usage", "ends_of_conversations", "main"]
