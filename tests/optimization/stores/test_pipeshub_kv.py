"""PipesHubKVStore on the real Redis (database 13) and a private etcd, against PipesHub's format.

Values PipesHub would have written are produced by tests/optimization/stores/pipeshub_reference.py
(PipesHub's Python and Node.js encryption transcribed from its source; Node.js runs for real),
never by the encryptor under test alone.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from optimization.stores.base import (
    AI_MODELS_KEY,
    DocumentNotFound,
    RevisionConflict,
    StoreError,
)
from optimization.stores.pipeshub_crypto import (
    PipesHubDecryptError,
    PipesHubEncryptor,
    derive_key,
    dumps_like_node,
    stored_text,
)
from optimization.stores.pipeshub_etcd import EtcdKVBackend, prefix_end
from optimization.stores.pipeshub_kv import AI_MODELS_PATH, PipesHubKVStore
from optimization.stores.pipeshub_redis import RedisKVBackend, glob_escape, revision_of
from tests.optimization.stores import pipeshub_reference as ref
from tests.optimization.stores.pipeshub_servers import (
    PIPESHUB_PREFIX,
    REDIS_DB,
    REDIS_HOST,
    REDIS_PORT,
    EtcdServer,
    free_port,
    redis_client,
    require_etcd,
    running_etcd,
)
from tests.store_contract import StoreContract

SECRET = "pipeshub-deployment-secret"
WRONG_SECRET = "not-the-deployment-secret"
AI_MODELS_REDIS_KEY = PIPESHUB_PREFIX + AI_MODELS_PATH
CONTRACT_PREFIX = "/llmopt-contract/"
WRONG_KEY_MESSAGE = re.escape("cannot decrypt /services/aiModels: wrong SECRET_KEY?")

# The document as PipesHub's configuration manager writes it (cm_controller.ts defaultStructure
# and newConfig), with values only a faithful round trip keeps.
PIPESHUB_AI_MODELS: dict[str, Any] = {
    "ocr": [],
    "embedding": [
        {
            "provider": "openAI",
            "configuration": {"model": "text-embedding-3-small", "apiKey": "sk-embed"},
            "modelKey": "0c5e6d1e-embed",
            "isMultimodal": False,
            "isDefault": True,
            "isReasoning": False,
            "contextLength": None,
        }
    ],
    "slm": [],
    "llm": [
        {
            "provider": "anthropic",
            "configuration": {"model": "claude-sonnet-4-5", "apiKey": "sk-ant-secret"},
            "modelKey": "3f2a9c4e-llm",
            "isMultimodal": True,
            "isDefault": True,
            "isReasoning": False,
            "contextLength": 200000,
            "modelFriendlyName": "Sonnet — “quoted” ünïcødé",
        },
        {
            "provider": "ollama",
            "configuration": {"model": "llama3.2", "endpoint": "http://ollama:11434"},
            "modelKey": "9b1d-llm",
            "isMultimodal": False,
            "isDefault": False,
            "isReasoning": False,
            "contextLength": 131072,
        },
    ],
    "reasoning": [],
    "multiModal": [],
    "imageGeneration": [],
    "tts": [],
    "stt": [],
    "modelRoles": {"chat": "3f2a9c4e-llm"},
}


def pipeshub_ciphertext(document: Any, secret: str = SECRET) -> str:
    """What PipesHub's Node.js configuration manager encrypts: JSON.stringify(aiModels)."""
    plaintext = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return ref.python_encrypt(ref.python_hex_key(secret), plaintext, _random_iv())


def _random_iv() -> bytes:
    import os

    return os.urandom(12)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def raw_redis() -> Iterator[redis.Redis]:
    client = redis_client()
    client.flushdb()  # database 13 only
    yield client
    client.flushdb()
    client.close()


def redis_store(
    secret: str = SECRET, documents_prefix: str | None = None, **options: Any
) -> PipesHubKVStore:
    return PipesHubKVStore.redis(
        secret_key=secret,
        host=REDIS_HOST,
        port=REDIS_PORT,
        db=REDIS_DB,
        documents_prefix=documents_prefix,
        **options,
    )


@pytest.fixture
def store(raw_redis: redis.Redis) -> Iterator[PipesHubKVStore]:
    opened = redis_store()
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    require_etcd()
    with running_etcd() as server:
        yield server


