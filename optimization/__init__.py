"""Cut LLM bills with prompt caching and Message Batches."""

from optimization.capabilities import PROVIDERS, ProviderCapabilities
from optimization.config import OPTIMIZATION_DEFAULTS, OptimizationConfig
from optimization.exceptions import (
    BatchError,
    CacheError,
    ConfigValidationError,
    OptimizationError,
)
from optimization.migration import migrate_aiconfigs

__all__ = [
    "OPTIMIZATION_DEFAULTS",
    "PROVIDERS",
    "BatchError",
    "CacheError",
    "ConfigValidationError",
    "OptimizationConfig",
    "OptimizationError",
    "ProviderCapabilities",
    "migrate_aiconfigs",
]
