"""Prompt caching as Anthropic models it.

The prompt is the ordered blocks tools → system → messages. A block carrying cache_control
(a breakpoint) writes an entry for the prefix ending at it, for its TTL, provided that prefix
reaches the model's minimum cacheable length. A later request reads the longest prefix
still cached, found by checking, from each of its breakpoints, the positions at and up to
`lookback - 1` blocks before it (the real API looks back about 20 blocks). A hit refreshes
the entry's TTL. Tokens after the read prefix and up to the last breakpoint that is written
are reported as cache creation, split by the TTL of the breakpoint closing each stretch;
everything else is plain input. Expired entries are dropped at least once a simulated minute,
so a long-running simulator holds only what is live.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from optimization.pricing import TokenUsage
from optimization.simulator.prompt import TTL_SECONDS, PromptBlock, prefix_keys

SWEEP_INTERVAL = 60.0  # simulated seconds between removals of every expired entry


@dataclass(frozen=True)
class CacheUsage:
    """How a request's input tokens split between plain input, cache writes and reads.

    `tokens` holds no output: the answer counts those, once it is written.
    """

    tokens: TokenUsage

    def as_usage(self, output_tokens: int, *, service_tier: str) -> dict[str, object]:
        """The API's `usage` object: each kind under the name the Messages API gives it."""
        tokens = self.tokens
        return {
            "input_tokens": tokens.input_tokens,
            "cache_creation_input_tokens": (
                tokens.cache_write_5m_tokens + tokens.cache_write_1h_tokens
            ),
            "cache_read_input_tokens": tokens.cache_read_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": tokens.cache_write_5m_tokens,
                "ephemeral_1h_input_tokens": tokens.cache_write_1h_tokens,
            },
            "output_tokens": output_tokens,
            "service_tier": service_tier,
        }


@dataclass
class _Entry:
    expires_at: float
    ttl: str


class PromptCache:
    """The cache of one simulator instance, keyed by model and prefix."""

    def __init__(
        self, *, lookback: int = 20, ttl_seconds: Mapping[str, float] = TTL_SECONDS
    ) -> None:
        self.lookback = lookback
        # The TTLs blocks may name: Anthropic's by default; OpenAI's automatic cache has others.
        self.ttl_seconds = ttl_seconds
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._next_sweep = float("-inf")

    def __len__(self) -> int:
        """Entries held (live ones, and expired ones not yet dropped)."""
        return len(self._entries)

    def _sweep(self, now: float) -> None:
        self._entries = {key: e for key, e in self._entries.items() if e.expires_at > now}
        self._next_sweep = now + SWEEP_INTERVAL

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            del self._entries[key]
            return None
        return entry

    def _longest_hit(self, keys: list[str], breakpoints: list[int], now: float) -> int:
        """Index of the last block of the longest cached prefix, or -1."""
        best = -1
        for point in breakpoints:
            for position in range(point, max(point - self.lookback, best), -1):
                if self._live(keys[position], now) is not None:
                    best = position
                    break
        return best

    def use(
        self, model: str, blocks: list[PromptBlock], *, now: float, min_tokens: int
    ) -> CacheUsage:
        """Read and write the cache for one request at simulated time `now`."""
        keys = prefix_keys(model, blocks)
        cumulative: list[int] = []
        total = 0
        for block in blocks:
            total += block.tokens
            cumulative.append(total)
        breakpoints = [i for i, block in enumerate(blocks) if block.ttl is not None]
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            hit = self._longest_hit(keys, breakpoints, now)
            if hit >= 0:
                entry = self._entries[keys[hit]]
                entry.expires_at = now + self.ttl_seconds[entry.ttl]
            read = cumulative[hit] if hit >= 0 else 0
            written: Counter[str] = Counter()
            covered = read
            for point in breakpoints:
                if point <= hit or cumulative[point] < min_tokens:
                    continue
                ttl = blocks[point].ttl or "5m"
                self._entries[keys[point]] = _Entry(now + self.ttl_seconds[ttl], ttl)
                written[ttl] += cumulative[point] - covered
                covered = cumulative[point]
        return CacheUsage(
            TokenUsage(
                input_tokens=total - covered,
                cache_write_5m_tokens=written["5m"],
                cache_write_1h_tokens=written["1h"],
                cache_read_tokens=read,
            )
        )