@pytest.fixture
def etcd(etcd_server: EtcdServer) -> Iterator[EtcdServer]:
    etcd_server.delete_everything()
    yield etcd_server
    etcd_server.delete_everything()


def etcd_store(
    server: EtcdServer, secret: str = SECRET, documents_prefix: str | None = None
) -> PipesHubKVStore:
    return PipesHubKVStore.etcd(
        secret_key=secret, url=server.url, documents_prefix=documents_prefix
    )


# --- the shared store contract ----------------------------------------------------------------


class TestPipesHubRedisStoreContract(StoreContract):
    @pytest.fixture
    def store(self, raw_redis: redis.Redis) -> Iterator[PipesHubKVStore]:
        opened = redis_store(documents_prefix=CONTRACT_PREFIX)
        yield opened
        opened.close()


class TestPipesHubEtcdStoreContract(StoreContract):
    @pytest.fixture
    def store(self, etcd: EtcdServer) -> Iterator[PipesHubKVStore]:
        opened = etcd_store(etcd, documents_prefix=CONTRACT_PREFIX)
        yield opened
        opened.close()


# --- encryption: known-answer vectors from PipesHub's own algorithm ------------------------------


def test_the_key_is_the_sha256_of_the_secret_as_pipeshub_derives_it() -> None:
    assert derive_key(ref.VECTOR_SECRET).hex() == ref.python_hex_key(ref.VECTOR_SECRET)
    assert derive_key("s") == hashlib.sha256(b"s").digest()


def test_it_refuses_an_empty_secret_key() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        PipesHubEncryptor.from_secret("")


def test_the_python_transcription_reproduces_the_node_vector() -> None:
    produced = ref.python_encrypt(
        ref.python_hex_key(ref.VECTOR_SECRET),
        ref.VECTOR_PLAINTEXT,
        bytes.fromhex(ref.VECTOR_IV_HEX),
    )
    assert produced == ref.NODE_VECTOR


@pytest.mark.skipif(not ref.node_available(), reason="no node binary to run PipesHub's encryptor")
def test_node_still_produces_the_checked_in_vector() -> None:
    produced = ref.node_encrypt(ref.VECTOR_SECRET, ref.VECTOR_PLAINTEXT, ref.VECTOR_IV_HEX)
    assert produced == ref.NODE_VECTOR


def test_our_encryptor_produces_pipeshubs_bytes_for_the_same_iv() -> None:
    encryptor = PipesHubEncryptor.from_secret(ref.VECTOR_SECRET)
    produced = encryptor.encrypt(ref.VECTOR_PLAINTEXT, iv=bytes.fromhex(ref.VECTOR_IV_HEX))
    assert produced == ref.NODE_VECTOR


def test_our_encryptor_decrypts_pipeshubs_vector() -> None:
    encryptor = PipesHubEncryptor.from_secret(ref.VECTOR_SECRET)
    assert encryptor.decrypt(ref.NODE_VECTOR) == ref.VECTOR_PLAINTEXT


def test_pipeshub_decrypts_what_our_encryptor_writes_with_a_fresh_iv_each_time() -> None:
    encryptor = PipesHubEncryptor.from_secret(SECRET)
    first = encryptor.encrypt("{}")
    second = encryptor.encrypt("{}")

    assert first != second  # a new random 12-byte IV per value
    assert len(bytes.fromhex(first.split(":")[0])) == 12
    assert ref.python_decrypt(ref.python_hex_key(SECRET), first) == "{}"
    assert ref.python_decrypt(ref.python_hex_key(SECRET), second) == "{}"


def test_it_refuses_an_iv_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="12-byte IV"):
        PipesHubEncryptor.from_secret(SECRET).encrypt("{}", iv=b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        PipesHubEncryptor(b"too short")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("abc", "iv:ciphertext:authTag"),
        ("zz:00:00", "not hex"),
        ("00:00:00", "12-byte IV"),
        (ref.NODE_VECTOR[:-2] + "00", "authentication tag mismatch"),
        (ref.python_encrypt(ref.python_hex_key(SECRET), "x", bytes(12)), "tag mismatch"),
    ],
)
def test_it_says_why_a_value_does_not_decrypt(text: str, reason: str) -> None:
    with pytest.raises(PipesHubDecryptError, match=reason):
        PipesHubEncryptor.from_secret(ref.VECTOR_SECRET).decrypt(text)


