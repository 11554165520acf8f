"""What the cache planner learns, kept per process and per traffic instead of per model object.

PipesHub builds a new chat model for every chat request and every indexed document; a planner
living in the model would start empty each time and never see a prefix twice. Models of the
same traffic (provider, model, endpoint, TTL and breakpoint rules) share one `CacheManager`
here. It is bounded (the least recently used traffic is forgotten) and safe across threads and
event loops (the manager locks its own memory; this registry locks its map).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from optimization import context_cache_memory
from optimization.cache_manager import CacheManager
from optimization.capabilities import ProviderCapabilities
from optimization.config import OptimizationConfig

# Distinct traffics remembered at once; each planner bounds its own memory.
MAX_TRAFFICS = 64

_lock = threading.Lock()
_planners: OrderedDict[Hashable, CacheManager] = OrderedDict()


def shared_cache_manager(
    capabilities: ProviderCapabilities, config: OptimizationConfig, *, endpoint: str | None
) -> CacheManager:
    """The process's planner for this provider, model, endpoint and cache settings."""
    rules = config.cache_breakpoints
    key = (
        capabilities.provider,
        capabilities.model,
        endpoint,
        config.cache_ttl,
        rules if isinstance(rules, str) else tuple(rules),
    )
    with _lock:
        manager = _planners.get(key)
        if manager is None:
            manager = _planners[key] = CacheManager(capabilities, config)
            while len(_planners) > MAX_TRAFFICS:
                _planners.popitem(last=False)
        else:
            _planners.move_to_end(key)
        return manager


def forget_all() -> None:
    """Drop every shared planner and context cache memory (a fresh process's state; for tests
    and replays)."""
    with _lock:
        _planners.clear()
    context_cache_memory.forget_all()


__all__ = ["MAX_TRAFFICS", "forget_all", "shared_cache_manager"]
