"""How long parsing one LLM entry's configuration takes (the wrapper does it per model build).

Prints the median over several timeit runs, in microseconds per parse:

    BENCH config_parse_us <value> us           tolerant mode, a typical stored entry
    BENCH config_parse_strict_us <value> us    strict mode, the same entry
    BENCH config_parse_bad_us <value> us       tolerant mode, every field bad (warnings path)
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from typing import Any

from optimization.config import OptimizationConfig

TYPICAL: dict[str, Any] = {
    "model": "claude-sonnet-4-5-20250929",
    "apiKey": "sk-ant-not-a-real-key",
    "temperature": 0.2,
    "optimizationEnabled": True,
    "batchingEnabled": "true",
    "batchMaxSize": 10000,
    "batchTimeout": "30.5",
    "cachingEnabled": True,
    "cacheTTL": 300,
    "cacheBreakpoints": ["tools", "system", "messages:-1"],
    "fallbackToStandard": True,
    "optimizationStrategy": "auto",
}
BAD: dict[str, Any] = {
    "model": "claude-sonnet-4-5-20250929",
    "optimizationEnabled": "maybe",
    "batchingEnabled": 7,
    "batchMaxSize": "lots",
    "batchTimeout": -1,
    "cachingEnabled": [],
    "cacheTTL": 42,
    "cacheBreakpoints": ["everything"],
    "fallbackToStandard": "perhaps",
    "optimizationStrategy": "fast",
}


def median_us(call: Callable[[], object], *, number: int = 2000, repeat: int = 7) -> float:
    """Median microseconds per call over `repeat` timeit runs of `number` calls."""
    runs = timeit.repeat(call, number=number, repeat=repeat)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    tolerant = median_us(lambda: OptimizationConfig.from_dict(TYPICAL, provider="anthropic"))
    strict = median_us(
        lambda: OptimizationConfig.from_dict(TYPICAL, strict=True, provider="anthropic")
    )
    bad = median_us(lambda: OptimizationConfig.from_dict(BAD, provider="anthropic"))
    print(f"BENCH config_parse_us {tolerant:.2f} us")
    print(f"BENCH config_parse_strict_us {strict:.2f} us")
    print(f"BENCH config_parse_bad_us {bad:.2f} us")


if __name__ == "__main__":
    main()
