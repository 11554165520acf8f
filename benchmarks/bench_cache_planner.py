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
   hit, time advancing between requests), priced against an oracle that knows the future
   (`_vs_hindsight`, 1.0 is perfect) and against sending no breakpoints (`_vs_nocache`, below 1
   saves money). Workloads: multi-turn chats, agent loops with (sometimes parallel) tool calls,
   single-turn RAG over a long shared system prompt with unique retrieved context, one-off long
   documents, a few-shot block behind a short system prompt, RAG conversations with follow-ups,
   and all of them interleaved on one planner (`mix`). `overall` sums the separate workloads.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from benchmarks.cache_cost_model import AnthropicCache, Block, Usage, blocks_of, hindsight_usage
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
    text = str(message.content)
    return type(message)(text[:1] + text[1:])


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


# -- workloads ----------------------------------------------------------------------------


@dataclass(order=True)
class _Event:
    """One request: at `time`, built by `build` (which may depend on earlier replies)."""

    time: float
    order: int
    build: Callable[[], tuple[list[BaseMessage], list[dict[str, Any]] | None]] = field(
        compare=False
    )


class _Conversation:
    """A growing message history; each turn adds a question, the request, then a reply."""

    def __init__(self, prefix: list[BaseMessage], tools: list[dict[str, Any]] | None = None):
        self.history = list(prefix)
        self.tools = tools


def _chat(text: _Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[_Event]:
    system = SystemMessage(text(2000, f"{tag}-system"))
    for number in range(count):
        conversation = _Conversation([system])
        moment = start + rng.uniform(0, 1800)
        for turn in range(rng.randint(2, 10)):

            def build(c: _Conversation = conversation, n: int = number, t: int = turn) -> Any:
                if t > 0:
                    c.history.append(AIMessage(text(rng.randint(150, 600), f"{tag}a{n}.{t}")))
                c.history.append(HumanMessage(text(rng.randint(30, 300), f"{tag}q{n}.{t}")))
                return list(c.history), None

            yield _Event(moment, rng.random(), build)
            moment += min(rng.expovariate(1 / 40), 600)


_TOOL_NAMES = ("search", "read_file", "run_tests", "list_dir", "grep", "write_file")


def _tools(text: _Text) -> list[dict[str, Any]]:
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
        for name in _TOOL_NAMES
    ]