def test_it_refuses_a_plaintext_that_is_not_utf8() -> None:
    key = derive_key(SECRET)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    sealed = AESGCM(key).encrypt(bytes(12), b"\xff\xfe", None)
    text = f"{bytes(12).hex()}:{sealed[:-16].hex()}:{sealed[-16:].hex()}"
    with pytest.raises(PipesHubDecryptError, match="UTF-8"):
        PipesHubEncryptor(key).decrypt(text)


def test_it_reads_both_the_bare_and_the_json_quoted_stored_forms() -> None:
    token = ref.NODE_VECTOR
    assert stored_text(token.encode()) == token  # Node.js: Buffer.from(value)
    assert stored_text(ref.python_redis_serialize(token)) == token  # Python: json.dumps(value)


@pytest.mark.parametrize(
    ("raw", "reason"), [(b"\xff", "not UTF-8"), (b'"unterminated', "broken"), (b'"1', "broken")]
)
def test_it_says_why_stored_bytes_are_not_a_value(raw: bytes, reason: str) -> None:
    with pytest.raises(PipesHubDecryptError, match=reason):
        stored_text(raw)


def test_documents_are_serialized_like_json_stringify() -> None:
    assert dumps_like_node({"a": [1, None, True], "é": "✓"}) == '{"a":[1,null,true],"é":"✓"}'
    with pytest.raises(ValueError, match="JSON compliant"):
        dumps_like_node({"nan": float("nan")})


# --- Redis: PipesHub's layout --------------------------------------------------------------------


def test_it_reads_what_pipeshubs_nodejs_writer_stored(
    raw_redis: redis.Redis, store: PipesHubKVStore
) -> None:
    raw = pipeshub_ciphertext(PIPESHUB_AI_MODELS).encode()
    raw_redis.set(AI_MODELS_REDIS_KEY, raw)

    document = store.read()

    assert document.key == AI_MODELS_KEY
    assert document.body == PIPESHUB_AI_MODELS
    assert list(document.body) == list(PIPESHUB_AI_MODELS)  # key order kept
    assert document.revision == revision_of(raw)


def test_it_reads_what_pipeshubs_python_writer_stored(
    raw_redis: redis.Redis, store: PipesHubKVStore
) -> None:
    raw_redis.set(
        AI_MODELS_REDIS_KEY, ref.python_redis_serialize(pipeshub_ciphertext(PIPESHUB_AI_MODELS))
    )

    assert store.read().body == PIPESHUB_AI_MODELS


def test_pipeshubs_python_and_nodejs_read_what_it_writes(
    raw_redis: redis.Redis, store: PipesHubKVStore
) -> None:
    raw_redis.set(AI_MODELS_REDIS_KEY, pipeshub_ciphertext(PIPESHUB_AI_MODELS).encode())
    opened = store.read()
    changed = copy.deepcopy(opened.body)
    changed["llm"][0]["configuration"]["optimizationEnabled"] = True

    written = store.write(AI_MODELS_KEY, changed, expected_revision=opened.revision)

    stored = raw_redis.get(AI_MODELS_REDIS_KEY)
    assert stored is not None
    assert written.revision == revision_of(stored)
    assert ref.python_get_config(ref.python_hex_key(SECRET), stored) == changed
    plaintext = ref.python_decrypt(ref.python_hex_key(SECRET), stored.decode())
    assert plaintext == json.dumps(changed, separators=(",", ":"), ensure_ascii=False)
    if ref.node_available():
        assert ref.node_read_config(SECRET, stored) == {"result": changed}


def test_an_unchanged_round_trip_keeps_every_field_and_issues_a_new_revision(
    raw_redis: redis.Redis, store: PipesHubKVStore
) -> None:
    raw_redis.set(AI_MODELS_REDIS_KEY, pipeshub_ciphertext(PIPESHUB_AI_MODELS).encode())
    opened = store.read()

    written = store.write(AI_MODELS_KEY, opened.body, expected_revision=opened.revision)

    assert written.revision != opened.revision  # fresh IV, new bytes
    assert store.read().body == PIPESHUB_AI_MODELS


