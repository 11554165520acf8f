"""Usage recorders: events reach the ingest API in the background; nothing blocks or raises."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from optimization.pricing import TokenUsage
from optimization.recorders import (
    USAGE_TOKEN_ENV,
    USAGE_URL_ENV,
    HttpUsageRecorder,
    InMemoryUsageRecorder,
    LoggingUsageRecorder,
    default_recorder,
    set_default_recorder,
)
from optimization.simulator.testing import serve
from optimization.telemetry import UsageEvent, token_usage_from_metadata, usage_event_for


def event(n: int = 0) -> UsageEvent:
    return UsageEvent(
        request_id=f"req-{n}",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        provider="anthropic",
        model="claude-sonnet-4-5",
        mode="cached",
        input_tokens=10,
        cache_read_tokens=90,
        output_tokens=5,
    )


class Ingest:
    def __init__(self, status: int = 200) -> None:
        self.bodies: list[dict] = []
        self.auth: list[str | None] = []
        self.status = status

    async def endpoint(self, request: Request) -> JSONResponse:
        self.bodies.append(await request.json())
        self.auth.append(request.headers.get("authorization"))
        return JSONResponse({"accepted": 0}, status_code=self.status)


@pytest.fixture
def ingest() -> Iterator[tuple[Ingest, str]]:
    sink = Ingest()
    app = Starlette(routes=[Route("/api/usage/events", sink.endpoint, methods=["POST"])])
    with serve(app) as base_url:
        yield sink, f"{base_url}/api/usage/events"


def test_it_posts_events_in_groups_with_the_bearer_token(ingest: tuple[Ingest, str]) -> None:
    sink, url = ingest
    recorder = HttpUsageRecorder(url, "tok-123", flush_interval=0.05)
    for n in range(3):
        recorder.record(event(n))
    assert recorder.flush(5)
    recorder.close()
    sent = [e["request_id"] for body in sink.bodies for e in body["events"]]
    assert sent == ["req-0", "req-1", "req-2"]
    assert set(sink.auth) == {"Bearer tok-123"}
    assert recorder.sent == 3


def test_a_full_queue_drops_and_counts_events_without_blocking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # nothing listens on port 9: posts fail, the one-slot queue fills up
    recorder = HttpUsageRecorder(
        "http://127.0.0.1:9/api/usage/events", "tok", max_queue=1, flush_interval=5, retries=0
    )
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        for n in range(50):
            recorder.record(event(n))
    assert time.monotonic() - started < 1.0
    assert recorder.dropped >= 40
    assert "dropped" in caplog.text
    assert "tok" not in caplog.text.replace("token", "")
    recorder.close(timeout=1)


def test_an_unreachable_ingest_api_never_raises_into_the_caller() -> None:
    recorder = HttpUsageRecorder(
        "http://127.0.0.1:9/api/usage/events", "tok", flush_interval=0.01, retries=1
    )
    recorder.record(event())
    assert recorder.flush(5)
    recorder.close()
    assert recorder.failed == 1


def test_refused_events_are_counted_as_failed() -> None:
    sink = Ingest(status=400)
    app = Starlette(routes=[Route("/e", sink.endpoint, methods=["POST"])])
    with serve(app) as base_url:
        recorder = HttpUsageRecorder(f"{base_url}/e", "tok", flush_interval=0.01)
        recorder.record(event())
        assert recorder.flush(5)
        recorder.close()
    assert recorder.failed == 1


def test_the_logging_and_in_memory_recorders_keep_every_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    memory = InMemoryUsageRecorder()
    memory.record(event())
    assert memory.events == [event()]
    with caplog.at_level(logging.INFO, logger="optimization.usage"):
        LoggingUsageRecorder().record(event())
    assert "mode=cached" in caplog.text


def test_usage_metadata_is_split_into_tokens_by_kind() -> None:
    usage = token_usage_from_metadata(
        {
            "input_tokens": 1100,
            "output_tokens": 20,
            "total_tokens": 1120,
            "input_token_details": {
                "cache_read": 800,
                "cache_creation": 0,
                "ephemeral_5m_input_tokens": 200,
                "ephemeral_1h_input_tokens": 50,
            },
        }
    )
    assert usage == TokenUsage(
        input_tokens=50,
        cache_write_5m_tokens=200,
        cache_write_1h_tokens=50,
        cache_read_tokens=800,
        output_tokens=20,
    )
    assert token_usage_from_metadata(None) == TokenUsage()


def test_a_usage_event_is_priced_and_an_unknown_model_costs_zero_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    usage = TokenUsage(input_tokens=1_000_000, output_tokens=0)
    priced = usage_event_for(
        provider="anthropic", model="claude-sonnet-4-5", mode="batch", usage=usage
    )
    assert priced.cost > 0
    assert priced.baseline_cost >= priced.cost
    with caplog.at_level(logging.WARNING):
        first = usage_event_for(provider="x", model="no-such-model", mode="standard", usage=usage)
        usage_event_for(provider="x", model="no-such-model", mode="standard", usage=usage)
    assert first.cost == Decimal(0)
    assert caplog.text.count("no-such-model") == 1


@pytest.fixture
def no_default_recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No installed default and no usage env vars, before and after the test."""
    monkeypatch.delenv(USAGE_URL_ENV, raising=False)
    monkeypatch.delenv(USAGE_TOKEN_ENV, raising=False)
    set_default_recorder(None)
    yield
    installed = default_recorder()
    if isinstance(installed, HttpUsageRecorder):
        installed.close(timeout=1)
    set_default_recorder(None)


