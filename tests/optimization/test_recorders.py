"""Usage recorders: events reach the ingest API in the background; nothing blocks or raises."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess  # nosec B404 - runs this project's own Python
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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
from optimization.usage_spool import (
    SPOOL_DIR_ENV,
    SPOOL_MAX_MB_ENV,
    default_spool_dir,
    default_spool_max_bytes,
)


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


@pytest.fixture(autouse=True)
def spool_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Recorders built from the environment spool under the test's tmp_path, not ~/.cache."""
    spool = tmp_path / "env-spool"
    monkeypatch.setenv(SPOOL_DIR_ENV, str(spool))
    return spool


def spooled_ids(spool: Path) -> list[str]:
    """The request ids held in the spool's files (waiting, claimed or half-written)."""
    if not spool.exists():
        return []
    return [
        json.loads(line)["request_id"]
        for path in sorted(spool.iterdir())
        for line in path.read_text().splitlines()
        if line.strip()
    ]


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


def test_an_unreachable_ingest_api_never_raises_into_the_caller(tmp_path: Path) -> None:
    recorder = HttpUsageRecorder(
        "http://127.0.0.1:9/api/usage/events",
        "tok",
        flush_interval=0.01,
        retries=1,
        spool_dir=tmp_path,
    )
    recorder.record(event())
    assert recorder.flush(5)
    recorder.close(timeout=1)
    assert (recorder.spooled, recorder.failed, recorder.dropped) == (1, 0, 0)
    assert spooled_ids(tmp_path) == ["req-0"]


def test_refused_events_are_counted_as_failed_and_not_spooled(tmp_path: Path) -> None:
    sink = Ingest(status=400)
    app = Starlette(routes=[Route("/e", sink.endpoint, methods=["POST"])])
    with serve(app) as base_url:
        recorder = HttpUsageRecorder(
            f"{base_url}/e", "tok", flush_interval=0.01, spool_dir=tmp_path
        )
        recorder.record(event())
        assert recorder.flush(5)
        recorder.close()
    assert recorder.failed == 1
    assert recorder.spooled == 0
    assert spooled_ids(tmp_path) == []


def test_the_logging_and_in_memory_recorders_keep_every_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    memory = InMemoryUsageRecorder()
    memory.record(event())
    assert memory.events == [event()]
    with caplog.at_level(logging.INFO, logger="optimization.usage"):
        LoggingUsageRecorder().record(event())
    assert "mode=cached" in caplog.text
    assert "input=10 cache_write_5m=0 cache_write_1h=0 cache_read=90 output=5" in caplog.text


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


# --- spooling while the admin is unreachable ------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


class FlakyIngest:
    """The ingest API on a fixed 127.0.0.1 port, counting the request ids it accepts.

    `stop()` closes the listening socket (connections are refused, as during a restart) and
    `start()` opens it again; `mode` makes a running server answer "ok", "503" or "401"
    without recording anything, or "hang" (never answer, until `release` is set, then 503).
    """

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.mode = "ok"
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}/api/usage/events"

    def start(self) -> None:
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = ingest.mode
                if mode == "hang":
                    ingest.release.wait(30)
                status = {"ok": 200, "401": 401}.get(mode, 503)
                if status == 200:
                    ids = [item["request_id"] for item in json.loads(body)["events"]]
                    with ingest._lock:
                        ingest.received.update(ids)
                payload = b'{"accepted": 0, "duplicates": 0, "rejected": []}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def count(self) -> int:
        with self._lock:
            return len(self.received)


@pytest.fixture
def flaky() -> Iterator[FlakyIngest]:
    server = FlakyIngest()
    server.start()
    yield server
    server.release.set()
    server.stop()


def quick(url: str, spool: Path, **options: object) -> HttpUsageRecorder:
    """A recorder with short intervals, so outages and recoveries take a test's time."""
    settings: dict[str, Any] = {
        "flush_interval": 0.05,
        "backoff_initial": 0.05,
        "backoff_max": 0.3,
        "spool_scan_interval": 0.2,
        "timeout": 2.0,
        "spool_dir": spool,
        **options,
    }
    return HttpUsageRecorder(url, "tok", **settings)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def spool_files(spool: Path) -> list[str]:
    return sorted(path.name for path in spool.iterdir()) if spool.exists() else []


