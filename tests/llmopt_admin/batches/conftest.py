"""Fixtures of the batch tests: a simulator over real HTTP, users, and request factories."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from llmopt_admin.batches.validation import ValidRequest
from optimization.simulator import Clock, Faults, SimulatorSettings, create_app
from optimization.simulator.testing import serve

MODEL = "claude-haiku-4-5"


@dataclass
class Simulator:
    base_url: str
    clock: Clock

    def finish_batches(self) -> None:
        """Jump past any batch's processing time (but not its 24-hour expiry)."""
        self.clock.advance(3_600)


def make_requests(count: int, *, prefix: str = "req") -> list[ValidRequest]:
    return [
        ValidRequest(
            custom_id=f"{prefix}-{i}",
            params={
                "model": MODEL,
                "max_tokens": 32,
                "messages": [{"role": "user", "content": f"Say hello number {i}"}],
            },
        )
        for i in range(count)
    ]


@pytest.fixture
def simulator_factory(settings: Any) -> Iterator[Callable[..., Simulator]]:
    """Start a simulator (frozen clock unless `speed` is given) and point the admin at it."""
    stack: list[Any] = []

    def start(*, faults: Faults | None = None, speed: float = 0.0, **options: Any) -> Simulator:
        clock = Clock(speed=speed)
        app = create_app(SimulatorSettings(faults=faults or Faults(), **options), clock=clock)
        context = serve(app)
        base_url = context.__enter__()
        stack.append(context)
        settings.ANTHROPIC_BASE_URL = base_url
        return Simulator(base_url, clock)

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def simulator(simulator_factory: Callable[..., Simulator]) -> Simulator:
    return simulator_factory()


@pytest.fixture
def fast_polls(settings: Any) -> None:
    settings.LLMOPT_BATCH_POLL_INITIAL = 0.01
    settings.LLMOPT_BATCH_POLL_MAX = 0.01
    settings.LLMOPT_ANTHROPIC_MAX_RETRIES = 6


@pytest.fixture
def staff(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(
        "operator", password="pw-operator-1", is_staff=True
    )


@pytest.fixture
def outsider(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("outsider", password="pw-outsider-1")


@pytest.fixture
def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def outsider_client(outsider: User) -> Client:
    client = Client()
    client.force_login(outsider)
    return client
