"""`/services/aiModels` in PipesHub's encrypted key-value store (Redis or etcd3), as a ConfigStore.

What PipesHub does, read from pipeshub-ai/pipeshub-ai (commit 95d655b5) — the encryption itself
is described in :mod:`optimization.stores.pipeshub_crypto`:

- The AI model configuration is ONE value at ``/services/aiModels``
  (``backend/python/app/config/constants/service.py`` ``config_node_constants.AI_MODELS``;
  ``backend/nodejs/apps/src/modules/configuration_manager/paths/paths.ts`` ``aiModels``). Its
  owner is the Node.js configuration manager (``cm_controller.ts``), which reads it, decrypts,
  ``JSON.parse``-s, changes it, ``JSON.stringify``-s, encrypts and ``set``-s it whole; the Python
  backend only reads it (``await config_service.get_config("/services/aiModels")``). The JSON has
  the lists ``ocr, embedding, slm, llm, reasoning, multiModal, imageGeneration, tts, stt`` and
  ``modelRoles``; each entry ``provider, configuration, modelKey, isMultimodal, isDefault,
  isReasoning, contextLength`` (+ ``modelFriendlyName``). This store keeps all of it untouched.
- Backend choice: ``KV_STORE_TYPE`` — ``redis`` (the default) or anything else for etcd3
  (``backend/python/app/config/providers/encrypted_store.py``,
  ``backend/nodejs/apps/src/modules/configuration_manager/config/config.ts``).
- Redis (``backend/python/app/config/providers/redis/redis_store.py``,
  ``backend/nodejs/apps/src/libs/keyValueStore/providers/RedisDistributedKeyValueStore.ts``): a
  plain string key ``REDIS_KV_PREFIX + path``, prefix ``pipeshub:kv:`` by default, so
  ``pipeshub:kv:/services/aiModels``; ``SET`` (``NX`` to create, ``XX`` to update), no hash and no
  version field. After each write Node.js publishes the path on the channel
  ``pipeshub:cache:invalidate`` so the Python services drop their cached copy; this store does
  the same. Connection: ``REDIS_HOST``, ``REDIS_PORT``, ``REDIS_USERNAME``, ``REDIS_PASSWORD``,
  ``REDIS_DB``, ``REDIS_TLS``, ``REDIS_TIMEOUT`` (milliseconds).
- etcd3 (``backend/python/app/config/providers/etcd/etcd3_store.py``,
  ``.../providers/Etcd3DistributedKeyValueStore.ts``): the path itself is the etcd key, the value
  the ciphertext bytes, written with a plain ``put``. Connection: ``ETCD_URL`` (Python) or
  ``ETCD_HOST`` + ``ETCD_PORT`` (Node.js), ``ETCD_USERNAME``/``ETCD_PASSWORD``, ``ETCD_TIMEOUT``.

PipesHub's own writers never compare anything before writing (its ``compareAndSet`` is unused
for this key), so the revision must come from the stored bytes themselves:

- Redis: the revision is a SHA-256 prefix of the raw stored value. Every encryption draws a fresh
  IV, so every write — ours or PipesHub's, even of identical JSON — changes it. A write WATCHes
  the key, re-reads it, compares, and SETs inside MULTI/EXEC; a PipesHub write in between aborts
  the EXEC, and the caller gets RevisionConflict with what is stored now.
- etcd: the revision is the key's ``mod_revision``; a write is one transaction ``if
  mod_revision(key) == expected then put else range`` (create: ``create_revision == 0``), sent
  through etcd's v3 JSON gateway with httpx.

Key mapping: the ConfigStore key ``ai_models_config`` (AI_MODELS_KEY) is ``/services/aiModels``,
and ``list()`` returns that one document when it exists. PipesHub has no other ``aiconfigs``
documents; other keys exist only when the store is given a ``documents_prefix`` (the contract
tests use one), each at ``documents_prefix + key``. Without it, reading another key is
DocumentNotFound and writing one is refused.

A value that does not decrypt (wrong SECRET_KEY, or corrupt) is StoreError("cannot decrypt
/services/aiModels: wrong SECRET_KEY? ..."), never a silent overwrite: a write needs a revision,
and only a read that decrypted hands one out. Before creating ``/services/aiModels`` where none
exists, the store checks that the SECRET_KEY decrypts PipesHub's other encrypted values, so a
wrong key cannot plant a value PipesHub would fail to read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from optimization.stores.base import (
    AI_MODELS_KEY,
    DocumentNotFound,
    RevisionConflict,
    StoredDocument,
    StoreError,
)
from optimization.stores.kv_backend import (
    CACHE_INVALIDATION_CHANNEL,
    CompareFailed,
    KVBackend,
    RawEntry,
)
from optimization.stores.pipeshub_crypto import (
    PipesHubDecryptError,
    PipesHubEncryptor,
    dumps_like_node,
    stored_text,
)

logger = logging.getLogger(__name__)
_P = ParamSpec("_P")
_R = TypeVar("_R")

AI_MODELS_PATH = "/services/aiModels"
DEFAULT_REDIS_KEY_PREFIX = "pipeshub:kv:"
# Where PipesHub's other config values live, and those it stores unencrypted
# (encrypted_store.py EXCLUDED_KEYS): used only to check SECRET_KEY before a first create.
SERVICES_PREFIX = "/services/"
UNENCRYPTED_PATHS = frozenset(
    {
        "/services/endpoints",
        "/services/storage",
        "/services/migrations",
        "/services/deployment",
    }
)
_KEY_CHECK_SAMPLE = 25


class PipesHubKVStore:
    """The `aiconfigs` document as PipesHub keeps it: one encrypted value per path."""

    def __init__(
        self,
        backend: KVBackend,
        encryptor: PipesHubEncryptor,
        *,
        name: str,
        ai_models_path: str = AI_MODELS_PATH,
        documents_prefix: str | None = None,
    ) -> None:
        if documents_prefix is not None and (
            not documents_prefix or ai_models_path.startswith(documents_prefix)
        ):
            raise ValueError(
                f"documents_prefix {documents_prefix!r} would overlap {ai_models_path}"
            )
        self.name = name
        self._backend = backend
        self._encryptor = encryptor
        self._ai_models_path = ai_models_path
        self._documents_prefix = documents_prefix

    @classmethod
    def redis(
        cls,
        *,
        secret_key: str,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        key_prefix: str = DEFAULT_REDIS_KEY_PREFIX,
        timeout: float = 10.0,
        documents_prefix: str | None = None,
    ) -> PipesHubKVStore:
        """The store on PipesHub's Redis (nothing is sent until the first read or write)."""
        from optimization.stores.pipeshub_redis import RedisKVBackend

        backend = RedisKVBackend.connect(
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            tls=tls,
            key_prefix=key_prefix,
            timeout=timeout,
        )
        return cls(
            backend,
            PipesHubEncryptor.from_secret(secret_key),
            name="pipeshub-redis",
            documents_prefix=documents_prefix,
        )

    @classmethod
    def etcd(
        cls,
        *,
        secret_key: str,
        url: str = "http://localhost:2379",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 5.0,
        documents_prefix: str | None = None,
    ) -> PipesHubKVStore:
        """The store on PipesHub's etcd3, through its v3 JSON gateway at `url`."""
        from optimization.stores.pipeshub_etcd import EtcdKVBackend

        backend = EtcdKVBackend(url, username=username, password=password, timeout=timeout)
        return cls(
            backend,
            PipesHubEncryptor.from_secret(secret_key),
            name="pipeshub-etcd",
            documents_prefix=documents_prefix,
        )

    def read(self, key: str = AI_MODELS_KEY) -> StoredDocument:
        """The document and its current revision; raises DocumentNotFound."""
        path = self._path(key)
        if path is None:
            raise DocumentNotFound(key)
        entry = self._call(f"cannot read {path}", self._backend.get, path)
        if entry is None:
            raise DocumentNotFound(key)
        return self._document(key, entry)

    def write(
        self, key: str, body: Mapping[str, Any], *, expected_revision: str | None
    ) -> StoredDocument:
        """Encrypt and store the document if its revision is still `expected_revision`.

        `expected_revision=None` creates it and fails with RevisionConflict if it exists.
        """
        path = self._path(key)
        if path is None:
            raise StoreError(
                f"PipesHub's key-value store holds only {AI_MODELS_KEY!r} "
                f"({self._ai_models_path}); there is no place for {key!r}"
            )
        plaintext = _plaintext(body)
        value = self._encryptor.encrypt(plaintext).encode("ascii")
        try:
            if expected_revision is None:
                if path == self._ai_models_path:
                    self._check_secret_key()
                entry = self._call(f"cannot create {path}", self._backend.create, path, value)
            else:
                self._check_replaceable(key, path, expected_revision)
                entry = self._call(
                    f"cannot write {path}", self._backend.replace, path, value, expected_revision
                )
        except CompareFailed as lost:
            current = self._current(key, lost.current)
            raise RevisionConflict(key, expected_revision or "(none: create)", current) from None
        return StoredDocument(key=key, revision=entry.revision, body=json.loads(plaintext))

    def list(self) -> list[StoredDocument]:
        """The AI models document (if it exists) and any documents under documents_prefix."""
        documents: list[StoredDocument] = []
        entry = self._call(
            f"cannot read {self._ai_models_path}", self._backend.get, self._ai_models_path
        )
        if entry is not None:
            documents.append(self._document(AI_MODELS_KEY, entry))
        if self._documents_prefix is not None:
            prefix = self._documents_prefix
            entries = self._call(f"cannot list {prefix}*", self._backend.scan, prefix)
            documents.extend(self._document(e.path[len(prefix) :], e) for e in entries)
        return sorted(documents, key=lambda document: document.key)

    def close(self) -> None:
        """Release the backend's connections."""
        self._backend.close()

    @property
    def location(self) -> str:
        """Where the values live, for messages (never includes a password)."""
        return self._backend.location

    def _path(self, key: str) -> str | None:
        if key == AI_MODELS_KEY:
            return self._ai_models_path
        if self._documents_prefix is not None and key:
            return self._documents_prefix + key
        return None

    def _document(self, key: str, entry: RawEntry) -> StoredDocument:
        try:
            plaintext = self._encryptor.decrypt(stored_text(entry.value))
        except PipesHubDecryptError as exc:
            raise StoreError(f"cannot decrypt {entry.path}: wrong SECRET_KEY? ({exc})") from None
        try:
            body = json.loads(plaintext)
        except ValueError as exc:
            raise StoreError(f"{entry.path} decrypts, but not to JSON: {exc}") from None
        if not isinstance(body, dict):
            raise StoreError(
                f"{entry.path} decrypts to JSON {type(body).__name__}, not to an object"
            )
        return StoredDocument(key=key, revision=entry.revision, body=body)

    def _current(self, key: str, entry: RawEntry | None) -> StoredDocument:
        """What the store holds after a lost compare-and-set; DocumentNotFound if nothing."""
        if entry is None:
            raise DocumentNotFound(key)
        return self._document(key, entry)

    def _check_replaceable(self, key: str, path: str, expected_revision: str) -> None:
        """Refuse early unless the value at `expected_revision` decrypts under this key.

        The backend's compare-and-set then replaces exactly those bytes (a revision names one
        stored value), so a wrong SECRET_KEY can never overwrite a value it cannot read.
        """
        current = self._call(f"cannot read {path}", self._backend.get, path)
        existing = self._current(key, current)  # StoreError if it does not decrypt
        if current is not None and current.revision != expected_revision:
            raise RevisionConflict(key, expected_revision, existing)

    def _check_secret_key(self) -> None:
        """Refuse to create the AI models value with a key PipesHub's other values reject."""
        entries = self._call(f"cannot list {SERVICES_PREFIX}*", self._backend.scan, SERVICES_PREFIX)
        encrypted = [e for e in entries if e.path not in UNENCRYPTED_PATHS]
        for entry in encrypted[:_KEY_CHECK_SAMPLE]:
            try:
                self._encryptor.decrypt(stored_text(entry.value))
            except PipesHubDecryptError:
                continue
            return
        if encrypted:
            raise StoreError(
                f"cannot decrypt {encrypted[0].path}: wrong SECRET_KEY? None of PipesHub's "
                f"encrypted values in {self.location} decrypts with it, so "
                f"{self._ai_models_path} was not created"
            )

    def _call(
        self, what: str, operation: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs
    ) -> _R:
        """Run a backend operation, saying what was being done if the backend fails."""
        try:
            return operation(*args, **kwargs)
        except StoreError as exc:
            raise StoreError(f"{what}: {exc}") from exc


def _plaintext(body: Mapping[str, Any]) -> str:
    """The JSON text PipesHub's Node.js writer would produce, or StoreError."""
    if not isinstance(body, Mapping):
        raise StoreError(f"a config document must be a JSON object, not {type(body).__name__}")
    try:
        text = dumps_like_node(body)
        text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise StoreError(f"the config document is not valid JSON: {exc}") from None
    return text


__all__ = [
    "AI_MODELS_PATH",
    "CACHE_INVALIDATION_CHANNEL",
    "DEFAULT_REDIS_KEY_PREFIX",
    "CompareFailed",
    "KVBackend",
    "PipesHubKVStore",
    "RawEntry",
]
