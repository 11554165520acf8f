"""PipesHub's value encryption for its key-value config store, byte for byte.

What PipesHub does (pipeshub-ai/pipeshub-ai, read at commit 95d655b5):

- Key: ``sha256(SECRET_KEY as UTF-8)``, 32 raw bytes. Python:
  ``backend/python/app/config/configuration_service.py`` and
  ``backend/python/app/config/providers/encrypted_store.py`` hash it and pass the hex digest to
  ``EncryptionService``, which turns it back into bytes (``bytes.fromhex``); Node.js:
  ``backend/nodejs/apps/src/modules/configuration_manager/config/config.ts``
  (``getHashedSecretKey``: ``createHash('sha256').update(secretKey).digest('hex')``) and
  ``backend/nodejs/apps/src/libs/encryptor/encryptor.ts`` (``Buffer.from(secretKey, 'hex')``).
- Cipher: AES-256-GCM, a fresh random 12-byte IV per value, 16-byte tag, no associated data
  (``backend/python/app/utils/encryption/encryption_service.py``, ``encryptor.ts``).
- Text form: ``"<iv hex>:<ciphertext hex>:<tag hex>"``, lowercase hex, the tag last.
- Plaintext: the UTF-8 JSON text of the value. The Node.js configuration manager, which owns
  ``/services/aiModels``, encrypts ``JSON.stringify(aiModels)`` (compact, non-ASCII kept as is;
  ``modules/configuration_manager/controller/cm_controller.ts``), so :func:`dumps_like_node`
  writes the same compact form.
- Stored bytes: Node.js stores the text form as is (``KeyValueStoreService`` serializer
  ``Buffer.from(value)``). PipesHub's Python stores, when they write, JSON-encode it first
  (``encrypted_store.py`` serializer ``json.dumps(value)``), i.e. with surrounding quotes. Python
  reads both forms; Node.js reads only the bare one. :func:`stored_text` accepts both; this
  package writes the bare form, which every PipesHub service can read.

``cryptography`` is imported lazily so the core package imports without the admin extra.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

IV_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32


class PipesHubDecryptError(ValueError):
    """A stored value is not PipesHub ciphertext under this key (wrong key, or corrupt)."""


def derive_key(secret_key: str) -> bytes:
    """The AES-256 key PipesHub derives from its SECRET_KEY environment variable."""
    if not secret_key:
        raise ValueError("SECRET_KEY is empty: PipesHub requires it to encrypt its config")
    return hashlib.sha256(secret_key.encode("utf-8")).digest()


class PipesHubEncryptor:
    """Encrypts and decrypts values exactly as PipesHub's EncryptionService does."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"an AES-256 key has {KEY_BYTES} bytes, not {len(key)}")
        self._key = key

    @classmethod
    def from_secret(cls, secret_key: str) -> PipesHubEncryptor:
        """The encryptor for PipesHub's SECRET_KEY."""
        return cls(derive_key(secret_key))

    def encrypt(self, plaintext: str, *, iv: bytes | None = None) -> str:
        """``iv:ciphertext:tag`` in hex. `iv` is for known-answer tests only; never reuse one."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(IV_BYTES) if iv is None else iv
        if len(nonce) != IV_BYTES:
            raise ValueError(f"PipesHub uses a {IV_BYTES}-byte IV, not {len(nonce)} bytes")
        sealed = AESGCM(self._key).encrypt(nonce, plaintext.encode("utf-8"), None)
        ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
        return f"{nonce.hex()}:{ciphertext.hex()}:{tag.hex()}"

    def decrypt(self, text: str) -> str:
        """The plaintext of an ``iv:ciphertext:tag`` value; PipesHubDecryptError if it is not."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        parts = text.split(":")
        if len(parts) != 3:
            raise PipesHubDecryptError("not in PipesHub's iv:ciphertext:authTag format")
        try:
            iv, ciphertext, tag = (bytes.fromhex(part) for part in parts)
        except ValueError:
            raise PipesHubDecryptError("iv, ciphertext or authTag is not hex") from None
        if len(iv) != IV_BYTES or len(tag) != TAG_BYTES:
            raise PipesHubDecryptError(
                f"expected a {IV_BYTES}-byte IV and a {TAG_BYTES}-byte tag, "
                f"found {len(iv)} and {len(tag)}"
            )
        try:
            plain = AESGCM(self._key).decrypt(iv, ciphertext + tag, None)
        except InvalidTag:
            raise PipesHubDecryptError("authentication tag mismatch") from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise PipesHubDecryptError("the plaintext is not UTF-8") from None


def stored_text(raw: bytes) -> str:
    """The ``iv:ciphertext:tag`` text from the bytes a store holds (bare or JSON-quoted)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PipesHubDecryptError("the stored value is not UTF-8 text") from None
    if text.startswith('"'):
        # PipesHub's Python stores JSON-encode the ciphertext string before storing it.
        # JSON text that starts with a quote is a string, or is not JSON at all.
        try:
            return str(json.loads(text))
        except ValueError:
            raise PipesHubDecryptError("the stored value is a broken JSON string") from None
    return text


def dumps_like_node(value: Mapping[str, Any]) -> str:
    """``JSON.stringify(value)``: compact separators, non-ASCII kept, no NaN or Infinity."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


__all__ = [
    "IV_BYTES",
    "KEY_BYTES",
    "TAG_BYTES",
    "PipesHubDecryptError",
    "PipesHubEncryptor",
    "derive_key",
    "dumps_like_node",
    "stored_text",
]