def test_an_outage_of_several_seconds_loses_no_event_and_each_arrives_once(
    flaky: FlakyIngest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    recorder = quick(flaky.url, spool)
    recorded: list[str] = []
    slowest = 0.0
    stop = threading.Event()

    def produce() -> None:
        nonlocal slowest
        n = 0
        while not stop.is_set():
            item = event(100_000 + n)
            started = time.perf_counter()
            recorder.record(item)
            slowest = max(slowest, time.perf_counter() - started)
            recorded.append(item.request_id)
            n += 1
            time.sleep(0.003)

    producer = threading.Thread(target=produce)
    with caplog.at_level(logging.INFO, logger="optimization.recorders"):
        producer.start()
        time.sleep(0.8)
        flaky.stop()  # the admin restarts: connections refused
        time.sleep(2.0)
        flaky.start()
        flaky.mode = "503"  # up, but not ready yet
        time.sleep(0.8)
        flaky.mode = "401"  # a token the admin does not know yet
        time.sleep(0.5)
        flaky.mode = "ok"
        time.sleep(0.8)
        stop.set()
        producer.join()
        assert wait_until(lambda: flaky.count() == len(recorded)), (
            f"{flaky.count()} of {len(recorded)} arrived; spool: {spool_files(spool)}"
        )
        recorder.close()

    assert len(recorded) > 500
    assert set(flaky.received) == set(recorded)
    assert max(flaky.received.values()) == 1  # exactly once, by request id
    assert recorder.spooled > 0  # the outage did go through the spool
    assert (recorder.dropped, recorder.failed) == (0, 0)
    assert recorder.sent == len(recorded)
    assert spool_files(spool) == []
    assert slowest < 0.05, f"record() took {slowest * 1000:.1f} ms"
    # One warning when the outage starts, one line when it ends: not one per event or batch.
    assert caplog.text.count("unreachable") == 1
    assert caplog.text.count("answers again") == 1
    assert "tok" not in caplog.text.replace("token", "")


WRITER = """
import sys
from datetime import UTC, datetime
from optimization.recorders import HttpUsageRecorder
from optimization.telemetry import UsageEvent

url, spool, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
recorder = HttpUsageRecorder(url, "tok", flush_interval=0.05, spool_dir=spool)
for n in range(count):
    recorder.record(UsageEvent(
        request_id=f"restart-{n}", timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        provider="anthropic", model="claude-sonnet-4-5", mode="standard", input_tokens=n,
    ))
recorder.close(timeout=3)
print(recorder.sent, recorder.spooled, recorder.dropped)
"""


def run_python(script: str, *args: str) -> str:
    result = subprocess.run(  # nosec B603 - this interpreter, fixed script
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_restarted_process_sends_what_the_previous_one_spooled(
    flaky: FlakyIngest, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    flaky.stop()
    # A process records while the admin is down and exits: close() leaves its events spooled.
    assert run_python(WRITER, flaky.url, str(spool), "300").split() == ["0", "300", "0"]
    assert len(spooled_ids(spool)) == 300

    flaky.start()
    recorder = quick(flaky.url, spool)  # the next process, on the same spool directory
    assert wait_until(lambda: flaky.count() == 300)
    recorder.close()
    assert set(flaky.received) == {f"restart-{n}" for n in range(300)}
    assert max(flaky.received.values()) == 1
    assert spool_files(spool) == []


DRAINER = """
import sys, time
from pathlib import Path
from optimization.recorders import HttpUsageRecorder

url, spool = sys.argv[1], Path(sys.argv[2])
recorder = HttpUsageRecorder(url, "tok", max_batch=10, flush_interval=0.05, spool_dir=spool)
deadline = time.monotonic() + 30
while any(spool.iterdir()) and time.monotonic() < deadline:
    time.sleep(0.02)
recorder.close(timeout=3)
print(recorder.sent)
"""


def test_processes_sharing_a_spool_send_each_event_once(flaky: FlakyIngest, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    flaky.stop()
    writer = quick(flaky.url, spool, max_batch=10)
    for n in range(400):
        writer.record(event(1000 + n))
        if n % 10 == 9:
            writer.flush(5)  # one spool file per ten events
    writer.close(timeout=1)
    assert writer.spooled == 400
    assert len(spool_files(spool)) >= 30

    flaky.start()
    drainers = [
        subprocess.Popen(  # nosec B603 - this interpreter, fixed script
            [sys.executable, "-c", DRAINER, flaky.url, str(spool)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    sent = 0
    for process in drainers:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        sent += int(out)
    assert set(flaky.received) == {f"req-{1000 + n}" for n in range(400)}
    assert max(flaky.received.values()) == 1
    assert sent == 400
    assert spool_files(spool) == []


def test_past_the_spool_bound_the_newest_events_are_dropped_counted_and_logged_once(
    flaky: FlakyIngest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    line = len(json.dumps(event(100).to_json(), separators=(",", ":"))) + 1
    flaky.stop()
    recorder = quick(flaky.url, spool, spool_max_bytes=10 * line + line // 2)
    with caplog.at_level(logging.WARNING, logger="optimization.recorders"):
        for n in range(100, 140):
            recorder.record(event(n))
            if n % 5 == 4:
                assert recorder.flush(5)
        assert sum(path.stat().st_size for path in spool.iterdir()) <= 10 * line + line // 2
        assert (recorder.spooled, recorder.dropped, recorder.spool_dropped) == (10, 30, 30)
        assert caplog.text.count("dropped because") == 1  # once for the episode

        flaky.start()
        assert wait_until(lambda: flaky.count() == 10)
        recorder.record(event(999))
        assert wait_until(lambda: flaky.count() == 11)
        recorder.close()
    # The oldest events were kept, the newest dropped.
    assert set(flaky.received) == {f"req-{n}" for n in range(100, 110)} | {"req-999"}
    assert "30 event(s) were dropped" in caplog.text
    assert spool_files(spool) == []


def test_record_never_blocks_and_close_is_bounded_while_the_admin_hangs(
    flaky: FlakyIngest, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    flaky.mode = "hang"  # accepts connections, never answers
    recorder = quick(flaky.url, spool, timeout=20.0)
    started = time.monotonic()
    for n in range(2000):
        recorder.record(event(n))
    assert time.monotonic() - started < 0.5
    time.sleep(0.3)  # the first batch is in flight, waiting for an answer
    started = time.monotonic()
    recorder.close(timeout=1)
    assert time.monotonic() - started < 2.0
    # Nothing sent, nothing lost: everything not answered is in the spool.
    assert (recorder.sent, recorder.dropped) == (0, 0)
    assert sorted(spooled_ids(spool)) == sorted(f"req-{n}" for n in range(2000))

    flaky.mode = "ok"
    flaky.release.set()
    successor = quick(flaky.url, spool)
    assert wait_until(lambda: flaky.count() == 2000)
    successor.close()
    assert max(flaky.received.values()) == 1
    assert spool_files(spool) == []


def test_files_left_by_a_crashed_process_are_sent(flaky: FlakyIngest, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    flaky.stop()
    writer = quick(flaky.url, spool)
    for n in range(3):
        writer.record(event(n))
        writer.flush(5)
    writer.close(timeout=1)
    claimed, _waiting, unfinished = spool_files(spool)
    # A sender that died holding its claim (claimed long ago) ...
    os.rename(spool / claimed, spool / f"{claimed}.claim-{1:020d}-4242-dead")
    # ... and a writer that died before renaming its file, mid-line.
    half = (spool / unfinished).read_bytes()[:-20]
    (spool / unfinished).unlink()
    (spool / f".{unfinished.removesuffix('.jsonl')}.tmp").write_bytes(half)
    os.utime(spool / f".{unfinished.removesuffix('.jsonl')}.tmp", (1, 1))

    flaky.start()
    recorder = quick(flaky.url, spool)
    assert wait_until(lambda: flaky.count() == 2)
    assert wait_until(lambda: spool_files(spool) == [])
    recorder.close()
    assert set(flaky.received) == {"req-0", "req-1"}  # req-2's only line was cut short
    assert recorder.failed == 1  # the cut line, counted


def test_a_fresh_claim_of_another_process_is_left_alone(flaky: FlakyIngest, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / f"{time.time_ns():020d}-1-x-000000.jsonl.claim-{time.time_ns():020d}-1-x").write_text(
        json.dumps(event(5).to_json()) + "\n"
    )
    recorder = quick(flaky.url, spool)
    time.sleep(0.5)
    recorder.close()
    assert flaky.count() == 0  # its owner is sending it


def test_the_spool_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(SPOOL_DIR_ENV, str(tmp_path / "from-env"))
    monkeypatch.setenv(SPOOL_MAX_MB_ENV, "0.5")
    assert default_spool_dir() == tmp_path / "from-env"
    assert default_spool_max_bytes() == 512 * 1024
    monkeypatch.setenv(SPOOL_MAX_MB_ENV, "lots")
    with caplog.at_level(logging.WARNING):
        assert default_spool_max_bytes() == 100 * 1024 * 1024
    assert SPOOL_MAX_MB_ENV in caplog.text
    monkeypatch.delenv(SPOOL_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_spool_dir() == tmp_path / "cache" / "llmopt" / "usage-spool"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_spool_dir() == tmp_path / "home" / ".cache" / "llmopt" / "usage-spool"
