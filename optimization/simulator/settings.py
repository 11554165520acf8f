"""Settings of one simulator instance (limits, timing of simulated batches, faults, seed)."""

from __future__ import annotations

from dataclasses import dataclass, field

from optimization.capabilities import ProviderCapabilities
from optimization.simulator.faults import Faults

DAY_SECONDS = 86_400.0
# Limits come from the shared capability table, never from a second copy here.
_ANTHROPIC = ProviderCapabilities.detect("anthropic")


@dataclass(frozen=True)
class SimulatorSettings:
    """Everything that makes one simulator behave differently from another.

    Times are in simulated seconds; the default clock runs `speed` simulated seconds per real
    second, so `speed=600` turns a 24-hour batch expiry into 144 real seconds.
    """

    seed: int = 0
    speed: float = 1.0
    batch_seconds_per_request: float = 0.1
    batch_start_delay: float = 1.0
    batch_cancel_delay: float = 1.0
    batch_expiry_seconds: float = DAY_SECONDS
    batch_max_requests: int = _ANTHROPIC.batch_max_requests or 100_000
    batch_max_bytes: int = _ANTHROPIC.batch_max_bytes or 256 * 1024 * 1024
    max_request_bytes: int = 32 * 1024 * 1024
    max_output_tokens: int = 128_000
    cache_lookback_blocks: int = 20
    max_cache_breakpoints: int = _ANTHROPIC.max_cache_breakpoints
    retry_after_seconds: int = 1
    # None accepts any non-empty key; a set restricts the simulator to those keys (401 otherwise).
    api_keys: frozenset[str] | None = None
    faults: Faults = field(default_factory=lambda: Faults())

    def __post_init__(self) -> None:
        if self.speed < 0:
            raise ValueError(f"speed must be >= 0, got {self.speed}")
        if self.batch_seconds_per_request <= 0:
            raise ValueError(
                f"batch_seconds_per_request must be > 0, got {self.batch_seconds_per_request}"
            )
