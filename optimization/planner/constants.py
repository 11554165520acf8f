"""The planner's defaults in one place: the wire format of a breakpoint, priors, memory sizes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MARKER = "[CACHE_BREAKPOINT]"
TTL_5M = 300
TTL_1H = 3600
# Anthropic bills an image by its size (width x height / 750); one at the default maximum size
# is about 1,600 tokens. Without decoding the image we assume that, for images and binary
# documents alike.
IMAGE_TOKENS = 1600
# Anthropic looks back about 20 blocks from a breakpoint for a cached prefix; rely on that only
# well within the window (our block count of a request is an estimate).
LOOKBACK_SAFE = 15

# Prior probability that a request's tail is extended by a later request within the TTL: for
# later turns of a conversation (the request extends an earlier request, or holds an assistant
# turn), for fresh requests behind a cacheable static prefix (an application's first turns:
# chats go on, RAG and extraction calls do not), and for other fresh requests (one-off jobs).
# Behind a static prefix the prior sits above break-even (about 0.22 at Anthropic's prices), so
# an application's first turns are written until its traffic shows they are not extended: a
# first turn not written costs a conversation 1.15x its tokens on the next turn, one written in
# vain 0.25x. Measured on benchmarks/bench_cache_planner.py over 16 seeds: RAG conversations
# stay at the simple rules' cost (at 0.1 they were 1-5% above them), single-turn RAG pays about
# 1% more before it learns, and still some 18% less than the rules.
PRIOR_EXTENDED_LATER_TURN = 0.9
PRIOR_EXTENDED_FRESH_BEHIND_STATIC = 0.35
PRIOR_EXTENDED_FRESH = 0.1
# Prior probability that a static prefix (tools + system prompt) is sent again within the TTL:
# system prompts are written to be reused.
PRIOR_STATIC_PREFIX_REUSED = 0.9
# Weight (in outcomes) of the prior against the rate over all families, and of that rate
# against a family's own outcomes. Measured on benchmarks/bench_cache_planner.py (the overall
# excess over the hindsight bound): 2 saves 2.4% of it against 4, mostly PipesHub's document
# extraction learning sooner that its tails are never extended; 1 saves 0.6% more, but lets
# an application's first two or three outcomes decide alone.
PRIOR_WEIGHT = 4.0
FAMILY_WEIGHT = 2.0
# Outcome counts decay (halve) past this many, so the rates follow changing traffic.
RATE_HORIZON = 200.0
# Weight (in later turns) of the belief that this planner sees every turn of a conversation,
# and the least share of the turns it is ever assumed to see (64 processes taking turns).
SHARE_PRIOR_WEIGHT = 4.0
MIN_SHARE = 1.0 / 64

DEFAULT_MEMORY_SIZE = 8192


@dataclass(frozen=True)
class MemorySizes:
    """How many entries each part of a planner's memory holds, all derived from one size.

    `prefixes`: remembered prefixes, and as many families' rates. `snapshots`: readings of
    conversations, kept with their messages (referenced while kept) so that the next turn only
    reads what is new; `trial_snapshots`: new readings waiting for a reuse, few so that a backend
    rebuilding its messages for every request does not keep many dead requests alive.
    `contents`: readings of message contents; `texts`: token counts from a custom counter;
    `tools`: readings of tool definitions; `system_texts`: system strings remembered to find
    their stable start (see `optimization.system_split`).
    """

    prefixes: int
    snapshots: int
    trial_snapshots: int
    contents: int
    texts: int
    tools: int
    system_texts: int

    @classmethod
    def for_memory(cls, memory_size: int) -> MemorySizes:
        size = max(16, memory_size)
        return cls(
            prefixes=size,
            snapshots=max(4, size // 8),
            trial_snapshots=max(4, size // 64),
            contents=size * 2,
            texts=max(16, size // 2),
            tools=max(16, size // 32),
            system_texts=max(8, size // 128),
        )


def cache_control_for(ttl: int) -> dict[str, str]:
    """Anthropic's `cache_control` value for a TTL in seconds (300 or 3600)."""
    if ttl >= TTL_1H:
        return {"type": "ephemeral", "ttl": "1h"}
    return {"type": "ephemeral"}


def ttl_of(cache_control: object) -> int:
    """TTL in seconds of a `cache_control` value (5 minutes unless it says "1h")."""
    if isinstance(cache_control, Mapping) and cache_control.get("ttl") == "1h":
        return TTL_1H
    return TTL_5M


__all__ = [
    "DEFAULT_MEMORY_SIZE",
    "IMAGE_TOKENS",
    "LOOKBACK_SAFE",
    "MARKER",
    "TTL_1H",
    "TTL_5M",
    "MemorySizes",
    "cache_control_for",
    "ttl_of",
]
