"""PipesHub's Redis key-value layout with compare-and-set through WATCH/MULTI/EXEC.

Each path is a plain string key ``key_prefix + path`` (``pipeshub:kv:/services/aiModels``), as
PipesHub's ``RedisDistributedKeyValueStore`` (Python and Node.js) writes it. PipesHub keeps no
version, so the revision is derived from the stored bytes (see :func:`revision_of`). redis-py is
imported here only, so the core package works without the admin extra.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import redis
from redis.exceptions import RedisError, WatchError

from optimization.stores.base import StoreError
from optimization.stores.kv_backend import CACHE_INVALIDATION_CHANNEL, CompareFailed, RawEntry

logger = logging.getLogger(__name__)

_SCAN_COUNT = 500
_MGET_CHUNK = 200
_GLOB_SPECIALS = frozenset("*?[]\\")


def revision_of(value: bytes) -> str:
    """The revision of a stored value: 128 bits of its SHA-256.

    Every PipesHub encryption uses a fresh random IV, so any write — even of the same JSON —
    stores new bytes and so issues a new revision.
    """
    return hashlib.sha256(value).hexdigest()[:32]


def glob_escape(text: str) -> str:
    """`text` as a literal in a Redis MATCH pattern."""
    return "".join(f"\\{c}" if c in _GLOB_SPECIALS else c for c in text)


class RedisKVBackend:
    """Values under `key_prefix` in one Redis database."""

    def __init__(self, client: redis.Redis, *, key_prefix: str, location: str) -> None:
        self._client = client
        self._prefix = key_prefix
        self.location = location

    @classmethod
    def connect(
        cls,
        *,
        host: str,
        port: int,
        db: int,
        username: str | None,
        password: str | None,
        tls: bool,
        key_prefix: str,
        timeout: float,
    ) -> RedisKVBackend:
        """A backend on the given server; connects lazily."""
        client = redis.Redis(
            host=host,
            port=port,
            db=db,
            username=username or None,
            password=password or None,
            ssl=tls,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=False,
        )
        scheme = "rediss" if tls else "redis"
        return cls(
            client, key_prefix=key_prefix, location=f"Redis at {scheme}://{host}:{port}/{db}"
        )

    def get(self, path: str) -> RawEntry | None:
        """The value at `path`, or None."""
        try:
            value = self._client.get(self._key(path))
        except RedisError as exc:
            raise self._error(exc) from exc
        return None if value is None else _entry(path, value)

    def create(self, path: str, value: bytes) -> RawEntry:
        """SET NX; CompareFailed with what is there when the key exists."""
        key = self._key(path)
        try:
            created = self._client.set(key, value, nx=True)
            if created:
                self._invalidate(path)
                return _entry(path, value)
            current = self._client.get(key)
        except RedisError as exc:
            raise self._error(exc) from exc
        raise CompareFailed(None if current is None else _entry(path, current))

    def replace(self, path: str, value: bytes, expected_revision: str) -> RawEntry:
        """SET in MULTI/EXEC under WATCH, only if the stored bytes still hash to the revision."""
        key = self._key(path)
        try:
            with self._client.pipeline() as pipe:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]  # untyped in redis-py
                    current: Any = pipe.get(key)
                    if current is None or revision_of(current) != expected_revision:
                        pipe.unwatch()
                        raise CompareFailed(None if current is None else _entry(path, current))
                    pipe.multi()
                    pipe.set(key, value)
                    pipe.execute()
                except WatchError:
                    # Someone (PipesHub itself, or another admin) wrote between WATCH and EXEC.
                    latest = self._client.get(key)
                    raise CompareFailed(None if latest is None else _entry(path, latest)) from None
        except RedisError as exc:
            raise self._error(exc) from exc
        self._invalidate(path)
        return _entry(path, value)

    def scan(self, prefix: str) -> list[RawEntry]:
        """Every value whose path starts with `prefix`, in path order."""
        pattern = glob_escape(self._key(prefix)) + "*"
        try:
            keys = sorted(set(self._client.scan_iter(match=pattern, count=_SCAN_COUNT)))
            entries: list[RawEntry] = []
            for start in range(0, len(keys), _MGET_CHUNK):
                chunk = keys[start : start + _MGET_CHUNK]
                for key, value in zip(chunk, self._client.mget(chunk), strict=True):
                    if value is not None:  # deleted since the scan
                        entries.append(_entry(key.decode("utf-8")[len(self._prefix) :], value))
        except RedisError as exc:
            raise self._error(exc) from exc
        return entries

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _key(self, path: str) -> str:
        return self._prefix + path

    def _invalidate(self, path: str) -> None:
        """Tell PipesHub's services to drop their cached copy, as its Node.js writer does."""
        try:
            self._client.publish(CACHE_INVALIDATION_CHANNEL, path)
        except RedisError as exc:
            # The value is written; a stale cache in PipesHub expires on its own.
            logger.warning("wrote %s but could not publish its cache invalidation: %s", path, exc)

    def _error(self, exc: RedisError) -> StoreError:
        return StoreError(f"{self.location}: {exc or type(exc).__name__}")


def _entry(path: str, value: Any) -> RawEntry:
    raw = bytes(value)
    return RawEntry(path=path, value=raw, revision=revision_of(raw))


__all__ = ["RedisKVBackend", "glob_escape", "revision_of"]
