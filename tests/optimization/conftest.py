"""Optimization test fixtures: simulators over real HTTP for chat models and SDK clients.

Every test gets its own simulator app (own prompt cache, own batches), so no test can see
another's cached prefixes or batches, whatever the order they run in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from optimization.planner_memory import forget_all
from optimization.simulator import Clock, create_app
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.testing import serve
from tests.optimization.simulators import FAST, LiveSimulator, MakeSimulator


@pytest.fixture(autouse=True)
def fresh_planner_memory() -> Iterator[None]:
    """Each test starts as a fresh process: no planner remembers another test's prefixes."""
    forget_all()
    yield
    forget_all()


@pytest.fixture
def make_simulator() -> Iterator[MakeSimulator]:
    """Start simulators: `make_simulator(settings=None, clock=None)`; stopped after the test."""
    with ExitStack() as stack:

        def start(
            settings: SimulatorSettings | None = None, clock: Clock | None = None
        ) -> LiveSimulator:
            app = create_app(settings or FAST, clock=clock)
            url = stack.enter_context(serve(app))
            return LiveSimulator(url, app.state.simulator)

        yield start


@pytest.fixture
def simulator(make_simulator: MakeSimulator) -> LiveSimulator:
    """A fast simulator of this test's own (batches finish in well under a second)."""
    return make_simulator()


@pytest.fixture
def simulator_url(simulator: LiveSimulator) -> str:
    """The base URL of this test's own fast simulator."""
    return simulator.url