def test_a_pipeshub_write_between_our_read_and_write_is_never_lost(
    raw_redis: redis.Redis, store: PipesHubKVStore
) -> None:
    raw_redis.set(AI_MODELS_REDIS_KEY, pipeshub_ciphertext(PIPESHUB_AI_MODELS).encode())
    opened = store.read()
    theirs = copy.deepcopy(PIPESHUB_AI_MODELS)
    theirs["llm"].append({"provider": "openAI", "configuration": {"model": "gpt-5"}})
    their_bytes = pipeshub_ciphertext(theirs).encode()
    raw_redis.set(AI_MODELS_REDIS_KEY, their_bytes, xx=True)  # Node.js updateValue: SET XX

    ours = copy.deepcopy(opened.body)
    ours["llm"][0]["configuration"]["cachingEnabled"] = True
    with pytest.raises(RevisionConflict) as caught:
        store.write(AI_MODELS_KEY, ours, expected_revision=opened.revision)

    assert caught.value.current.body == theirs
    assert raw_redis.get(AI_MODELS_REDIS_KEY) == their_bytes


class _InterloperPipeline(redis.client.Pipeline):
    """Lets a "PipesHub" write land after our WATCH and GET, just before MULTI/EXEC."""

    interlope: Any = None

    def multi(self) -> None:
        if _InterloperPipeline.interlope is not None:
            _InterloperPipeline.interlope()
            _InterloperPipeline.interlope = None
        super().multi()


class _InterloperRedis(redis.Redis):
    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        return _InterloperPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


def test_a_pipeshub_write_between_watch_and_exec_aborts_ours(raw_redis: redis.Redis) -> None:
    raw_redis.set(AI_MODELS_REDIS_KEY, pipeshub_ciphertext(PIPESHUB_AI_MODELS).encode())
    client = _InterloperRedis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
    store = PipesHubKVStore(
        RedisKVBackend(client, key_prefix=PIPESHUB_PREFIX, location="Redis db 13"),
        PipesHubEncryptor.from_secret(SECRET),
        name="pipeshub-redis",
    )
    opened = store.read()
    theirs = {**PIPESHUB_AI_MODELS, "modelRoles": {"chat": "9b1d-llm"}}
    their_bytes = pipeshub_ciphertext(theirs).encode()
    _InterloperPipeline.interlope = lambda: raw_redis.set(AI_MODELS_REDIS_KEY, their_bytes)

    with pytest.raises(RevisionConflict) as caught:
        store.write(AI_MODELS_KEY, {**opened.body, "mine": 1}, expected_revision=opened.revision)

    assert caught.value.current.body == theirs
    assert raw_redis.get(AI_MODELS_REDIS_KEY) == their_bytes
    store.close()


def test_a_wrong_secret_key_is_a_clear_error_and_nothing_is_written(
    raw_redis: redis.Redis,
) -> None:
    raw = pipeshub_ciphertext(PIPESHUB_AI_MODELS).encode()
    raw_redis.set(AI_MODELS_REDIS_KEY, raw)
    wrong = redis_store(WRONG_SECRET)

    with pytest.raises(StoreError, match=WRONG_KEY_MESSAGE):
        wrong.read()
    with pytest.raises(StoreError, match=WRONG_KEY_MESSAGE):
        wrong.list()
    # Even a caller that knows the revision cannot overwrite a value it cannot read.
    with pytest.raises(StoreError, match=WRONG_KEY_MESSAGE):
        wrong.write(AI_MODELS_KEY, {"llm": []}, expected_revision=revision_of(raw))
    with pytest.raises(StoreError, match=WRONG_KEY_MESSAGE):
        wrong.write(AI_MODELS_KEY, {"llm": []}, expected_revision=None)

    assert raw_redis.get(AI_MODELS_REDIS_KEY) == raw
    wrong.close()


@pytest.mark.parametrize(
    "corrupt", [b"garbage", b"00:11:22", b'"unterminated', b"", "ünïcødé".encode("latin-1")]
)
def test_a_corrupt_value_is_a_clear_error_and_is_not_overwritten(
    raw_redis: redis.Redis, store: PipesHubKVStore, corrupt: bytes
) -> None:
    raw_redis.set(AI_MODELS_REDIS_KEY, corrupt)

    with pytest.raises(StoreError, match=WRONG_KEY_MESSAGE):
        store.read()
    with pytest.raises(StoreError, match="cannot decrypt"):
        store.write(AI_MODELS_KEY, {"llm": []}, expected_revision=revision_of(corrupt))

    assert raw_redis.get(AI_MODELS_REDIS_KEY) == corrupt


