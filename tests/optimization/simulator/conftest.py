"""Fixtures: a frozen-clock simulator served on 127.0.0.1 and SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from starlette.applications import Starlette

from optimization.simulator import Clock, SimulatorSettings, create_app
from optimization.simulator.testing import serve

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
MODEL = "claude-sonnet-4-6"  # minimum cacheable length 1024 tokens


@pytest.fixture
def clock() -> Clock:
    return Clock(START, speed=0)


@pytest.fixture
def settings() -> SimulatorSettings:
    return SimulatorSettings()


@pytest.fixture
def sim_app(settings: SimulatorSettings, clock: Clock) -> Starlette:
    return create_app(settings, clock=clock)


@pytest.fixture
def base_url(sim_app: Starlette) -> Iterator[str]:
    with serve(sim_app) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=base_url, api_key="sk-test", max_retries=0) as sdk:
        yield sdk
