"""The config store protocol: where the `aiconfigs` document lives, with optimistic concurrency.

Every store (embedded, ArangoDB, PipesHub's key-value store) reads a document with a revision and
writes it back only if that revision is still current, so two writers never overwrite each other
silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from optimization.exceptions import OptimizationError

AI_MODELS_KEY = "ai_models_config"


@dataclass(frozen=True)
class StoredDocument:
    """One config document as read from a store: its key, revision and JSON body."""

    key: str
    revision: str
    body: dict[str, Any] = field(default_factory=dict)


class StoreError(OptimizationError):
    """A config store could not be read or written."""


class DocumentNotFound(StoreError):
    """No document with that key exists in the store."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"no config document {key!r}")


class RevisionConflict(StoreError):
    """The document changed since it was read; `current` is what the store holds now."""

    def __init__(self, key: str, expected_revision: str, current: StoredDocument) -> None:
        self.key = key
        self.expected_revision = expected_revision
        self.current = current
        super().__init__(
            f"config document {key!r} changed since you opened it "
            f"(revision {expected_revision} is now {current.revision})"
        )


@runtime_checkable
class ConfigStore(Protocol):
    """Read, compare-and-set write, and list of `aiconfigs` documents."""

    name: str

    def read(self, key: str = AI_MODELS_KEY) -> StoredDocument:
        """The document and its current revision; raises DocumentNotFound."""
        ...

    def write(
        self, key: str, body: Mapping[str, Any], *, expected_revision: str | None
    ) -> StoredDocument:
        """Replace the document if its revision is still `expected_revision`.

        `expected_revision=None` creates the document and fails with RevisionConflict if it
        already exists. Returns the document as stored, with its new revision.
        """
        ...

    def list(self) -> list[StoredDocument]:
        """Every document of the collection, ordered by key."""
        ...