@pytest.mark.parametrize(
    ("plaintext", "reason"),
    [("[1, 2]", "JSON list, not to an object"), ("{not json", "not to JSON")],
)
def test_a_value_that_decrypts_to_something_else_than_an_object_is_refused(
    raw_redis: redis.Redis, store: PipesHubKVStore, plaintext: str, reason: str
) -> None:
    token = ref.python_encrypt(ref.python_hex_key(SECRET), plaintext, _random_iv())
    raw_redis.set(AI_MODELS_REDIS_KEY, token)

    with pytest.raises(StoreError, match=reason):
        store.read()


def test_it_will_not_create_the_ai_models_value_with_a_key_pipeshub_rejects(
    raw_redis: redis.Redis,
) -> None:
    raw_redis.set(PIPESHUB_PREFIX + "/services/endpoints", b'{"cm":"http://x"}')  # unencrypted
    raw_redis.set(
        PIPESHUB_PREFIX + "/services/arangodb", pipeshub_ciphertext({"url": "http://arango"})
    )
    wrong = redis_store(WRONG_SECRET)

    with pytest.raises(StoreError, match="wrong SECRET_KEY"):
        wrong.write(AI_MODELS_KEY, PIPESHUB_AI_MODELS, expected_revision=None)
    assert raw_redis.get(AI_MODELS_REDIS_KEY) is None

    right = redis_store(SECRET)
    created = right.write(AI_MODELS_KEY, PIPESHUB_AI_MODELS, expected_revision=None)
    assert right.read() == created
    wrong.close()
    right.close()


def test_it_tells_pipeshubs_services_to_drop_their_cached_copy(
    raw_redis: redis.Redis, store: PipesHubKVStore
) -> None:
    listener = raw_redis.pubsub()
    listener.subscribe("pipeshub:cache:invalidate")
    assert listener.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]

    created = store.write(AI_MODELS_KEY, PIPESHUB_AI_MODELS, expected_revision=None)
    store.write(AI_MODELS_KEY, {"llm": []}, expected_revision=created.revision)

    messages = [listener.get_message(timeout=5) for _ in range(2)]
    assert [m["data"] for m in messages if m] == [b"/services/aiModels"] * 2
    listener.close()


def test_without_a_documents_prefix_only_the_ai_models_document_exists(
    raw_redis: redis.Redis, store: PipesHubKVStore
) -> None:
    raw_redis.set(PIPESHUB_PREFIX + "/services/arangodb", pipeshub_ciphertext({"url": "u"}))
    assert store.list() == []

    raw_redis.set(AI_MODELS_REDIS_KEY, pipeshub_ciphertext(PIPESHUB_AI_MODELS))

    assert [(d.key, d.body) for d in store.list()] == [(AI_MODELS_KEY, PIPESHUB_AI_MODELS)]
    with pytest.raises(DocumentNotFound):
        store.read("other")
    with pytest.raises(StoreError, match="holds only 'ai_models_config'"):
        store.write("other", {"llm": []}, expected_revision=None)


def test_it_uses_the_configured_key_prefix(raw_redis: redis.Redis) -> None:
    custom = redis_store(key_prefix="tenant-a:kv:")
    custom.write(AI_MODELS_KEY, {"llm": []}, expected_revision=None)

    assert raw_redis.exists("tenant-a:kv:/services/aiModels")
    assert not raw_redis.exists(AI_MODELS_REDIS_KEY)
    custom.close()


def test_documents_under_a_prefix_with_glob_characters_are_listed_literally(
    raw_redis: redis.Redis,
) -> None:
    odd = redis_store(documents_prefix="/odd[*]?/")
    odd.write("a", {"n": 1}, expected_revision=None)
    raw_redis.set(PIPESHUB_PREFIX + "/oddX*]?/b", b"not ours")

    assert [d.key for d in odd.list()] == ["a"]
    assert glob_escape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\"
    odd.close()


