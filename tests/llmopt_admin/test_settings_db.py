"""Persistent database connections are health-checked: a connection the database dropped is
replaced before a request uses it, instead of that worker's next request answering 500."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections

pytestmark = pytest.mark.django_db(transaction=True)  # autocommit, as in a web worker


def wsgi_get(path: str, token: str) -> int:
    """GET `path` through Django's WSGI handler, as gunicorn calls it: request_started and
    request_finished fire with `close_old_connections` connected (Django's test client
    disconnects it, so it cannot show this)."""
    environ: dict[str, Any] = {
        "PATH_INFO": path,
        "REQUEST_METHOD": "GET",
        "HTTP_HOST": "testserver",
        "HTTP_AUTHORIZATION": f"Bearer {token}",  # the token is looked up in the database
    }
    setup_testing_defaults(environ)
    status: list[str] = []

    def start_response(line: str, headers: Iterable[tuple[str, str]], *exc: Any) -> None:
        status.append(line)

    response = WSGIHandler()(environ, start_response)
    b"".join(response)
    response.close()  # fires request_finished, as a WSGI server does
    return int(status[0].split()[0])


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def terminate(pid: int) -> None:
    """Kill backend `pid` from a second connection and wait until PostgreSQL has let it go."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            deadline = time.monotonic() + 10
            while True:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone()[0] == 0:
                    return
                assert time.monotonic() < deadline, f"backend {pid} is still there"
                time.sleep(0.02)
    finally:
        other.close()


@pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL (DATABASE_URL=postgres://...)",
)
def test_the_next_request_after_the_database_dropped_the_connection_succeeds(
    staff_token: str,
) -> None:
    path = "/api/savings/summary"
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0  # connections outlive a request
    assert wsgi_get(path, staff_token) == 200
    pid = backend_pid()
    assert wsgi_get(path, staff_token) == 200
    assert backend_pid() == pid  # the request reused the persistent connection

    terminate(pid)  # a database restart, failover or idle timeout does the same

    # Without CONN_HEALTH_CHECKS the handler would reuse the dead connection: 500.
    assert wsgi_get(path, staff_token) == 200
    assert backend_pid() != pid
