"""Serve a simulator on 127.0.0.1 from a background thread, for tests and benchmarks.

`serve(app)` yields the base URL; while it runs, `restart(url, keep_state=...)` restarts the
simulator behind that URL — same port, so clients keep their base URL — the way a crashed
provider comes back: every open connection is dropped and every request in flight abandoned
(its client sees a connection error), then a new server listens on the same port, holding the
same state (`keep_state=True`) or a fresh one (`keep_state=False`: unknown batch ids answer
404 not_found_error, as Anthropic does).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp

from optimization.simulator.app import SimulatorApp, create_app
from optimization.simulator.state import Simulator

STARTUP_TIMEOUT = 10.0
_servers: dict[str, LiveServer] = {}
_servers_lock = threading.Lock()


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket whose connections send without Nagle's delay.

    Without TCP_NODELAY (accepted sockets inherit it on Linux), a response written in two
    parts waits for the client's delayed ACK: ~40 ms per request instead of ~1 ms.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


class _CancelledRequests(logging.Filter):
    """Drop uvicorn's traceback for requests a crash cancelled: they are the point of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)


class _Server(uvicorn.Server):
    """uvicorn that can also stop like a crash: connections dropped, requests abandoned."""

    crash = False

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.crash:
            for connection in list(self.server_state.connections):
                transport = getattr(connection, "transport", None)
                if isinstance(transport, asyncio.Transport):
                    transport.abort()
            for task in list(self.server_state.tasks):
                task.cancel()
        await super().shutdown(sockets)


logging.getLogger("uvicorn.error").addFilter(_CancelledRequests())


class LiveServer:
    """An ASGI app served by uvicorn on 127.0.0.1 from a background thread, restartable on
    the same port."""

    def __init__(self, app: ASGIApp, port: int = 0) -> None:
        self.app = app
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        """The base URL, `http://127.0.0.1:<port>` (the port is known once started)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (on a free port the first time, on the same port after a stop)."""
        sock = self._bind()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        server = _Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"simulator:{self.port}"
        )
        thread.daemon = True
        thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the simulator did not start on 127.0.0.1:{self.port}")
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock

    def stop(self, *, crash: bool = False) -> None:
        """Stop serving: gracefully (in-flight requests finish), or like a `crash`."""
        server, thread, sock = self._server, self._thread, self._sock
        if server is None or thread is None or sock is None:
            return
        server.crash = crash
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT)
        sock.close()
        self._server = self._thread = self._sock = None

    def restart(self, app: ASGIApp | None = None) -> None:
        """Crash, then serve `app` (or the same app again) on the same port."""
        self.stop(crash=True)
        if app is not None:
            self.app = app
        self.start()

    def _bind(self) -> socket.socket:
        # After a stop the port can stay busy for a moment while the old loop lets go of it.
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                return listening_socket("127.0.0.1", self.port)
            except OSError:
                if not self.port or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Run `app` under uvicorn on a free 127.0.0.1 port; yields its base URL.

    The server stops (and the thread is joined) when the block exits; `restart(url, ...)`
    can restart it on the same URL meanwhile.
    """
    server = LiveServer(app)
    server.start()
    url = server.url
    with _servers_lock:
        _servers[url] = server
    try:
        yield url
    finally:
        with _servers_lock:
            _servers.pop(url, None)
        server.stop()


def server_at(url: str) -> LiveServer:
    """The `LiveServer` that `serve` runs at `url` (KeyError when there is none)."""
    with _servers_lock:
        return _servers[url.rstrip("/")]


def restart(url: str, *, keep_state: bool, keep_counts: bool = True) -> Simulator:
    """Restart the simulator `serve` runs at `url`, on the same URL; returns the `Simulator`
    answering there now.

    Open connections are dropped and requests in flight abandoned first (a crash). With
    `keep_state` the new server holds the very same state: batches, prompt cache, faults set
    at run time, ledger. Without it the state is fresh (`Simulator.successor`): no batches
    (their ids answer 404 not_found_error), new ids, `settings.faults`; with `keep_counts`
    (the default) its `counts()` still include what the old state sent and billed, and keep
    advancing the old batches, which the provider would go on processing and billing.
    """
    server = server_at(url)
    if not isinstance(server.app, SimulatorApp):
        raise TypeError(f"{url} does not serve a simulator app")
    old: Simulator = server.app.state.simulator
    new = old if keep_state else old.successor(keep_counts=keep_counts)
    server.restart(create_app(simulator=new))
    return new
