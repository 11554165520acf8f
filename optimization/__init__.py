"""Cut LLM bills with prompt caching and Message Batches."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from optimization.batch_scope import batching
from optimization.capabilities import PROVIDERS, ProviderCapabilities
from optimization.config import OPTIMIZATION_DEFAULTS, OptimizationConfig
from optimization.exceptions import (
    BatchError,
    CacheError,
    ConfigValidationError,
    OptimizationError,
)
from optimization.migration import migrate_aiconfigs

if TYPE_CHECKING:
    from optimization.accumulator import BatchAccumulator
    from optimization.batch_client import AnthropicBatchClient, SyncAnthropicBatchClient
    from optimization.cache_manager import CacheManager
    from optimization.dropin import optimize, optimized_factory
    from optimization.factory import get_generator_model
    from optimization.wrapper import OptimizedLLMWrapper

# Imported on first use: they pull in LangChain and the anthropic SDK, which a process that only
# reads configs (the admin, migrate_aiconfigs) should not pay for.
_LAZY = {
    "AnthropicBatchClient": "optimization.batch_client",
    "SyncAnthropicBatchClient": "optimization.batch_client",
    "BatchAccumulator": "optimization.accumulator",
    "CacheManager": "optimization.cache_manager",
    "OptimizedLLMWrapper": "optimization.wrapper",
    "optimize": "optimization.dropin",
    "optimized_factory": "optimization.dropin",
    "get_generator_model": "optimization.factory",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'optimization' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "OPTIMIZATION_DEFAULTS",
    "PROVIDERS",
    "AnthropicBatchClient",
    "BatchAccumulator",
    "BatchError",
    "CacheError",
    "CacheManager",
    "ConfigValidationError",
    "OptimizationConfig",
    "OptimizationError",
    "OptimizedLLMWrapper",
    "ProviderCapabilities",
    "SyncAnthropicBatchClient",
    "batching",
    "get_generator_model",
    "migrate_aiconfigs",
    "optimize",
    "optimized_factory",
]