def _agent(text: _Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[_Event]:
    tools = _tools(text)
    system = SystemMessage(text(1500, f"{tag}-system"))
    for number in range(count):
        conversation = _Conversation([system, HumanMessage(text(300, f"{tag}task{number}"))], tools)
        moment = start + rng.uniform(0, 1800)
        for step in range(rng.randint(4, 20)):

            def build(c: _Conversation = conversation, n: int = number, s: int = step) -> Any:
                if s > 0:
                    calls = rng.choice([1, 1, 1, 2, 3, 11])
                    ids = [f"toolu_{tag}{n}x{s}x{k}" for k in range(calls)]
                    c.history.append(
                        AIMessage(
                            content="",
                            tool_calls=[
                                {
                                    "name": rng.choice(_TOOL_NAMES),
                                    "args": {"query": text(20, "args")},
                                    "id": call_id,
                                }
                                for call_id in ids
                            ],
                        )
                    )
                    for call_id in ids:
                        size = rng.randint(100, 2500)
                        c.history.append(ToolMessage(text(size, "result"), tool_call_id=call_id))
                return list(c.history), c.tools

            yield _Event(moment, rng.random(), build)
            moment += rng.uniform(3, 20)


def _rag(text: _Text, rng: random.Random, start: float, tag: str, count: int) -> Iterator[_Event]:
    system = SystemMessage(text(2500, f"{tag}-system"))
    moment = start
    for number in range(count):

        def build(n: int = number) -> Any:
            context = text(rng.randint(2000, 8000), f"{tag}ctx{n}")
            question = text(rng.randint(10, 60), "question")
            return [system, HumanMessage(f"<context>{context}</context>\n{question}")], None

        yield _Event(moment, rng.random(), build)
        moment += rng.expovariate(1 / 8)


def _oneoff(
    text: _Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[_Event]:
    system = SystemMessage(text(80, f"{tag}-system"))
    moment = start
    for number in range(count):

        def build(n: int = number) -> Any:
            document = text(rng.randint(3000, 25000), f"{tag}doc{n}")
            return [system, HumanMessage(f"{document}\nSummarise the document above.")], None

        yield _Event(moment, rng.random(), build)
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

        def build(n: int = number) -> Any:
            query = HumanMessage(text(rng.randint(20, 200), f"{tag}query{n}"))
            return [system, *shots, query], None

        yield _Event(moment, rng.random(), build)
        moment += rng.expovariate(1 / 8)


def _rag_chat(
    text: _Text, rng: random.Random, start: float, tag: str, count: int
) -> Iterator[_Event]:
    system = SystemMessage(text(1500, f"{tag}-system"))
    for number in range(count):
        conversation = _Conversation([system])
        moment = start + rng.uniform(0, 1800)
        for turn in range(rng.randint(1, 5)):

            def build(c: _Conversation = conversation, n: int = number, t: int = turn) -> Any:
                if t == 0:
                    context = text(rng.randint(3000, 6000), f"{tag}ctx{n}")
                    c.history.append(HumanMessage(f"<context>{context}</context>\nQuestion?"))
                else:
                    c.history.append(AIMessage(text(rng.randint(100, 400), f"{tag}a{n}.{t}")))
                    c.history.append(HumanMessage(text(rng.randint(10, 80), f"{tag}q{n}.{t}")))
                return list(c.history), None

            yield _Event(moment, rng.random(), build)
            moment += rng.uniform(30, 150)


WORKLOADS: dict[str, tuple[Callable[..., Iterator[_Event]], int]] = {
    "chat": (_chat, 40),
    "agent": (_agent, 14),
    "rag": (_rag, 250),
    "oneoff": (_oneoff, 120),
    "fewshot": (_fewshot, 250),
    "rag_chat": (_rag_chat, 40),
}


@dataclass
class _Costs:
    planner: float = 0.0
    hindsight: float = 0.0
    nocache: float = 0.0
    requests: int = 0


def _replay(events: list[_Event]) -> _Costs:
    now = 0.0
    planner = _planner(clock=lambda: now)
    capabilities = planner.capabilities
    cache = AnthropicCache(min_tokens=capabilities.min_cacheable_tokens)
    trace: list[tuple[float, list[Block]]] = []
    costs = _Costs()
    for event in sorted(events):
        now = event.time
        messages, tools = event.build()
        plan = planner.plan(messages, tools)
        params = messages_to_anthropic_params(plan.messages, model=MODEL)
        if plan.tools:
            params["tools"] = plan.tools
        blocks = blocks_of(params)
        usage = cache.process(blocks, now)
        costs.planner += usage.cost()
        costs.nocache += usage.total
        trace.append((now, blocks))
        costs.requests += 1
    for usage in hindsight_usage(trace, min_tokens=capabilities.min_cacheable_tokens):
        costs.hindsight += usage.cost()
    return costs


def _print(name: str, costs: _Costs) -> None:
    print(
        f"   ({name}: {costs.requests} requests, planner {costs.planner:,.0f}, "
        f"hindsight {costs.hindsight:,.0f}, no cache {costs.nocache:,.0f} input-token units)"
    )
    print(f"BENCH cache_cost_{name}_vs_hindsight {costs.planner / costs.hindsight:.4f} x")
    print(f"BENCH cache_cost_{name}_vs_nocache {costs.planner / costs.nocache:.4f} x")


def _workloads() -> None:
    overall = _Costs()
    mixed: list[_Event] = []
    for name, (generator, count) in WORKLOADS.items():
        rng = random.Random(f"{SEED}-{name}")
        text = _Text(rng)
        costs = _replay(list(generator(text, rng, 0.0, name, count)))
        _print(name, costs)
        overall.planner += costs.planner
        overall.hindsight += costs.hindsight
        overall.nocache += costs.nocache
        overall.requests += costs.requests
        mix_rng = random.Random(f"{SEED}-mix-{name}")
        mixed.extend(generator(_Text(mix_rng), mix_rng, 0.0, f"mix{name}", count))
    _print("overall", overall)
    _print("mix", _replay(mixed))


def main() -> None:
    _timing()
    _workloads()


if __name__ == "__main__":
    main()


__all__ = ["Usage", "main"]