@pytest.mark.usefixtures("no_default_recorder")
def test_without_env_vars_the_default_recorder_logs_and_is_built_once() -> None:
    first = default_recorder()
    assert isinstance(first, LoggingUsageRecorder)
    assert default_recorder() is first


@pytest.mark.usefixtures("no_default_recorder")
def test_with_only_the_url_set_the_default_recorder_logs_and_says_the_token_is_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(USAGE_URL_ENV, "http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING):
        assert isinstance(default_recorder(), LoggingUsageRecorder)
    assert USAGE_TOKEN_ENV in caplog.text


@pytest.mark.usefixtures("no_default_recorder")
@pytest.mark.parametrize(
    "configured",
    ["http://127.0.0.1:9", "http://127.0.0.1:9/", "http://127.0.0.1:9/api/usage/events"],
)
def test_with_url_and_token_set_the_default_recorder_posts_to_the_ingest_api(
    monkeypatch: pytest.MonkeyPatch, configured: str
) -> None:
    monkeypatch.setenv(USAGE_URL_ENV, configured)
    monkeypatch.setenv(USAGE_TOKEN_ENV, "tok-env")
    recorder = default_recorder()
    assert isinstance(recorder, HttpUsageRecorder)
    assert recorder.url == "http://127.0.0.1:9/api/usage/events"


@pytest.mark.usefixtures("no_default_recorder")
def test_the_default_recorder_from_the_env_sends_events_with_the_env_token(
    monkeypatch: pytest.MonkeyPatch, ingest: tuple[Ingest, str]
) -> None:
    sink, url = ingest
    monkeypatch.setenv(USAGE_URL_ENV, url.removesuffix("/api/usage/events"))
    monkeypatch.setenv(USAGE_TOKEN_ENV, "tok-env")
    recorder = default_recorder()
    assert isinstance(recorder, HttpUsageRecorder)
    recorder.record(event(7))
    assert recorder.flush(5)
    assert [e["request_id"] for body in sink.bodies for e in body["events"]] == ["req-7"]
    assert sink.auth == ["Bearer tok-env"]


@pytest.mark.usefixtures("no_default_recorder")
def test_concurrent_first_calls_build_a_single_default_recorder() -> None:
    seen: list[object] = []
    barrier = threading.Barrier(8)

    def lookup() -> None:
        barrier.wait()
        seen.append(default_recorder())

    threads = [threading.Thread(target=lookup) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(recorder) for recorder in seen}) == 1


@pytest.mark.usefixtures("no_default_recorder")
def test_an_installed_default_recorder_replaces_the_env_one_until_reset() -> None:
    memory = InMemoryUsageRecorder()
    set_default_recorder(memory)
    assert default_recorder() is memory
    set_default_recorder(None)
    assert isinstance(default_recorder(), LoggingUsageRecorder)
