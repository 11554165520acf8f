"""Config stores the admin can use, and the one place that picks which (LLMOPT_CONFIG_STORE).

The embedded store keeps each `aiconfigs` document as JSON in the Django database with the same
revision semantics as ArangoDB: a write names the revision it read, and loses (RevisionConflict)
if anyone wrote in between.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F
from django.utils import timezone

from llmopt_admin.configs.models import EmbeddedConfigDocument
from llmopt_admin.configs.pipeshub_stores import pipeshub_etcd_store, pipeshub_redis_store
from optimization.stores.base import (
    AI_MODELS_KEY,
    ConfigStore,
    DocumentNotFound,
    RevisionConflict,
    StoredDocument,
    StoreError,
)


def _json_copy(body: Mapping[str, Any]) -> dict[str, Any]:
    """A deep, JSON-only copy: refuses what JSON cannot hold instead of storing it half-way."""
    if not isinstance(body, Mapping):
        raise StoreError(f"a config document must be a JSON object, not {type(body).__name__}")
    try:
        copied = json.loads(json.dumps(body, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"the config document is not valid JSON: {exc}") from exc
    return dict(copied)


class EmbeddedConfigStore:
    """The `aiconfigs` documents as rows of EmbeddedConfigDocument in the Django database."""

    name = "embedded"

    @property
    def location(self) -> str:
        """Which database holds the documents (never a password), to tell deployments apart."""
        database = connections[router.db_for_write(EmbeddedConfigDocument)]
        where = database.settings_dict
        if database.vendor == "sqlite":
            return f"the Django database {where['NAME']} (sqlite)"
        server = f"{where.get('HOST') or 'localhost'}:{where.get('PORT') or 'default port'}"
        return f"the Django database {where['NAME']!r} on {server} ({database.vendor})"

    def read(self, key: str = AI_MODELS_KEY) -> StoredDocument:
        """The document and its current revision; raises DocumentNotFound."""
        if _key_problem(key):  # no such document can exist (and PostgreSQL refuses a NUL)
            raise DocumentNotFound(key)
        row = EmbeddedConfigDocument.objects.filter(key=key).first()
        if row is None:
            raise DocumentNotFound(key)
        return _stored(row)

    def write(
        self, key: str, body: Mapping[str, Any], *, expected_revision: str | None
    ) -> StoredDocument:
        """Replace the document if its revision is still `expected_revision` (None: create)."""
        if problem := _key_problem(key):
            raise StoreError(f"cannot store document {key[:60]!r}: {problem}")
        data = _json_copy(body)
        if expected_revision is None:
            return self._create(key, data)
        try:
            expected = int(expected_revision)
        except ValueError:
            expected = -1  # a revision this store never issued can only be stale
        # One conditional UPDATE: the database decides who wins, so this is race-safe on
        # PostgreSQL without holding a lock between the caller's read and its write.
        updated = EmbeddedConfigDocument.objects.filter(key=key, revision=expected).update(
            body=data, revision=F("revision") + 1, updated_at=timezone.now()
        )
        if updated == 0:
            current = self.read(key)  # raises DocumentNotFound when it is gone
            raise RevisionConflict(key, expected_revision, current)
        return self.read(key)

    def list(self) -> list[StoredDocument]:
        """Every document, ordered by key."""
        return [_stored(row) for row in EmbeddedConfigDocument.objects.order_by("key")]

    def _create(self, key: str, data: dict[str, Any]) -> StoredDocument:
        try:
            with transaction.atomic():
                row = EmbeddedConfigDocument.objects.create(key=key, body=data, revision=1)
        except IntegrityError:
            raise RevisionConflict(key, "(none: create)", self.read(key)) from None
        return _stored(row)


def _key_problem(key: str) -> str:
    """Why the embedded store cannot hold a document under `key` ("" when it can)."""
    limit = EmbeddedConfigDocument._meta.get_field("key").max_length or 0
    if len(key) > limit:
        return f"a key has at most {limit} characters"
    if "\x00" in key:
        return "a key cannot contain a NUL character"
    return ""


def _stored(row: EmbeddedConfigDocument) -> StoredDocument:
    return StoredDocument(key=row.key, revision=str(row.revision), body=copy.deepcopy(row.body))


def config_store_location(store: ConfigStore) -> str | None:
    """Where `store` keeps its documents (server and database, never a password), or None when
    it does not say; backups record it so a rollback can tell another deployment's."""
    location = getattr(store, "location", None)
    if location is None:
        # ArangoConfigStore keeps it private (optimization/stores/arango.py); read in this one
        # place, and test_the_arango_store_says_where_it_is fails if it is renamed.
        location = getattr(store, "_location", None)
    return location if isinstance(location, str) and location else None


def _arango_store() -> ConfigStore:
    from optimization.stores.arango import ArangoConfigStore

    return ArangoConfigStore.connect(
        url=settings.ARANGO_URL,
        database=settings.ARANGO_DB_NAME,
        username=settings.ARANGO_USERNAME,
        password=settings.ARANGO_PASSWORD,
    )


# name -> factory. Other stores join with register_config_store(name, factory).
STORE_FACTORIES: dict[str, Callable[[], ConfigStore]] = {
    "embedded": EmbeddedConfigStore,
    "arango": _arango_store,
    "pipeshub-redis": pipeshub_redis_store,
    "pipeshub-etcd": pipeshub_etcd_store,
}


def register_config_store(name: str, factory: Callable[[], ConfigStore]) -> None:
    """Make `name` selectable through LLMOPT_CONFIG_STORE and `--store`."""
    STORE_FACTORIES[name] = factory


def config_store_names() -> list[str]:
    """The names LLMOPT_CONFIG_STORE and `--store` accept."""
    return sorted(STORE_FACTORIES)


def get_config_store(name: str | None = None) -> ConfigStore:
    """The store named `name`, or the one settings.LLMOPT_CONFIG_STORE selects."""
    chosen = name or settings.LLMOPT_CONFIG_STORE
    factory = STORE_FACTORIES.get(chosen)
    if factory is None:
        raise ImproperlyConfigured(
            f"unknown config store {chosen!r} (LLMOPT_CONFIG_STORE); "
            f"choose one of: {', '.join(config_store_names())}"
        )
    return factory()
