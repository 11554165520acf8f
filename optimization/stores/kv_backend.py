"""What PipesHubKVStore needs from a key-value backend (Redis or etcd), shared by both sides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# The Redis channel PipesHub's services listen on to drop a cached config value.
CACHE_INVALIDATION_CHANNEL = "pipeshub:cache:invalidate"


@dataclass(frozen=True)
class RawEntry:
    """One value as a backend holds it: its path, stored bytes and revision."""

    path: str
    value: bytes
    revision: str


class CompareFailed(Exception):
    """A backend's compare-and-set lost; `current` is what is stored now (None: nothing)."""

    def __init__(self, current: RawEntry | None) -> None:
        super().__init__("compare-and-set lost")
        self.current = current


class KVBackend(Protocol):
    """The few atomic operations PipesHubKVStore needs from Redis or etcd.

    Backends raise StoreError (with their location, never a password) when unreachable.
    """

    location: str

    def get(self, path: str) -> RawEntry | None:
        """The value at `path`, or None."""
        ...

    def create(self, path: str, value: bytes) -> RawEntry:
        """Store `value` only if `path` is absent, else raise CompareFailed."""
        ...

    def replace(self, path: str, value: bytes, expected_revision: str) -> RawEntry:
        """Store `value` only if the revision is still `expected_revision`, else CompareFailed."""
        ...

    def scan(self, prefix: str) -> list[RawEntry]:
        """Every value whose path starts with `prefix`, in path order."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


__all__ = ["CACHE_INVALIDATION_CHANNEL", "CompareFailed", "KVBackend", "RawEntry"]
