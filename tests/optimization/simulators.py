"""Simulators served on 127.0.0.1 for the optimization tests (see conftest's fixtures)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from optimization.simulator import Clock, Faults
from optimization.simulator.ledger import Counts
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.state import Simulator
from optimization.simulator.testing import restart

# Batches finish in well under a real second.
FAST = SimulatorSettings(
    speed=1.0, batch_start_delay=0.05, batch_seconds_per_request=0.001, batch_cancel_delay=0.05
)


@dataclass
class LiveSimulator:
    """A simulator served on 127.0.0.1: its base URL and its state (to inspect what it saw).

    `state` is the `Simulator` answering at `url` now: `restart` replaces it.
    """

    url: str
    state: Simulator

    @property
    def clock(self) -> Clock:
        """The simulator's clock (advance it when it was created frozen)."""
        return self.state.clock

    def batch_ids(self) -> list[str]:
        """Ids of every batch created on this simulator, oldest first."""
        return [batch.id for batch in reversed(self.state.batches.list())]

    def set_faults(self, faults: Faults | Mapping[str, float]) -> Faults:
        """Replace the instance-wide faults now (`{"lose_response": 1}`; unnamed ones off)."""
        return self.state.set_faults(faults)

    def counts(self) -> Counts:
        """How many times each request was sent and billed (across restarts keeping counts)."""
        return self.state.counts()

    def restart(self, *, keep_state: bool, keep_counts: bool = True) -> None:
        """Crash and restart on the same URL, keeping the state or starting fresh (see
        `optimization.simulator.testing.restart`); the clock carries on either way."""
        self.state = restart(self.url, keep_state=keep_state, keep_counts=keep_counts)


MakeSimulator = Callable[..., LiveSimulator]
