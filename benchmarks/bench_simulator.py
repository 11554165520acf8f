"""Simulator throughput, so it is never the bottleneck of other benchmarks.

BENCH simulator_messages_per_s: sequential /v1/messages over HTTP (httpx, keep-alive) against
`testing.serve()`; BENCH simulator_batch_results_per_s: results of an ended batch streamed as
JSONL (processing included: the first read answers every request).
"""

from __future__ import annotations

import time

import httpx

from optimization.simulator import Clock, SimulatorSettings, create_app
from optimization.simulator.testing import serve

HEADERS = {"x-api-key": "bench", "anthropic-version": "2023-06-01"}
MODEL = "claude-sonnet-4-6"
MESSAGES = 400
BATCH_SIZE = 5000
SYSTEM = [
    {"type": "text", "text": "shared instructions " * 300, "cache_control": {"type": "ephemeral"}}
]


def _body(i: int) -> dict[str, object]:
    return {
        "model": MODEL,
        "max_tokens": 64,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": f"question number {i} about the weather"}],
    }


def messages_per_second(client: httpx.Client) -> float:
    """Sequential cached /v1/messages calls per second."""
    for i in range(20):  # warm up connections and the cache
        client.post("/v1/messages", json=_body(i)).raise_for_status()
    started = time.perf_counter()
    for i in range(MESSAGES):
        client.post("/v1/messages", json=_body(i)).raise_for_status()
    return MESSAGES / (time.perf_counter() - started)


def batch_results_per_second(client: httpx.Client, clock: Clock) -> float:
    """Results of a BATCH_SIZE batch streamed per second, including processing them."""
    requests = [{"custom_id": f"r{i}", "params": _body(i)} for i in range(BATCH_SIZE)]
    created = client.post("/v1/messages/batches", json={"requests": requests})
    created.raise_for_status()
    batch_id = created.json()["id"]
    clock.advance(86_400)
    started = time.perf_counter()
    count = 0
    with client.stream("GET", f"/v1/messages/batches/{batch_id}/results") as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line:
                count += 1
    elapsed = time.perf_counter() - started
    if count != BATCH_SIZE:
        raise RuntimeError(f"expected {BATCH_SIZE} results, got {count}")
    return count / elapsed


def main() -> None:
    """Print both figures."""
    clock = Clock(speed=0)
    with (
        serve(create_app(SimulatorSettings(), clock=clock)) as url,
        httpx.Client(base_url=url, headers=HEADERS, timeout=60) as client,
    ):
        print(f"BENCH simulator_messages_per_s {messages_per_second(client):.0f} msg/s")
        print(
            "BENCH simulator_batch_results_per_s "
            f"{batch_results_per_second(client, clock):.0f} results/s"
        )


if __name__ == "__main__":
    main()
