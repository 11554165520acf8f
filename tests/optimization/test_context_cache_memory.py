"""The per-process memory of static prefixes behind explicit context caches."""

from __future__ import annotations

from optimization import context_cache_memory
from optimization.context_cache_memory import ContextCacheMemory, shared_context_cache_memory
from optimization.planner_memory import forget_all


def test_reuse_counts_only_the_last_hour() -> None:
    traffic = ContextCacheMemory().traffic("prefix", now=0.0)
    for at in (0.0, 600.0, 1200.0, 3000.0):
        traffic.use(at)
    assert traffic.reuses_per_hour(3000.0) == 4
    traffic.use(4700.0)  # the calls at 0 and 600 are now more than an hour old
    assert traffic.reuses_per_hour(4700.0) == 3


def test_implicit_hit_rate_is_the_share_of_the_prefix_served() -> None:
    traffic = ContextCacheMemory().traffic("prefix", now=0.0)
    assert traffic.implicit_hit_rate() == 0
    traffic.observe_plain_call(prefix_tokens=4000, cache_read=0)
    traffic.observe_plain_call(prefix_tokens=4000, cache_read=4000)
    traffic.observe_plain_call(prefix_tokens=4000, cache_read=9000)  # more than the prefix
    traffic.observe_plain_call(prefix_tokens=4000, cache_read=2000)
    assert traffic.implicit_hit_rate() == 0.625
    assert traffic.prefix_tokens == 4000


def test_the_least_recently_used_prefix_is_forgotten() -> None:
    memory = ContextCacheMemory(max_prefixes=2)
    first = memory.traffic("a", now=0.0)
    memory.traffic("b", now=0.0)
    assert memory.traffic("a", now=1.0) is first  # "a" is now the most recent
    memory.traffic("c", now=2.0)
    assert memory.traffic("a", now=3.0) is first
    assert memory.traffic("b", now=3.0).first_seen == 3.0  # "b" was forgotten


def test_traffics_share_one_memory_until_the_process_forgets() -> None:
    traffic = ("gemini", "gemini-2.5-flash", ("key", "url"), 3600)
    memory = shared_context_cache_memory(traffic)
    assert shared_context_cache_memory(traffic) is memory
    assert shared_context_cache_memory((*traffic[:3], 300)) is not memory
    forget_all()
    assert shared_context_cache_memory(traffic) is not memory
    assert context_cache_memory.clock() > 0
