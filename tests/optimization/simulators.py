"""Simulators served on 127.0.0.1 for the optimization tests (see conftest's fixtures)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from optimization.simulator import Clock
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.state import Simulator

# Batches finish in well under a real second.
FAST = SimulatorSettings(
    speed=1.0, batch_start_delay=0.05, batch_seconds_per_request=0.001, batch_cancel_delay=0.05
)


@dataclass(frozen=True)
class LiveSimulator:
    """A simulator served on 127.0.0.1: its base URL and its state (to inspect what it saw)."""

    url: str
    state: Simulator

    @property
    def clock(self) -> Clock:
        """The simulator's clock (advance it when it was created frozen)."""
        return self.state.clock

    def batch_ids(self) -> list[str]:
        """Ids of every batch created on this simulator, oldest first."""
        return [batch.id for batch in reversed(self.state.batches.list())]


MakeSimulator = Callable[..., LiveSimulator]