def test_an_unreachable_redis_is_a_store_error_that_names_it_without_the_password() -> None:
    port = free_port()
    unreachable = PipesHubKVStore.redis(
        secret_key=SECRET, host="127.0.0.1", port=port, password="s3cret-pw", timeout=1.0
    )

    with pytest.raises(StoreError) as caught:
        unreachable.read()

    message = str(caught.value)
    assert f"cannot read /services/aiModels: Redis at redis://127.0.0.1:{port}/0" in message
    assert "s3cret-pw" not in message
    unreachable.close()


def test_it_refuses_a_body_that_json_cannot_hold(store: PipesHubKVStore) -> None:
    with pytest.raises(StoreError, match="not valid JSON"):
        store.write(AI_MODELS_KEY, {"x": float("inf")}, expected_revision=None)
    with pytest.raises(StoreError, match="not valid JSON"):
        store.write(AI_MODELS_KEY, {"x": object()}, expected_revision=None)
    with pytest.raises(StoreError, match="not valid JSON"):
        store.write(AI_MODELS_KEY, {"x": "\ud800"}, expected_revision=None)
    with pytest.raises(DocumentNotFound):
        store.read()


def test_a_documents_prefix_may_not_overlap_the_ai_models_path() -> None:
    with pytest.raises(ValueError, match="overlap"):
        redis_store(documents_prefix="/services/")
    with pytest.raises(ValueError, match="overlap"):
        redis_store(documents_prefix="")


def test_concurrent_admin_writes_never_undo_a_blind_pipeshub_write(
    raw_redis: redis.Redis, store: PipesHubKVStore
) -> None:
    raw_redis.set(AI_MODELS_REDIS_KEY, pipeshub_ciphertext({"count": 0, "pipeshub": 0}))
    stop = threading.Event()
    regressions: list[tuple[int, int]] = []
    last_written = [0]

    def pipeshub_writer() -> None:
        # PipesHub's Node.js read-modify-write, with no compare at all (cm_controller.ts). Only
        # it increments "pipeshub", so reading less than it last wrote means we undid its write.
        while not stop.is_set():
            raw = raw_redis.get(AI_MODELS_REDIS_KEY)
            assert raw is not None
            body = ref.python_get_config(ref.python_hex_key(SECRET), raw)
            if body["pipeshub"] != last_written[0]:
                regressions.append((last_written[0], body["pipeshub"]))
            body["pipeshub"] += 1
            raw_redis.set(AI_MODELS_REDIS_KEY, pipeshub_ciphertext(body))
            last_written[0] = body["pipeshub"]
            stop.wait(0.002)

    writer = threading.Thread(target=pipeshub_writer)
    writer.start()
    try:
        for _ in range(30):
            while True:
                current = store.read()
                body = {**current.body, "count": current.body["count"] + 1}
                try:
                    store.write(AI_MODELS_KEY, body, expected_revision=current.revision)
                    break
                except RevisionConflict:
                    continue
    finally:
        stop.set()
        writer.join(timeout=10)

    assert regressions == []
    assert store.read().body["pipeshub"] == last_written[0] > 0


# --- etcd ----------------------------------------------------------------------------------------


def test_it_reads_what_pipeshub_put_into_etcd(etcd: EtcdServer) -> None:
    revision = etcd.put(AI_MODELS_PATH, pipeshub_ciphertext(PIPESHUB_AI_MODELS).encode())
    store = etcd_store(etcd)

    document = store.read()

    assert document.body == PIPESHUB_AI_MODELS
    assert document.revision == str(revision)  # the key's mod_revision
    store.close()


def test_pipeshub_reads_what_it_writes_to_etcd(etcd: EtcdServer) -> None:
    store = etcd_store(etcd)

    store.write(AI_MODELS_KEY, PIPESHUB_AI_MODELS, expected_revision=None)

    stored = etcd.get(AI_MODELS_PATH)
    assert stored is not None
    assert ref.python_get_config(ref.python_hex_key(SECRET), stored) == PIPESHUB_AI_MODELS
    if ref.node_available():
        assert ref.node_read_config(SECRET, stored) == {"result": PIPESHUB_AI_MODELS}
    store.close()


