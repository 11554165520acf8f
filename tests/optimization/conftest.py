"""Optimization test fixtures: a simulator over real HTTP for chat models to point at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from optimization.simulator import create_app
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.testing import serve


@pytest.fixture(scope="session")
def simulator_url() -> Iterator[str]:
    """A fast simulator (batches finish in well under a second) shared by the session."""
    settings = SimulatorSettings(
        speed=1.0, batch_start_delay=0.05, batch_seconds_per_request=0.001, batch_cancel_delay=0.05
    )
    with serve(create_app(settings)) as url:
        yield url
