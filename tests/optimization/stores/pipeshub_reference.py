"""PipesHub's config encryption, transcribed from its source to produce test vectors.

Written from pipeshub-ai/pipeshub-ai (commit 95d655b5), independently of
optimization.stores.pipeshub_crypto, so a mistake there cannot hide in both:

- Python: ``backend/python/app/config/providers/encrypted_store.py`` (SECRET_KEY hashing, the
  Redis serializer) and ``backend/python/app/utils/encryption/encryption_service.py`` (encrypt /
  decrypt), transcribed below nearly line for line.
- Node.js: ``backend/nodejs/apps/src/libs/encryptor/encryptor.ts`` (EncryptionService) and
  ``modules/configuration_manager/config/config.ts`` (getHashedSecretKey), kept as JavaScript in
  NODE_ENCRYPTOR and run with the real `node` binary when one is installed. The only change is
  that encrypt() takes the IV as an argument so the output is reproducible.

NODE_VECTOR was produced by running NODE_ENCRYPTOR's encrypt() under Node.js v20 with the inputs
next to it; tests check both implementations against it in both directions.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VECTOR_SECRET = "pipeshub-reference-secret ✓"
VECTOR_IV_HEX = "000102030405060708090a0b"
VECTOR_PLAINTEXT = (
    '{"llm":[{"provider":"anthropic","configuration":{"model":"claude-sonnet-4-5",'
    '"apiKey":"sk-ant-xyz"},"modelKey":"7f1c","isDefault":true,"isMultimodal":false,'
    '"isReasoning":false,"contextLength":200000}],"embedding":[],"note":"ünïcødé"}'
)
NODE_VECTOR = (
    "000102030405060708090a0b:"
    "8ed8eba00ffe35186973a0e0349c894673ff7ee0c1d92441bf1a5e33997a8830c8459f38e92eac03"
    "4b1c28021be67206aee3fd1ef413408e8146ddfed4b0144d39f692ad806b65a549f9d86766d09f0b"
    "1572807e90700d9afccfbcf7271ec962bc9f17a589e0ba4e913aaf1c81b8b819a9597acc73f618bb"
    "49fc04215bec13094b0c1165b8d3cfc69563584fc26ab2596872d22d8f9ce0b990f1a2f9df712bdf"
    "db861fc8601aff9374d4b541b15dc237b1b6da7748051f04af30d1e3411a23832a62797285145b04"
    "2fe46b3ffc96e810eeb214774c16d851ceaabb5ecb2695ba2a94be54994e95d0578976a438"
    ":f3a4fc538f8481c1ef6de52540fa76d3"
)


# --- Python side: encrypted_store.py + utils/encryption/encryption_service.py -----------------


def python_hex_key(secret_key: str) -> str:
    """encrypted_store.py: ``hashlib.sha256(secret_key.encode()).digest().hex()``."""
    hashed_key = hashlib.sha256(secret_key.encode()).digest()
    return hashed_key.hex()


def python_encrypt(hex_key: str, text: str, iv: bytes) -> str:
    """EncryptionService.encrypt, with `iv` in place of ``os.urandom(12)``."""
    key = bytes.fromhex(hex_key)
    aesgcm = AESGCM(key)
    encrypted = aesgcm.encrypt(iv, text.encode("utf-8"), None)
    ciphertext = encrypted[:-16]
    auth_tag = encrypted[-16:]
    return f"{iv.hex()}:{ciphertext.hex()}:{auth_tag.hex()}"


def python_decrypt(hex_key: str, encrypted_text: str) -> str:
    """EncryptionService.decrypt (raises on a wrong key or a malformed value)."""
    parts = encrypted_text.split(":")
    if len(parts) != 3:
        raise ValueError("Invalid encrypted text format; expected format iv:ciphertext:authTag")
    iv_hex, ciphertext_hex, auth_tag_hex = parts
    combined = bytes.fromhex(ciphertext_hex) + bytes.fromhex(auth_tag_hex)
    return AESGCM(bytes.fromhex(hex_key)).decrypt(bytes.fromhex(iv_hex), combined, None).decode()


def python_redis_serialize(value: Any) -> bytes:
    """encrypted_store.py ``serialize``: what PipesHub's Python writes to Redis for a value."""
    if value is None:
        return b""
    return json.dumps(value).encode("utf-8")


def python_redis_deserialize(value: bytes) -> Any:
    """encrypted_store.py ``deserialize``: how PipesHub's Python reads a Redis value."""
    if not value:
        return None
    decoded = value.decode("utf-8")
    try:
        return json.loads(decoded)
    except json.JSONDecodeError:
        return decoded


def python_get_config(hex_key: str, stored: bytes) -> Any:
    """EncryptedKeyValueStore.get_key for an encrypted key: deserialize, decrypt, json.loads."""
    return json.loads(python_decrypt(hex_key, python_redis_deserialize(stored)))


# --- Node.js side: encryptor.ts + config.ts, run by the real node binary ---------------------

NODE_ENCRYPTOR = r"""
const crypto = require('crypto');
const getHashedSecretKey = (secretKey) =>
  crypto.createHash('sha256').update(secretKey).digest().toString('hex');
function encrypt(algorithm, secretKey, text, ivHex) {
  const iv = Buffer.from(ivHex, 'hex');
  const cipher = crypto.createCipheriv(algorithm, Buffer.from(secretKey, 'hex'), iv);
  const encrypted = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  const authTag = cipher.getAuthTag();
  return iv.toString('hex') + ':' + encrypted.toString('hex') + ':' + authTag.toString('hex');
}
function decrypt(algorithm, secretKey, encryptedText) {
  const textParts = encryptedText.split(':');
  if (textParts.length !== 3) throw new Error('Invalid encrypted text format');
  const iv = Buffer.from(textParts[0], 'hex');
  const encryptedData = Buffer.from(textParts[1], 'hex');
  const authTag = Buffer.from(textParts[2], 'hex');
  const decipher = crypto.createDecipheriv(algorithm, Buffer.from(secretKey, 'hex'), iv);
  decipher.setAuthTag(authTag);
  return Buffer.concat([decipher.update(encryptedData), decipher.final()]).toString('utf8');
}
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const key = getHashedSecretKey(input.secret);
const out = {};
try {
  if (input.op === 'encrypt') out.result = encrypt('aes-256-gcm', key, input.text, input.iv);
  // keyValueStoreService deserializer: buffer.toString(); then cm_controller: JSON.parse(decrypt)
  else {
    const stored = Buffer.from(input.stored, 'base64').toString();
    out.result = JSON.parse(decrypt('aes-256-gcm', key, stored));
  }
} catch (e) { out.error = String(e.message || e); }
process.stdout.write(JSON.stringify(out));
"""


def node_available() -> bool:
    return shutil.which("node") is not None


def _run_node(request: dict[str, str]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    completed = subprocess.run(
        [node, "-e", NODE_ENCRYPTOR],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    answer: dict[str, Any] = json.loads(completed.stdout)
    return answer


def node_encrypt(secret: str, text: str, iv_hex: str) -> str:
    """What PipesHub's Node.js EncryptionService.encrypt returns for this IV."""
    return str(_run_node({"op": "encrypt", "secret": secret, "text": text, "iv": iv_hex})["result"])


def node_read_config(secret: str, stored: bytes) -> dict[str, Any]:
    """What the Node.js configuration manager gets from these stored bytes: result or error."""
    import base64

    return _run_node(
        {"op": "read", "secret": secret, "stored": base64.b64encode(stored).decode("ascii")}
    )
