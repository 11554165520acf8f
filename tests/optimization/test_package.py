"""The package's public names (DESIGN.md), and that importing it stays light."""

from __future__ import annotations

import subprocess  # nosec B404 - a fresh interpreter to see what one import loads
import sys

import pytest

import optimization

DESIGN_NAMES = {
    "OptimizedLLMWrapper",
    "get_generator_model",
    "OptimizationConfig",
    "OPTIMIZATION_DEFAULTS",
    "ProviderCapabilities",
    "PROVIDERS",
    "CacheManager",
    "AnthropicBatchClient",
    "SyncAnthropicBatchClient",
    "BatchAccumulator",
    "migrate_aiconfigs",
    "OptimizationError",
    "BatchError",
    "CacheError",
    "ConfigValidationError",
    "optimize",
    "optimized_factory",
    "batching",
}


def test_every_public_name_of_the_design_is_exported() -> None:
    assert set(optimization.__all__) >= DESIGN_NAMES
    namespace: dict[str, object] = {}
    exec("from optimization import *", namespace)
    assert set(namespace) >= DESIGN_NAMES
    from optimization.wrapper import OptimizedLLMWrapper

    assert namespace["OptimizedLLMWrapper"] is OptimizedLLMWrapper


def test_importing_the_package_does_not_load_langchain_or_the_sdk() -> None:
    code = (
        "import sys, optimization; "
        "print(sorted(m for m in sys.modules if m.startswith(('langchain', 'anthropic'))))"
    )
    result = subprocess.run(  # nosec B603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        optimization.nope  # noqa: B018
