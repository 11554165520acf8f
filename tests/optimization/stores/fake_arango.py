"""An in-process fake ArangoDB at the HTTP layer, for python-arango's `http_client=` hook.

It answers the document, collection, database, version and cursor endpoints the config store
uses, with ArangoDB's status codes and error bodies: a replace or delete whose `_rev` does not
match (If-Match header, or `_rev` in the body with ignoreRevs=false) gets 412 with errorNum 1200
and the current `_id`/`_key`/`_rev`; an insert of an existing key gets 409 with errorNum 1210.
Only what the store needs is implemented; anything else answers 501 so a test notices.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from arango.http import HTTPClient
from arango.response import Response
from requests import Session

VERSION = "3.12.4"
_SYSTEM = frozenset({"_key", "_id", "_rev"})
SUPPORTED_LIST_QUERY = "FOR d IN @@collection SORT d._key RETURN d"


class _Reply(Exception):
    """Raised inside a handler to answer with an ArangoDB error body."""

    def __init__(self, status: int, error_num: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "error": True,
            "code": status,
            "errorNum": error_num,
            "errorMessage": message,
            **extra,
        }


@dataclass
class _Cursor:
    remaining: list[dict[str, Any]]
    batch_size: int


@dataclass
class FakeArango:
    """The server state: databases → collections → documents, plus who may log in."""

    username: str = "root"
    password: str = ""
    databases: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    version: str = VERSION

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ticks = itertools.count(1_000_000)
        self._cursors: dict[str, _Cursor] = {}
        self._cursor_ids = itertools.count(1)
        self.databases.setdefault("_system", {})

    # --- test set-up ----------------------------------------------------------------------
    def create_database(self, name: str, collections: Iterable[str] = ()) -> None:
        """Add a database (and collections in it), as an operator would have."""
        with self._lock:
            db = self.databases.setdefault(name, {})
            for collection in collections:
                db.setdefault(collection, {})

    def client(self) -> FakeArangoHTTPClient:
        """A python-arango HTTP client that talks to this fake instead of the network."""
        return FakeArangoHTTPClient(self)

    def documents(self, database: str, collection: str) -> dict[str, dict[str, Any]]:
        """A copy of a collection's stored documents, by key (for assertions)."""
        with self._lock:
            return copy.deepcopy(self.databases[database][collection])

    # --- the HTTP handler -----------------------------------------------------------------
    def handle(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        params: Mapping[str, str],
        data: str | bytes | None,
        auth: tuple[str, str] | None,
    ) -> tuple[int, Any]:
        """Answer one request: (HTTP status, JSON body)."""
        path = urlsplit(url).path
        self.requests.append((method.upper(), path))
        try:
            if auth != (self.username, self.password):
                raise _Reply(401, 11, "not authorized to execute this request")
            with self._lock:
                return self._route(method.lower(), path, headers, params, _json(data))
        except _Reply as reply:
            return reply.status, reply.body

    def _route(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        params: Mapping[str, str],
        body: Any,
    ) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        db_name = "_system"
        if parts[:1] == ["_db"] and len(parts) >= 2:
            db_name, parts = parts[1], parts[2:]
        if db_name not in self.databases:
            raise _Reply(404, 1228, "database not found")
        db = self.databases[db_name]
        headers = {k.lower(): v for k, v in headers.items()}
        match method, parts:
            case "get", ["_api", "version"]:
                return 200, {"server": "arango", "version": self.version, "license": "community"}
            case "get", ["_api", "database", "current"]:
                info = {"name": db_name, "id": "1", "path": "", "isSystem": db_name == "_system"}
                return 200, {"error": False, "code": 200, "result": info}
            case "get", ["_api", "collection"]:
                result = [_collection_info(name) for name in sorted(db)]
                return 200, {"error": False, "code": 200, "result": result}
            case "get", ["_api", "collection", name]:
                self._collection(db, name)
                return 200, {"error": False, "code": 200, **_collection_info(name)}
            case "post", ["_api", "collection"]:
                name = body["name"]
                if name in db:
                    raise _Reply(409, 1207, "duplicate name")
                db[name] = {}
                return 200, {"error": False, "code": 200, **_collection_info(name)}
            case "get", ["_api", "document", collection, key]:
                return self._get(db, collection, key, headers)
            case "post", ["_api", "document", collection]:
                return self._insert(db, collection, body, params)
            case "put", ["_api", "document", collection, key]:
                return self._replace(db, collection, key, body, headers, params)
            case "delete", ["_api", "document", collection, key]:
                return self._delete(db, collection, key, headers)
            case "post", ["_api", "cursor"]:
                return self._query(db, body)
            case (("post" | "put"), ["_api", "cursor", cursor_id]):
                return self._next_batch(cursor_id)
            case "delete", ["_api", "cursor", cursor_id]:
                if self._cursors.pop(cursor_id, None) is None:
                    raise _Reply(404, 1600, "cursor not found")
                return 202, {"id": cursor_id, "error": False, "code": 202}
        raise _Reply(501, 9, f"fake ArangoDB does not implement {method.upper()} {path}")

    def _collection(self, db: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
        if name not in db:
            raise _Reply(404, 1203, f"collection or view not found: {name}")
        collection: dict[str, dict[str, Any]] = db[name]
        return collection

    def _existing(self, db: dict[str, Any], collection: str, key: str) -> dict[str, Any]:
        document = self._collection(db, collection).get(key)
        if document is None:
            raise _Reply(404, 1202, "document not found")
        return document

    def _check_rev(
        self, document: dict[str, Any], headers: Mapping[str, str], body_rev: str | None
    ) -> None:
        wanted = headers.get("if-match", body_rev)
        if wanted is not None and wanted != document["_rev"]:
            raise _Reply(
                412,
                1200,
                "conflict, _rev values do not match",
                _id=document["_id"],
                _key=document["_key"],
                _rev=document["_rev"],
            )

    def _get(
        self, db: dict[str, Any], collection: str, key: str, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        document = self._existing(db, collection, key)
        self._check_rev(document, headers, None)
        return 200, copy.deepcopy(document)

    def _insert(
        self, db: dict[str, Any], collection: str, body: Any, params: Mapping[str, str]
    ) -> tuple[int, Any]:
        documents = self._collection(db, collection)
        _require_object(body)
        key = body.get("_key")
        if not isinstance(key, str) or not key or "/" in key:
            raise _Reply(400, 1221, "illegal document key")
        if key in documents:
            raise _Reply(
                409,
                1210,
                "unique constraint violated - in index primary of type primary over '_key'; "
                f"conflicting key: {key}",
                _key=key,
            )
        stored = self._stamp(collection, key, body)
        documents[key] = stored
        return 202, self._meta(stored, params, new=stored)

    def _replace(
        self,
        db: dict[str, Any],
        collection: str,
        key: str,
        body: Any,
        headers: Mapping[str, str],
        params: Mapping[str, str],
    ) -> tuple[int, Any]:
        _require_object(body)
        old = self._existing(db, collection, key)
        ignore_revs = params.get("ignoreRevs", "1").lower() in {"1", "true"}
        self._check_rev(old, headers, None if ignore_revs else body.get("_rev"))
        stored = self._stamp(collection, key, body)
        self._collection(db, collection)[key] = stored
        return 202, self._meta(stored, params, new=stored, old=old)

    def _delete(
        self, db: dict[str, Any], collection: str, key: str, headers: Mapping[str, str]
    ) -> tuple[int, Any]:
        old = self._existing(db, collection, key)
        self._check_rev(old, headers, None)
        del self._collection(db, collection)[key]
        return 202, {"_id": old["_id"], "_key": key, "_rev": old["_rev"]}

    def _query(self, db: dict[str, Any], body: Any) -> tuple[int, Any]:
        _require_object(body)
        query = " ".join(str(body.get("query", "")).split())
        if query != SUPPORTED_LIST_QUERY:
            raise _Reply(501, 9, f"fake ArangoDB only runs {SUPPORTED_LIST_QUERY!r}")
        collection = (body.get("bindVars") or {}).get("@collection")
        documents = self._collection(db, str(collection))
        rows = [copy.deepcopy(documents[key]) for key in sorted(documents)]
        cursor = _Cursor(remaining=rows, batch_size=int(body.get("batchSize") or 1000))
        cursor_id = str(next(self._cursor_ids))
        self._cursors[cursor_id] = cursor
        answer = self._batch(cursor_id, status=201)
        if body.get("count"):
            answer[1]["count"] = len(rows)
        return answer

    def _next_batch(self, cursor_id: str) -> tuple[int, Any]:
        if cursor_id not in self._cursors:
            raise _Reply(404, 1600, "cursor not found")
        return self._batch(cursor_id, status=200)

    def _batch(self, cursor_id: str, *, status: int) -> tuple[int, dict[str, Any]]:
        cursor = self._cursors[cursor_id]
        batch, cursor.remaining = (
            cursor.remaining[: cursor.batch_size],
            cursor.remaining[cursor.batch_size :],
        )
        answer: dict[str, Any] = {
            "result": batch,
            "hasMore": bool(cursor.remaining),
            "cached": False,
            "error": False,
            "code": status,
        }
        if cursor.remaining:
            answer["id"] = cursor_id
        else:
            del self._cursors[cursor_id]
        return status, answer

    def _stamp(self, collection: str, key: str, body: Mapping[str, Any]) -> dict[str, Any]:
        document = {k: copy.deepcopy(v) for k, v in body.items() if k not in _SYSTEM}
        # A fresh, opaque revision like ArangoDB's (base64 of a hybrid logical clock).
        tick = next(self._ticks).to_bytes(8, "big")
        rev = "_" + base64.urlsafe_b64encode(tick).decode().rstrip("=")
        return {"_key": key, "_id": f"{collection}/{key}", "_rev": rev, **document}

    @staticmethod
    def _meta(
        stored: dict[str, Any],
        params: Mapping[str, str],
        *,
        new: dict[str, Any],
        old: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {k: stored[k] for k in ("_id", "_key", "_rev")}
        if old is not None:
            meta["_oldRev"] = old["_rev"]
        if params.get("returnNew", "0").lower() in {"1", "true"}:
            meta["new"] = copy.deepcopy(new)
        if old is not None and params.get("returnOld", "0").lower() in {"1", "true"}:
            meta["old"] = copy.deepcopy(old)
        return meta


class FakeArangoHTTPClient(HTTPClient):
    """python-arango's HTTP client interface, answering from a FakeArango in this process."""

    def __init__(self, server: FakeArango) -> None:
        self.server = server

    def create_session(self, host: str) -> Session:
        return Session()  # never used for I/O; python-arango only hands it back to us

    def send_request(
        self,
        session: Session,
        method: str,
        url: str,
        headers: MutableMapping[str, str] | None = None,
        params: MutableMapping[str, str] | None = None,
        data: Any = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        status, body = self.server.handle(
            method, url, headers or {}, params or {}, data, tuple(auth) if auth else None
        )
        return Response(
            method=method,
            url=url,
            headers={"content-type": "application/json; charset=utf-8", "server": "ArangoDB"},
            status_code=status,
            status_text=_STATUS_TEXT.get(status, ""),
            raw_body=json.dumps(body),
        )


_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed",
    501: "Not Implemented",
}


def _collection_info(name: str) -> dict[str, Any]:
    return {"id": name, "name": name, "status": 3, "type": 2, "isSystem": name.startswith("_")}


def _json(data: str | bytes | None) -> Any:
    if data is None or data == "" or data == b"":
        return None
    try:
        return json.loads(data)
    except ValueError:
        raise _Reply(400, 600, "invalid JSON in request body") from None


def _require_object(body: Any) -> None:
    if not isinstance(body, dict):
        raise _Reply(400, 1227, "invalid document type")
