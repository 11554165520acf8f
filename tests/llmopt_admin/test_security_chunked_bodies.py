"""A `Transfer-Encoding: chunked` body reaches the API under gunicorn, the server the project
runs (Django alone reads Content-Length and would see an empty body), within a bound."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess  # nosec B404 - starting our own server is the point of this test
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from llmopt_admin.accounts.services import api_token_create
from llmopt_admin.chunked_bodies import ChunkedBodies
from llmopt_admin.savings.models import LedgerEvent
from optimization.telemetry import UsageEvent

ROOT = Path(__file__).resolve().parents[2]
LIMIT_MB = 1
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
GUNICORN_OPTIONS = ("--workers", "1", "--timeout", "120")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if "postgresql" not in db["ENGINE"]:
        pytest.skip("gunicorn needs a database it can share with the test: set DATABASE_URL")
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def gunicorn(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """gunicorn serving the project on a free port, on the test database."""
    port = _free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "llmopt_admin.settings",
        "DATABASE_URL": _database_url(),
        "DATABASE_CONN_MAX_AGE": "0",  # nothing left open when the test database is dropped
        "LLMOPT_CHUNKED_BODY_MAX_MB": str(LIMIT_MB),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # nosec B603 - fixed argv, no shell
            [GUNICORN, "llmopt_admin.wsgi", "--bind", f"127.0.0.1:{port}", *GUNICORN_OPTIONS],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _post_chunked(port: int, path: str, pieces: list[bytes], token: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(
            "POST",
            path,
            body=iter(pieces),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def _event(request_id: str) -> dict[str, Any]:
    return UsageEvent(
        request_id=request_id,
        timestamp=datetime.now(UTC),
        provider="anthropic",
        model="claude-sonnet-4-5",
        mode="cached",
        input_tokens=10,
        output_tokens=5,
    ).to_json()


@pytest.mark.django_db(transaction=True)
def test_a_chunked_post_under_gunicorn_is_read_whole(gunicorn: int, staff_user: Any) -> None:
    token = api_token_create(user=staff_user, name="chunked", scopes=["ingest"])[1]
    body = json.dumps({"events": [_event("chunked-1"), _event("chunked-2")]}).encode()
    pieces = [body[i : i + 37] for i in range(0, len(body), 37)]

    status, answer = _post_chunked(gunicorn, "/api/usage/events", pieces, token)

    assert (status, answer) == (200, {"accepted": 2, "duplicates": 0, "rejected": []})
    assert set(LedgerEvent.objects.values_list("request_id", flat=True)) == {
        "chunked-1",
        "chunked-2",
    }


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_the_bound_is_413_and_nothing_is_stored(
    gunicorn: int, staff_user: Any
) -> None:
    token = api_token_create(user=staff_user, name="chunked", scopes=["ingest"])[1]
    padding = b" " * (64 * 1024)
    pieces = [b'{"events": [', *([padding] * (LIMIT_MB * 16 + 1)), b"]}"]

    status, answer = _post_chunked(gunicorn, "/api/usage/events", pieces, token)

    assert status == 413
    assert f"{LIMIT_MB * 1024 * 1024}" in answer["detail"]
    assert not LedgerEvent.objects.exists()


def test_requests_with_a_length_or_from_servers_that_frame_nothing_are_left_alone() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return []

    stream = object()
    ChunkedBodies(app)({"CONTENT_LENGTH": "3", "wsgi.input": stream}, None)
    assert seen["wsgi.input"] is stream
    seen.clear()
    # wsgiref (runserver) does not say the input ends: reading it could block forever.
    ChunkedBodies(app)({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": stream}, None)
    assert seen["wsgi.input"] is stream
    assert "CONTENT_LENGTH" not in seen
