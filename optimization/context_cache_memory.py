"""What the process learns about static prompt prefixes for explicit context caches.

Per static prefix (system instruction and tools) of one traffic: how often it was used in the
last hour, how much of it implicit caching already served, how many tokens it holds, and the
explicit cache entry holding it, if any. Kept per process and per traffic (provider, model,
account, endpoint, TTL), never in the model object: PipesHub builds a new model per request.
Bounded (the least recently used prefix and traffic are forgotten) and safe across threads.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

# Distinct traffics, and prefixes per traffic, remembered at once.
MAX_TRAFFICS = 64
MAX_PREFIXES = 256
HOUR = 3600.0

# The process's clock (Unix seconds); tests point it at the simulator's clock.
clock: Callable[[], float] = time.time


@dataclass
class ContextCacheEntry:
    """A live explicit cache entry as this process created it."""

    name: str
    tokens: int
    expires_at: float


@dataclass
class PrefixTraffic:
    """What was observed about one static prefix (read and changed under the memory's lock)."""

    first_seen: float
    uses: deque[float] = field(default_factory=deque)  # call times in the last hour
    prefix_tokens: int | None = None
    plain_calls: int = 0  # calls observed without an entry
    implicit_served: float = 0.0  # sum over those of the share implicit caching read
    entry: ContextCacheEntry | None = None
    busy: bool = False  # a creation or refresh is under way
    blocked_until: float = float("-inf")  # no creation before (the provider refused one)

    def use(self, now: float) -> None:
        """Count a call at `now`, forgetting those older than an hour."""
        self.uses.append(now)
        while self.uses and self.uses[0] <= now - HOUR:
            self.uses.popleft()

    def reuses_per_hour(self, now: float) -> float:
        """Calls in the last hour (a rate never extrapolated from a shorter window)."""
        return float(sum(1 for at in self.uses if at > now - HOUR))

    def implicit_hit_rate(self) -> float:
        """The share of the prefix implicit caching served on plain calls (0 when unseen)."""
        return self.implicit_served / self.plain_calls if self.plain_calls else 0.0

    def observe_plain_call(self, prefix_tokens: int, cache_read: int) -> None:
        """Learn from a call sent without an entry: its estimated prefix and implicit reads."""
        if prefix_tokens <= 0:
            return
        self.prefix_tokens = prefix_tokens
        self.plain_calls += 1
        self.implicit_served += min(1.0, cache_read / prefix_tokens)


class ContextCacheMemory:
    """The static prefixes of one traffic. Hold `lock` while reading or changing a traffic."""

    def __init__(self, *, max_prefixes: int = MAX_PREFIXES) -> None:
        self.lock = threading.Lock()
        self._max_prefixes = max_prefixes
        self._prefixes: OrderedDict[str, PrefixTraffic] = OrderedDict()

    def traffic(self, key: str, now: float) -> PrefixTraffic:
        """The traffic of prefix `key` (new when unseen). Call with `lock` held."""
        traffic = self._prefixes.get(key)
        if traffic is None:
            traffic = self._prefixes[key] = PrefixTraffic(first_seen=now)
            while len(self._prefixes) > self._max_prefixes:
                self._prefixes.popitem(last=False)
        else:
            self._prefixes.move_to_end(key)
        return traffic

    def entries(self) -> list[ContextCacheEntry]:
        """The entries this memory holds now."""
        with self.lock:
            return [t.entry for t in self._prefixes.values() if t.entry is not None]


_lock = threading.Lock()
_memories: OrderedDict[Hashable, ContextCacheMemory] = OrderedDict()


def shared_context_cache_memory(traffic: Hashable) -> ContextCacheMemory:
    """The process's memory for `traffic` (provider, model, account, endpoint, TTL)."""
    with _lock:
        memory = _memories.get(traffic)
        if memory is None:
            memory = _memories[traffic] = ContextCacheMemory()
            while len(_memories) > MAX_TRAFFICS:
                _memories.popitem(last=False)
        else:
            _memories.move_to_end(traffic)
        return memory


def forget_all() -> None:
    """Drop every memory (a fresh process's state; for tests and replays)."""
    with _lock:
        _memories.clear()


__all__ = [
    "ContextCacheEntry",
    "ContextCacheMemory",
    "PrefixTraffic",
    "clock",
    "forget_all",
    "shared_context_cache_memory",
]
