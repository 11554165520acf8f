"""The `aiconfigs` documents in ArangoDB, through python-arango, with `_rev` preconditions.

Every write names the revision it read: ArangoDB answers 412 (errorNum 1200) when the document
changed since, which becomes RevisionConflict carrying what the store holds now. The store never
creates the database or the collection; the backend that owns them does.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, cast

from arango.client import ArangoClient
from arango.cursor import Cursor
from arango.database import StandardDatabase
from arango.exceptions import (
    ArangoError,
    ArangoServerError,
    DocumentInsertError,
    DocumentReplaceError,
    DocumentRevisionError,
)
from arango.http import DefaultHTTPClient, HTTPClient

from optimization.stores.base import (
    AI_MODELS_KEY,
    DocumentNotFound,
    RevisionConflict,
    StoredDocument,
    StoreError,
)

AICONFIGS_COLLECTION = "aiconfigs"
SYSTEM_ATTRIBUTES = frozenset({"_key", "_id", "_rev"})

# ArangoDB errorNum values this store reacts to (arangod's errors.dat).
_ERROR_DOCUMENT_NOT_FOUND = 1202
_ERROR_COLLECTION_NOT_FOUND = 1203
_ERROR_UNIQUE_CONSTRAINT = 1210

_LIST_QUERY = "FOR d IN @@collection SORT d._key RETURN d"


class ArangoConfigStore:
    """Read, compare-and-set write and list `aiconfigs` documents in one ArangoDB database."""

    name = "arango"

    def __init__(
        self,
        database: StandardDatabase,
        *,
        collection: str = AICONFIGS_COLLECTION,
        location: str = "ArangoDB",
    ) -> None:
        self._db = database
        self._collection_name = collection
        self._collection = database.collection(collection)
        self._location = location

    @classmethod
    def connect(
        cls,
        *,
        url: str,
        database: str,
        username: str,
        password: str,
        collection: str = AICONFIGS_COLLECTION,
        http_client: HTTPClient | None = None,
        request_timeout: float = 30,
        retries: int = 2,
    ) -> ArangoConfigStore:
        """A store on `database` at `url`; nothing is sent until the first read or write.

        Reads retry `retries` times on transient server errors with a short backoff; an
        unreachable server fails within seconds rather than python-arango's default ~20 s, so
        an operator's page answers quickly.
        """
        if http_client is None:
            http_client = DefaultHTTPClient(
                request_timeout=request_timeout, retry_attempts=retries, backoff_factor=0.2
            )
        client = ArangoClient(
            hosts=url,
            http_client=http_client,
            request_timeout=request_timeout,
            resolver_max_tries=1,
        )
        db = client.db(database, username=username, password=password, verify=False)
        return cls(db, collection=collection, location=f"ArangoDB at {url}, database {database!r}")

    def read(self, key: str = AI_MODELS_KEY) -> StoredDocument:
        """The document and its current `_rev`; raises DocumentNotFound."""
        try:
            # A StandardDatabase runs requests synchronously: results are plain values.
            raw = cast(dict[str, Any] | None, self._collection.get(key))
        except (ArangoError, OSError) as exc:
            raise self._store_error(f"cannot read {key!r}", exc) from exc
        if raw is None:
            raise DocumentNotFound(key)
        return _stored(raw)

    def write(
        self, key: str, body: Mapping[str, Any], *, expected_revision: str | None
    ) -> StoredDocument:
        """Replace the document if its `_rev` is still `expected_revision` (None: create)."""
        if not isinstance(body, Mapping):
            raise StoreError(f"a config document must be a JSON object, not {type(body).__name__}")
        data = {k: copy.deepcopy(v) for k, v in body.items() if k not in SYSTEM_ATTRIBUTES}
        if expected_revision is None:
            return self._insert(key, data)
        document = {**data, "_key": key, "_rev": expected_revision}
        try:
            result = cast(
                dict[str, Any],
                self._collection.replace(document, check_rev=True, return_new=True),
            )
        except DocumentRevisionError:
            raise RevisionConflict(key, expected_revision, self.read(key)) from None
        except DocumentReplaceError as exc:
            if exc.error_code == _ERROR_DOCUMENT_NOT_FOUND:
                raise DocumentNotFound(key) from None
            raise self._store_error(f"cannot write {key!r}", exc) from exc
        except (ArangoError, OSError) as exc:
            raise self._store_error(f"cannot write {key!r}", exc) from exc
        return _stored(result["new"])

    def list(self) -> list[StoredDocument]:
        """Every document of the collection, ordered by `_key`."""
        try:
            cursor = cast(
                Cursor,
                self._db.aql.execute(
                    _LIST_QUERY, bind_vars={"@collection": self._collection_name}, batch_size=100
                ),
            )
            return [_stored(raw) for raw in cursor]
        except (ArangoError, OSError) as exc:
            raise self._store_error("cannot list documents", exc) from exc

    def _insert(self, key: str, data: dict[str, Any]) -> StoredDocument:
        try:
            result = cast(
                dict[str, Any], self._collection.insert({**data, "_key": key}, return_new=True)
            )
        except DocumentInsertError as exc:
            if exc.error_code == _ERROR_UNIQUE_CONSTRAINT:
                raise RevisionConflict(key, "(none: create)", self.read(key)) from None
            raise self._store_error(f"cannot create {key!r}", exc) from exc
        except (ArangoError, OSError) as exc:
            raise self._store_error(f"cannot create {key!r}", exc) from exc
        return _stored(result["new"])

    def _store_error(self, what: str, exc: BaseException) -> StoreError:
        where = f"collection {self._collection_name!r} in {self._location}"
        if isinstance(exc, ArangoServerError):
            if exc.error_code == _ERROR_COLLECTION_NOT_FOUND:
                return StoreError(f"{what}: {where} does not exist (this store never creates it)")
            detail = f"HTTP {exc.http_code}, errorNum {exc.error_code}: {exc.error_message}"
        else:
            detail = str(exc) or type(exc).__name__
        return StoreError(f"{what} from {where}: {detail}")


def _stored(raw: Mapping[str, Any]) -> StoredDocument:
    body = {k: v for k, v in raw.items() if k not in SYSTEM_ATTRIBUTES}
    return StoredDocument(key=str(raw["_key"]), revision=str(raw["_rev"]), body=body)


__all__ = ["AICONFIGS_COLLECTION", "ArangoConfigStore"]
