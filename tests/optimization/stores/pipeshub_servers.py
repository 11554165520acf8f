"""Real servers for the PipesHub store tests: Redis database 13 on this machine, and a private etcd.

Redis: only database 13 is used and only it is flushed. etcd: Debian's `etcd-server` binary
started on 127.0.0.1 with free ports and a temporary data directory.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import redis

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_DB = 13
PIPESHUB_PREFIX = "pipeshub:kv:"


def require_etcd() -> None:
    """Skip without Debian's etcd binary; in CI, where scripts/test.sh installs it, fail."""
    if shutil.which("etcd") is None:
        if os.environ.get("CI"):
            pytest.fail("no etcd binary, though scripts/test.sh installs etcd-server")
        pytest.skip("no etcd binary: apt-get install -y etcd-server (scripts/test.sh does)")


def redis_client() -> redis.Redis:
    """A client on database 13 (the one this helper may flush)."""
    return redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class EtcdServer:
    url: str
    process: subprocess.Popen[bytes]

    def post(self, endpoint: str, payload: dict[str, object], token: str | None = None) -> dict:
        headers = {"Authorization": token} if token else {}
        response = httpx.post(self.url + endpoint, json=payload, headers=headers, timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def put(self, key: str, value: bytes) -> int:
        """A plain put, as PipesHub's etcd stores write; returns the new revision."""
        answer = self.post(
            "/v3/kv/put", {"key": b64(key), "value": base64.b64encode(value).decode()}
        )
        return int(answer["header"]["revision"])

    def get(self, key: str) -> bytes | None:
        kvs = self.post("/v3/kv/range", {"key": b64(key)}).get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def delete_everything(self) -> None:
        self.post("/v3/kv/deleterange", {"key": b64("\0"), "range_end": b64("\0")})


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


@contextmanager
def running_etcd(*extra_args: str) -> Iterator[EtcdServer]:
    """An etcd on free 127.0.0.1 ports with a throw-away data directory."""
    binary = shutil.which("etcd")
    assert binary is not None
    client_port, peer_port = free_port(), free_port()
    client_url = f"http://127.0.0.1:{client_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    with tempfile.TemporaryDirectory(prefix="llmopt-etcd-") as data_dir:
        process = subprocess.Popen(
            [
                binary,
                "--name=llmopt-test",
                f"--data-dir={data_dir}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=llmopt-test={peer_url}",
                "--logger=zap",
                "--log-level=error",
                *extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "ETCD_UNSUPPORTED_ARCH": ""},
        )
        try:
            _wait_healthy(client_url, process)
            yield EtcdServer(url=client_url, process=process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"etcd exited with {process.returncode}: {stderr[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=1).json().get("health") == "true":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"etcd at {url} did not become healthy within 30 s")
