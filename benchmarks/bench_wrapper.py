"""What the wrapper costs per call, and what preparing a 100,000-request batch costs.

BENCH wrapper_overhead_ratio / wrapper_added_us: median `ainvoke` time of the wrapper (caching
on) over the median of the bare ChatAnthropic, both against the simulator served in-process
(`testing.serve`). The bare model sends the very messages the wrapper's planner produces (same
breakpoints), so the simulator does the same work for both and the difference is the wrapper's
own: planning the breakpoints, recording the usage event, the extra Runnable layer. Calls are
interleaved so drift hits both alike. Targets: ratio <= 1.3, added < 1 ms (Phase 1 plan).

BENCH optimize_us: what `optimize()` adds to building a model, per model (PipesHub builds one
per chat request and per document): the copy into the optimized class plus the config parsing
and the shared planner lookup.

BENCH batch_prepare_requests_per_s: LangChain conversations converted to serialized batch
requests per second (best of several runs; the machine is shared). BENCH
batch_prepare_peak_memory_ratio: tracemalloc peak while preparing 100,000 requests and producing
their upload bodies, over the serialized payload's bytes. Targets: >= 50,000 req/s, <= 2x.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import tracemalloc
from typing import Any

from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from optimization.batch_client import MAX_BYTES_PER_BATCH, MAX_REQUESTS_PER_BATCH
from optimization.batch_wire import BatchBody, prepare_requests, split_requests
from optimization.cache_manager import CacheManager
from optimization.capabilities import ProviderCapabilities
from optimization.config import OptimizationConfig
from optimization.dropin import optimize
from optimization.recorders import InMemoryUsageRecorder
from optimization.simulator import SimulatorSettings, create_app
from optimization.simulator.testing import serve

MODEL = "claude-sonnet-4-5"
CONFIGURATION = {"optimizationEnabled": True, "cachingEnabled": True}
WARMUP = 30
ITERATIONS = 400
BATCH_REQUESTS = 100_000
SYSTEM = "You are the support assistant of ACME. Cite the policy section you rely on. " * 60


def conversation() -> list[BaseMessage]:
    """A support conversation: a long shared system prompt and three earlier turns."""
    return [
        SystemMessage(SYSTEM),
        HumanMessage("My order 1234 has not arrived."),
        AIMessage("Sorry to hear that. When did you place it?"),
        HumanMessage("Two weeks ago, with express shipping."),
        AIMessage("Express orders arrive within five days; I will open a claim."),
        HumanMessage("Thanks. What happens next?"),
    ]


def chat_model(url: str) -> ChatAnthropic:
    return ChatAnthropic(model=MODEL, api_key="bench", base_url=url, max_tokens=64)


async def call_times(url: str) -> tuple[list[float], list[float]]:
    """Per-call seconds of the bare model and of the wrapper, interleaved."""
    messages = conversation()
    capabilities = ProviderCapabilities.detect("anthropic", MODEL)
    planned = CacheManager(capabilities, OptimizationConfig.from_dict(CONFIGURATION)).plan(messages)
    bare = chat_model(url)
    recorder = InMemoryUsageRecorder()
    wrapper = optimize(chat_model(url), "anthropic", CONFIGURATION, recorder=recorder)
    bare_times: list[float] = []
    wrapper_times: list[float] = []
    for iteration in range(WARMUP + ITERATIONS):
        started = time.perf_counter()
        await bare.ainvoke(planned.messages)
        middle = time.perf_counter()
        await wrapper.ainvoke(messages)
        ended = time.perf_counter()
        if iteration >= WARMUP:
            bare_times.append(middle - started)
            wrapper_times.append(ended - middle)
        recorder.events.clear()
    return bare_times, wrapper_times


def wrapper_overhead() -> None:
    with serve(create_app(SimulatorSettings())) as url:
        bare_times, wrapper_times = asyncio.run(call_times(url))
    bare = statistics.median(bare_times)
    wrapped = statistics.median(wrapper_times)
    print(f"BENCH wrapper_bare_ainvoke_ms {bare * 1000:.3f} ms")
    print(f"BENCH wrapper_ainvoke_ms {wrapped * 1000:.3f} ms")
    print(f"BENCH wrapper_overhead_ratio {wrapped / bare:.3f} x")
    print(f"BENCH wrapper_added_us {(wrapped - bare) * 1e6:.0f} us")


def batch_conversations(count: int) -> list[list[BaseMessage]]:
    system = SystemMessage("You classify support tickets. Reply with one category name.")
    return [
        [system, HumanMessage(f"Ticket {i}: the mobile app logs me out after the update.")]
        for i in range(count)
    ]


TEMPLATE: dict[str, Any] = {"model": MODEL, "max_tokens": 16, "temperature": 0.0}


def prepare_speed(conversations: list[list[BaseMessage]]) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        prepare_requests(conversations, TEMPLATE)
        best = min(best, time.perf_counter() - started)
    return len(conversations) / best


def prepare_memory(conversations: list[list[BaseMessage]]) -> tuple[int, int]:
    """(tracemalloc peak bytes, serialized payload bytes) for preparing and producing bodies."""
    tracemalloc.start()
    try:
        requests = prepare_requests(conversations, TEMPLATE)
        payload = 0
        for positions in split_requests(requests, MAX_REQUESTS_PER_BATCH, MAX_BYTES_PER_BATCH):
            body = BatchBody(requests, positions)
            sent = sum(len(piece) for piece in body._pieces())  # what the upload reads
            if sent != body.size:
                raise RuntimeError(f"body of {sent} bytes declared as {body.size}")
            payload += sent
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, payload


def batch_preparation() -> None:
    conversations = batch_conversations(BATCH_REQUESTS)
    print(f"BENCH batch_prepare_requests_per_s {prepare_speed(conversations):.0f} req/s")
    peak, payload = prepare_memory(conversations)
    print(f"BENCH batch_prepare_payload_mb {payload / 1e6:.1f} MB")
    print(f"BENCH batch_prepare_peak_memory_ratio {peak / payload:.2f} x")


def optimize_cost() -> None:
    given = chat_model("http://127.0.0.1:9")
    rounds = 2_000
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            optimize(given, "anthropic", CONFIGURATION)
        best = min(best, (time.perf_counter() - started) / rounds)
    print(f"BENCH optimize_us {best * 1e6:.1f} us")


def main() -> None:
    optimize_cost()
    wrapper_overhead()
    batch_preparation()


if __name__ == "__main__":
    main()
