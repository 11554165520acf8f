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
   such requests can be told apart as they come (`benchmarks.bench_cache_class_rule` measures
   how far a rule that tells them apart by kind, turn number and pauses could go).

   Workloads: see `benchmarks.cache_workloads`. `overall` sums them; `mix` replays them all
   interleaved on one planner.
"""

from __future__ import annotations

import math
import random
import statistics
import time
import zlib
from collections.abc import Callable, Hashable
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
from benchmarks.cache_workloads import (
    WORKLOADS,
    Deployment,
    Event,
    Text,
    ends_of_conversations,
    turns_of_conversations,
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
    text = Text(rng)
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
    # per request of one replay: its class (kind of traffic, turn number, back from a pause),
    # the tokens the planner wrote, whether its conversation went on in time
    bets: list[tuple[Hashable, int, bool]] = field(default_factory=list)

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


_ONE_PROCESS = Deployment()


class _Processes:
    """The planners of a deployment, with the replay's clock."""

    def __init__(self, deployment: Deployment) -> None:
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

    def planner_for(self, event: Event) -> CacheManager:
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


def _replay(events: list[Event], deployment: Deployment = _ONE_PROCESS) -> _Costs:
    processes = _Processes(deployment)
    min_tokens = processes.planners[0].capabilities.min_cacheable_tokens
    cache = AnthropicCache(min_tokens=min_tokens)
    rule_caches = {name: AnthropicCache(min_tokens=min_tokens) for name in RULES}
    trace: list[tuple[float, list[Block]]] = []
    costs = _Costs()
    planner_costs: list[float] = []
    written: list[int] = []
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
        written.append(usage.write_5m + usage.write_1h)
        costs.nocache += usage.total
        unmarked = _params(messages, tools)
        for name, rule in RULES.items():
            costs.rules[name] += rule_caches[name].process(blocks_of(rule(unmarked)), now).cost()
        trace.append((now, blocks))
        costs.requests += 1
    ends = ends_of_conversations(ordered)
    turns = turns_of_conversations(ordered)
    costs.bets = [
        ((event.kind, *turn), tokens, not end)
        for event, turn, tokens, end in zip(ordered, turns, written, ends, strict=True)
    ]
    hindsights = hindsight_usage(trace, min_tokens=min_tokens)
    for planned, hindsight, at_end in zip(planner_costs, hindsights, ends, strict=True):
        costs.hindsight += hindsight.cost()
        if at_end:
            costs.excess_at_ends += planned - hindsight.cost()
    return costs


def replay_workload(name: str, seed: object) -> _Costs:
    """The costs of workload `name`, generated from `seed`, as its deployment replays it."""
    workload = WORKLOADS[name]
    rng = random.Random(f"{seed}-{name}")
    events = list(workload.generator(Text(rng), rng, 0.0, name, workload.count))
    return _replay(events, workload.deployment)


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
    mixed: list[Event] = []
    worst_rule, worst_nocache = 0.0, 0.0
    for name in WORKLOADS:
        costs = replay_workload(name, SEED)
        _print(name, costs)
        overall.add(costs)
        worst_rule = max(worst_rule, costs.planner / min(costs.rules.values()))
        worst_nocache = max(worst_nocache, costs.planner / costs.nocache)
        workload = WORKLOADS[name]
        mix_rng = random.Random(f"{SEED}-mix-{name}")
        text = Text(mix_rng)
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


__all__ = ["SEED", "Usage", "main", "replay_workload"]
