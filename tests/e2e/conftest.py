"""Real server processes for the end-to-end test: the simulator, gunicorn and a Celery worker with
beat, on a PostgreSQL database created for the run and Redis db 11, all on 127.0.0.1.

Nothing here goes through pytest-django's database fixtures: the servers are separate processes
with their own connections, so the test process never touches the database itself.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess  # nosec B404 - starting our own servers is the point of these fixtures
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def _postgres_admin_url() -> str:
    """The maintenance database of the server the suite uses (DATABASE_URL's, if set)."""
    if os.environ.get("LLMOPT_E2E_POSTGRES_URL"):
        return os.environ["LLMOPT_E2E_POSTGRES_URL"]
    suite = os.environ.get("DATABASE_URL", "")
    if suite.startswith(("postgres://", "postgresql://")):
        return urlsplit(suite)._replace(path="/postgres").geturl()
    return "postgres://postgres@127.0.0.1:5432/postgres"


POSTGRES_ADMIN_URL = _postgres_admin_url()
REDIS_URL = "redis://127.0.0.1:6379/11"
PORT_WAIT_SECONDS = 60.0
COMMAND_TIMEOUT_SECONDS = 180.0


def free_port() -> int:
    """A port nothing listens on now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Server:
    """One started process: its own process group, output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def terminate(self) -> None:
        """SIGTERM to the whole group (gunicorn's and Celery's children, beat included)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)

    def wait_or_kill(self) -> None:
        """Wait up to 10 s for a clean exit, then SIGKILL the group."""
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class Stack:
    """The running product: where it answers and how to run its management commands."""

    env: dict[str, str]
    tmp: Path
    web_url: str = ""
    simulator_url: str = ""
    servers: list[Server] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def manage(
        self, *args: str, check: bool = True, timeout: float = COMMAND_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        """Run `manage.py <args>` as the operator would, with the stack's environment.

        Django's system checks import every app's API (LangChain, the SDKs: seconds of CPU per
        command); `migrate` runs them once for the stack, the other commands skip them.
        """
        log = self.tmp / f"manage-{len(self.logs):02d}-{args[0]}.log"
        self.logs.append(log)
        skip = [] if args[0] == "migrate" else ["--skip-checks"]
        started = time.monotonic()
        result = subprocess.run(  # nosec B603 - fixed argv, no shell
            [sys.executable, "manage.py", *args, *skip],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        log.write_text(
            f"$ manage.py {' '.join(args)}\nexit {result.returncode} "
            f"after {time.monotonic() - started:.1f} s\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n"
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def start(self, name: str, argv: list[str]) -> Server:
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            process = subprocess.Popen(  # nosec B603 - fixed argv, no shell
                argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one at teardown
            )
        server = Server(name, process, log)
        self.servers.append(server)
        return server

    def wait_for_port(self, server: Server, port: int) -> None:
        deadline = time.monotonic() + PORT_WAIT_SECONDS
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise AssertionError(
                    f"{server.name} exited with {server.process.returncode} before listening"
                )
            if port_open(port):
                return
            time.sleep(0.2)
        raise AssertionError(f"{server.name} did not listen on {port} within {PORT_WAIT_SECONDS}s")

    def wait_for_log(self, server: Server, text: str) -> None:
        deadline = time.monotonic() + PORT_WAIT_SECONDS
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise AssertionError(f"{server.name} exited with {server.process.returncode}")
            if text in server.log.read_text(errors="replace"):
                return
            time.sleep(0.3)
        raise AssertionError(f"{server.name} did not log {text!r} within {PORT_WAIT_SECONDS}s")

    def check_alive(self) -> None:
        for server in self.servers:
            if server.process.poll() is not None:
                raise AssertionError(
                    f"{server.name} stopped unexpectedly (exit {server.process.returncode})"
                )

    def dump_logs(self) -> str:
        parts = []
        for log in self.logs:
            if log.exists():
                text = log.read_text(errors="replace")
                parts.append(f"===== {log.name} (last 6000 characters)\n{text[-6000:]}")
        return "\n".join(parts)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Remember each phase's outcome on the item, so fixtures can print logs on failure."""
    report = yield
    setattr(item, f"e2e_report_{report.when}", report)
    return report


@pytest.fixture
def e2e_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards; its URL."""
    name = f"llmopt_e2e_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=10) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def e2e_redis() -> Iterator[str]:
    """Redis db 11, empty before and after."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
    try:
        client.flushdb()
    except redis.RedisError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {error}")
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def stack(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    e2e_database: str,
    e2e_redis: str,
) -> Iterator[Stack]:
    """Migrated database, then the simulator, a Celery worker with beat and gunicorn, running."""
    simulator_port, web_port = free_port(), free_port()
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "LLMOPT_", "CELERY_", "ANTHROPIC_", "PYTEST_"))
        and key not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="llmopt_admin.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(40),
        DATABASE_URL=e2e_database,
        DATABASE_CONN_MAX_AGE="0",
        REDIS_URL=e2e_redis,
        LLMOPT_VAR_DIR=str(var_dir),
        LLMOPT_CONFIG_STORE="embedded",
        ANTHROPIC_BASE_URL=f"http://127.0.0.1:{simulator_port}",
        ANTHROPIC_API_KEY="sk-ant-simulator-e2e",
        LLMOPT_BATCH_POLL_INITIAL="0.5",
        LLMOPT_BATCH_POLL_MAX="1",
        LLMOPT_BATCH_SWEEP_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    stack = Stack(env=env, tmp=tmp_path)
    started = False
    try:
        simulator = stack.start(
            "simulator",
            [
                sys.executable,
                "-m",
                "optimization.simulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(simulator_port),
                "--speed",
                "3600",
            ],
        )
        # The simulator needs no database: it starts while the migrations run.
        stack.manage("migrate", "--noinput", "-v", "0")
        worker = stack.start(
            "worker",
            [
                str(VENV_BIN / "celery"),
                "-A",
                "llmopt_admin",
                "worker",
                "-B",
                "--loglevel=INFO",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
            ],
        )
        web = stack.start(
            "web",
            [
                str(VENV_BIN / "gunicorn"),
                "llmopt_admin.wsgi",
                "--preload",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "2",
                "--timeout",
                "120",
                "--access-logfile",
                "-",
            ],
        )
        stack.wait_for_port(simulator, simulator_port)
        stack.wait_for_port(web, web_port)
        stack.wait_for_log(worker, "ready.")
        stack.simulator_url = f"http://127.0.0.1:{simulator_port}"
        stack.web_url = f"http://127.0.0.1:{web_port}"
        started = True
        yield stack
    finally:
        for server in stack.servers:
            server.terminate()
        for server in stack.servers:
            server.wait_or_kill()
        failed = not started or any(
            getattr(getattr(request.node, f"e2e_report_{when}", None), "failed", False)
            for when in ("setup", "call")
        )
        if failed:
            sys.stderr.write("\n" + stack.dump_logs() + "\n")
