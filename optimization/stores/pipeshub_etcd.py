"""PipesHub's etcd3 layout through etcd's v3 JSON gateway (httpx), with transactions.

The path is the etcd key and the value the ciphertext bytes, as PipesHub's
``Etcd3DistributedKeyValueStore`` writes them. The revision is the key's ``mod_revision``: every
put (PipesHub's too) raises it, and a write is one transaction comparing it. The gateway is
served on the client URL by etcd 3.4+ (``/v3/kv/range``, ``/v3/kv/txn``); keys and values
travel base64-encoded, int64s as strings. ``ETCD_USERNAME``/``ETCD_PASSWORD`` use
``/v3/auth/authenticate``.
"""

from __future__ import annotations

import base64
import threading
from typing import Any

import httpx

from optimization.stores.base import StoreError
from optimization.stores.kv_backend import CompareFailed, RawEntry

# etcd's ErrInvalidAuthToken text: the token expired and must be renewed.
_EXPIRED_AUTH = "invalid auth token"


def _b64(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def prefix_end(prefix: str) -> bytes:
    """The etcd range_end that selects every key starting with `prefix`."""
    raw = bytearray(prefix.encode("utf-8"))
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return bytes(raw)
        raw.pop()
    return b"\0"  # every key


class EtcdKVBackend:
    """Values in one etcd cluster, addressed by path."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._url = url.rstrip("/")
        self.location = f"etcd at {self._url}"
        self._username = username or None
        self._password = password or ""
        self._client = http_client or httpx.Client(base_url=self._url, timeout=timeout)
        self._token: str | None = None
        self._token_lock = threading.Lock()

    def get(self, path: str) -> RawEntry | None:
        """The value at `path`, or None."""
        answer = self._post("/v3/kv/range", {"key": _b64(path)})
        kvs = answer.get("kvs") or []
        return _entry(kvs[0]) if kvs else None

    def create(self, path: str, value: bytes) -> RawEntry:
        """Put only if the key has never been created (create_revision == 0)."""
        compare = {"key": _b64(path), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
        return self._txn(path, value, compare)

    def replace(self, path: str, value: bytes, expected_revision: str) -> RawEntry:
        """Put only if the key's mod_revision is still `expected_revision`."""
        if not expected_revision.isdigit() or int(expected_revision) <= 0:
            raise CompareFailed(self.get(path))  # a revision etcd never issued is stale
        compare = {
            "key": _b64(path),
            "target": "MOD",
            "result": "EQUAL",
            "mod_revision": expected_revision,
        }
        return self._txn(path, value, compare)

    def scan(self, prefix: str) -> list[RawEntry]:
        """Every value whose key starts with `prefix`, in key order."""
        answer = self._post(
            "/v3/kv/range",
            {
                "key": _b64(prefix),
                "range_end": _b64(prefix_end(prefix)),
                "sort_order": "ASCEND",
                "sort_target": "KEY",
            },
        )
        return [_entry(kv) for kv in answer.get("kvs") or []]

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def _txn(self, path: str, value: bytes, compare: dict[str, str]) -> RawEntry:
        key = _b64(path)
        answer = self._post(
            "/v3/kv/txn",
            {
                "compare": [compare],
                "success": [{"request_put": {"key": key, "value": _b64(value)}}],
                "failure": [{"request_range": {"key": key}}],
            },
        )
        if answer.get("succeeded"):
            revision = str(answer["header"]["revision"])
            return RawEntry(path=path, value=value, revision=revision)
        responses = answer.get("responses") or [{}]
        kvs = responses[0].get("response_range", {}).get("kvs") or []
        raise CompareFailed(_entry(kvs[0]) if kvs else None)

    def _post(self, endpoint: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = self._send(endpoint, payload)
        if not response.is_success and self._username and _EXPIRED_AUTH in response.text:
            self._token = None  # expired: authenticate again, once
            response = self._send(endpoint, payload)
        if not response.is_success:
            raise StoreError(
                f"{self.location}: HTTP {response.status_code}: {_error_message(response)}"
            )
        answer: dict[str, Any] = response.json()
        return answer

    def _send(self, endpoint: str, payload: dict[str, Any]) -> httpx.Response:
        token = self._auth_token()
        headers = {"Authorization": token} if token else {}
        try:
            return self._client.post(endpoint, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            raise StoreError(f"{self.location}: {exc or type(exc).__name__}") from exc

    def _auth_token(self) -> str | None:
        if self._username is None:
            return None
        with self._token_lock:
            if self._token is None:
                try:
                    response = self._client.post(
                        "/v3/auth/authenticate",
                        json={"name": self._username, "password": self._password},
                    )
                except httpx.HTTPError as exc:
                    raise StoreError(f"{self.location}: {exc or type(exc).__name__}") from exc
                if not response.is_success:
                    raise StoreError(
                        f"{self.location}: cannot authenticate as {self._username!r}: "
                        f"{_error_message(response)}"
                    )
                self._token = str(response.json()["token"])
            return self._token


def _entry(kv: dict[str, Any]) -> RawEntry:
    return RawEntry(
        path=base64.b64decode(kv["key"]).decode("utf-8"),
        value=base64.b64decode(kv.get("value", "")),
        revision=str(kv["mod_revision"]),
    )


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:200]
    return str(body)[:200]


__all__ = ["EtcdKVBackend", "prefix_end"]