def test_a_pipeshub_put_into_etcd_between_our_read_and_write_is_never_lost(
    etcd: EtcdServer,
) -> None:
    etcd.put(AI_MODELS_PATH, pipeshub_ciphertext(PIPESHUB_AI_MODELS).encode())
    store = etcd_store(etcd)
    opened = store.read()
    theirs = {**PIPESHUB_AI_MODELS, "modelRoles": {}}
    their_bytes = pipeshub_ciphertext(theirs).encode()
    etcd.put(AI_MODELS_PATH, their_bytes)

    with pytest.raises(RevisionConflict) as caught:
        store.write(AI_MODELS_KEY, {**opened.body, "mine": 1}, expected_revision=opened.revision)

    assert caught.value.current.body == theirs
    assert etcd.get(AI_MODELS_PATH) == their_bytes
    store.close()


def test_the_etcd_compare_and_set_itself_refuses_a_stale_revision(etcd: EtcdServer) -> None:
    first = etcd.put(AI_MODELS_PATH, b"v1")
    second = etcd.put(AI_MODELS_PATH, b"v2")
    backend = EtcdKVBackend(etcd.url)

    from optimization.stores.kv_backend import CompareFailed

    with pytest.raises(CompareFailed) as caught:
        backend.replace(AI_MODELS_PATH, b"v3", str(first))
    assert caught.value.current is not None
    assert caught.value.current.revision == str(second)
    with pytest.raises(CompareFailed):
        backend.replace(AI_MODELS_PATH, b"v3", "-1")
    assert backend.replace(AI_MODELS_PATH, b"v3", str(second)).value == b"v3"
    backend.close()


def test_a_wrong_secret_key_on_etcd_is_a_clear_error(etcd: EtcdServer) -> None:
    raw = pipeshub_ciphertext(PIPESHUB_AI_MODELS).encode()
    revision = etcd.put(AI_MODELS_PATH, raw)
    wrong = etcd_store(etcd, WRONG_SECRET)

    with pytest.raises(StoreError, match=WRONG_KEY_MESSAGE):
        wrong.read()
    with pytest.raises(StoreError, match=WRONG_KEY_MESSAGE):
        wrong.write(AI_MODELS_KEY, {"llm": []}, expected_revision=str(revision))

    assert etcd.get(AI_MODELS_PATH) == raw
    wrong.close()


def test_an_unreachable_etcd_is_a_store_error_that_names_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = PipesHubKVStore.etcd(secret_key=SECRET, url=url, timeout=1.0)

    with pytest.raises(StoreError, match=f"cannot read /services/aiModels: etcd at {url}"):
        store.read()
    store.close()


def test_an_etcd_error_answer_is_a_store_error_with_its_message(etcd: EtcdServer) -> None:
    backend = EtcdKVBackend(etcd.url)
    with pytest.raises(StoreError, match="HTTP 4"):
        backend._post("/v3/kv/range", {"key": "not base64!"})
    backend.close()


def test_prefix_end_selects_exactly_the_keys_under_a_prefix() -> None:
    assert prefix_end("/a/") == b"/a0"
    assert prefix_end("\xff") == b"\xc3\xc0"
    assert prefix_end("") == b"\0"


def test_etcd_with_authentication_is_used_with_pipeshubs_credentials() -> None:
    require_etcd()
    with running_etcd("--auth-token-ttl=1") as server:
        server.post("/v3/auth/user/add", {"name": "root", "password": "rootpw"})
        server.post("/v3/auth/user/grant", {"user": "root", "role": "root"})
        server.post("/v3/auth/enable", {})

        anonymous = etcd_store(server)
        with pytest.raises(StoreError, match="HTTP"):
            anonymous.read()

        bad = PipesHubKVStore.etcd(
            secret_key=SECRET, url=server.url, username="root", password="wrong"
        )
        with pytest.raises(StoreError, match="cannot authenticate as 'root'"):
            bad.read()

        store = PipesHubKVStore.etcd(
            secret_key=SECRET, url=server.url, username="root", password="rootpw"
        )
        created = store.write(AI_MODELS_KEY, PIPESHUB_AI_MODELS, expected_revision=None)
        assert store.read() == created
        time.sleep(2.5)  # the token expires after 1 s: the store authenticates again
        assert store.read() == created
        for opened in (anonymous, bad, store):
            opened.close()
