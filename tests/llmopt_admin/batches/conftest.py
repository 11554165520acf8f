"""Fixtures of the batch tests: a simulator over real HTTP, users, and request factories."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings

from llmopt_admin.accounts.services import api_token_create
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
        settings.OPENAI_BASE_URL = f"{base_url}/v1"
        settings.AZURE_OPENAI_ENDPOINT = base_url
        settings.GEMINI_BASE_URL = base_url
        return Simulator(base_url, clock)

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def token(staff_user: Any) -> str:
    """An API token of the staff user that may submit jobs."""
    return api_token_create(user=staff_user, name="pipeshub-dev", scopes=["submit"])[1]


@pytest.fixture
def simulator(simulator_factory: Callable[..., Simulator]) -> Simulator:
    return simulator_factory()


@pytest.fixture
def fast_polls(settings: Any) -> None:
    settings.LLMOPT_BATCH_POLL_INITIAL = 0.01
    settings.LLMOPT_BATCH_POLL_MAX = 0.01
    settings.LLMOPT_PROVIDER_MAX_RETRIES = 6


# --- a real Celery worker -------------------------------------------------------------

REDIS_URL = os.environ.get("LLMOPT_TEST_BATCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LEASE_SECONDS = 3


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Worker:
    """`celery -A llmopt_admin worker -B` in its own process group (so beat dies with it)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "llmopt_admin",
                "worker",
                "-B",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-s",
                str(self.log.parent / "beat-schedule"),
            ],
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acknowledgement, like a crashed machine."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def worker_factory(tmp_path: Path, settings: Any) -> Iterator[Callable[..., Worker]]:
    """Start real workers; each talks to the simulator started last (settings' base URL)."""
    redis.Redis.from_url(REDIS_URL).flushdb()  # db 12 is this suite's own
    database = django_settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "LLMOPT_BATCH_SWEEP_SECONDS": "0.5",
        "LLMOPT_BATCH_POLL_INITIAL": "0.2",
        "LLMOPT_BATCH_POLL_MAX": "0.5",
        "LLMOPT_BATCH_LEASE_SECONDS": str(LEASE_SECONDS),
        "LLMOPT_BATCH_INGEST_CHUNK": "100",
    }
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = database["PASSWORD"]
    workers: list[Worker] = []
    # Tasks this process enqueues (transaction.on_commit) go to the same Redis db.
    from llmopt_admin.celery import app

    app.conf.broker_url = REDIS_URL

    def start() -> Worker:
        worker = Worker(
            {
                **env,
                "ANTHROPIC_BASE_URL": settings.ANTHROPIC_BASE_URL,
                "OPENAI_BASE_URL": settings.OPENAI_BASE_URL,
                "AZURE_OPENAI_ENDPOINT": settings.AZURE_OPENAI_ENDPOINT,
                "GEMINI_BASE_URL": settings.GEMINI_BASE_URL,
            },
            tmp_path / "worker.log",
        )
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    log = tmp_path / "worker.log"
    if log.exists():
        print(log.read_text()[-5000:])  # shown only when a test fails
