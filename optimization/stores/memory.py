"""An in-process config store: the reference for the store contract, and handy in tests."""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Mapping
from typing import Any

from optimization.stores.base import (
    AI_MODELS_KEY,
    DocumentNotFound,
    RevisionConflict,
    StoredDocument,
    StoreError,
)


class InMemoryConfigStore:
    """Documents in a dict guarded by a lock; revisions are increasing integers as text."""

    name = "memory"

    def __init__(self, documents: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._revisions = itertools.count(1)
        self._documents: dict[str, StoredDocument] = {}
        for key, body in (documents or {}).items():
            self.write(key, body, expected_revision=None)

    def read(self, key: str = AI_MODELS_KEY) -> StoredDocument:
        """The document and its current revision; raises DocumentNotFound."""
        with self._lock:
            return _copy(self._current(key))

    def write(
        self, key: str, body: Mapping[str, Any], *, expected_revision: str | None
    ) -> StoredDocument:
        """Replace the document if its revision is still `expected_revision` (None: create)."""
        if not isinstance(body, Mapping):
            raise StoreError(f"a config document must be a JSON object, not {type(body).__name__}")
        with self._lock:
            existing = self._documents.get(key)
            if expected_revision is None:
                if existing is not None:
                    raise RevisionConflict(key, "(none: create)", _copy(existing))
            elif existing is None:
                raise DocumentNotFound(key)
            elif existing.revision != expected_revision:
                raise RevisionConflict(key, expected_revision, _copy(existing))
            stored = StoredDocument(
                key=key, revision=str(next(self._revisions)), body=copy.deepcopy(dict(body))
            )
            self._documents[key] = stored
            return _copy(stored)

    def list(self) -> list[StoredDocument]:
        """Every document, ordered by key."""
        with self._lock:
            return [_copy(self._documents[key]) for key in sorted(self._documents)]

    def _current(self, key: str) -> StoredDocument:
        try:
            return self._documents[key]
        except KeyError:
            raise DocumentNotFound(key) from None


def _copy(document: StoredDocument) -> StoredDocument:
    return StoredDocument(document.key, document.revision, copy.deepcopy(document.body))


__all__ = ["InMemoryConfigStore"]
