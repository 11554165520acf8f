"""A realistic, reproducible synthetic ledger for demos, tests and benchmarks.

The mix: most traffic on Claude with a long shared system prompt (cached, often batched), some
OpenAI and Gemini traffic with automatic caching (no write premium, reads of the shared
prefix), a little uncached standard and fallback traffic, and busier working hours.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from optimization.telemetry import Mode, UsageEvent


@dataclass(frozen=True)
class Workload:
    provider: str
    model: str
    weight: float
    explicit_cache: bool  # Anthropic-style breakpoints (write premium) vs automatic caching
    prefix_tokens: int  # the shared prompt (system + tools + documents) reused across calls
    tail: tuple[int, int]  # per-call input beyond the prefix
    output: tuple[int, int]
    modes: tuple[tuple[Mode, float], ...]
    write_share: float = 0.06  # share of cached calls that (re)write the cache
    one_hour_share: float = 0.0  # share of writes with the 1 h TTL
    config_entry: str = "ai_models_config/llm/0"


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "anthropic",
        "claude-sonnet-4-5",
        0.38,
        True,
        6_000,
        (200, 1_800),
        (150, 900),
        (
            ("cached", 0.5),
            ("batch+cache", 0.25),
            ("batch", 0.1),
            ("standard", 0.1),
            ("fallback", 0.05),
        ),
        one_hour_share=0.3,
    ),
    Workload(
        "anthropic",
        "claude-haiku-4-5",
        0.22,
        True,
        2_400,
        (100, 600),
        (20, 200),
        (("batch+cache", 0.55), ("cached", 0.3), ("standard", 0.15)),
        config_entry="ai_models_config/llm/1",
    ),
    Workload(
        "anthropic",
        "claude-opus-4-1",
        0.04,
        True,
        8_000,
        (500, 3_000),
        (300, 1_500),
        (("cached", 0.7), ("standard", 0.3)),
        write_share=0.15,
        config_entry="ai_models_config/llm/2",
    ),
    Workload(
        "openAI",
        "gpt-4.1",
        0.14,
        False,
        3_072,
        (100, 1_200),
        (100, 700),
        (("cached", 0.6), ("batch", 0.25), ("standard", 0.15)),
        write_share=0.2,
        config_entry="ai_models_config/llm/3",
    ),
    Workload(
        "openAI",
        "gpt-4o-mini",
        0.12,
        False,
        1_536,
        (50, 500),
        (20, 300),
        (("cached", 0.5), ("standard", 0.5)),
        write_share=0.25,
        config_entry="ai_models_config/llm/4",
    ),
    Workload(
        "gemini",
        "gemini-2.5-flash",
        0.10,
        False,
        4_096,
        (100, 1_000),
        (100, 600),
        (("cached", 0.55), ("batch", 0.2), ("standard", 0.25)),
        write_share=0.3,
        config_entry="ai_models_config/llm/5",
    ),
)

_HOUR_WEIGHTS = [0.4] * 7 + [1.0, 1.6, 2.0, 2.0, 1.9, 1.6, 1.9, 2.0, 1.9, 1.6, 1.2] + [0.8] * 6


# Request ids of the demo history `make run` seeds: the dashboard says it shows them, and
# `manage.py remove_demo_data` deletes exactly these.
DEMO_ID_PREFIX = "demo-history"


def _tokens(rng: random.Random, bounds: tuple[int, int]) -> int:
    # Rounded to tens: real token counts vary, but identical calls (same prefix) are common.
    return rng.randrange(bounds[0], bounds[1] + 1, 10)


def synthetic_events(
    *,
    count: int,
    days: float,
    seed: int = 0,
    end: datetime | None = None,
    id_prefix: str = "seed",
) -> Iterator[UsageEvent]:
    """`count` events spread over the `days` before `end` (default: now), reproducible by seed.

    Request ids are `<id_prefix>-<seed>-<n>`, so re-running the same seed adds no duplicates
    (and `DEMO_ID_PREFIX` marks demo history, which `remove_demo_data` deletes).
    """
    rng = random.Random(seed)  # noqa: S311  # nosec B311 - synthetic data
    end = (end or datetime.now(UTC)).astimezone(UTC)
    span = timedelta(days=days).total_seconds()
    weights = [w.weight for w in WORKLOADS]
    for number in range(count):
        workload = rng.choices(WORKLOADS, weights)[0]
        mode = rng.choices([m for m, _ in workload.modes], [p for _, p in workload.modes])[0]
        # Rejection-sample the hour of day so working hours are busier.
        while True:
            moment = end - timedelta(seconds=rng.random() * span)
            if rng.random() * 2.0 <= _HOUR_WEIGHTS[moment.hour]:
                break
        tail = _tokens(rng, workload.tail)
        prefix = workload.prefix_tokens
        tokens = {"input_tokens": prefix + tail}
        if mode in ("cached", "batch+cache"):
            writes = rng.random() < workload.write_share
            if workload.explicit_cache:
                tokens["input_tokens"] = tail
                if writes:
                    kind = (
                        "cache_write_1h_tokens"
                        if rng.random() < workload.one_hour_share
                        else "cache_write_5m_tokens"
                    )
                    tokens[kind] = prefix
                else:
                    tokens["cache_read_tokens"] = prefix
            elif not writes:  # automatic caching: a miss is plain input, no premium
                tokens = {"input_tokens": tail, "cache_read_tokens": prefix}
        batch_id = f"seedbatch-{seed}-{moment:%Y%m%d%H}" if mode.startswith("batch") else None
        yield UsageEvent(
            request_id=f"{id_prefix}-{seed}-{number}",
            timestamp=moment,
            provider=workload.provider,
            model=workload.model,
            mode=mode,
            output_tokens=_tokens(rng, workload.output),
            config_entry=workload.config_entry,
            batch_id=batch_id,
            **tokens,
        )
