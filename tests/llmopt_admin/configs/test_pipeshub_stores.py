"""The pipeshub-redis and pipeshub-etcd stores as the admin builds them; migrate_aiconfigs on them.

Runs against the real Redis (database 13 only) and a private etcd; documents PipesHub would have
written are encrypted by tests/optimization/stores/pipeshub_reference.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings

from llmopt_admin.configs.stores import config_store_names, get_config_store
from optimization.config import OPTIMIZATION_DEFAULTS
from optimization.stores.base import AI_MODELS_KEY
from optimization.stores.pipeshub_kv import PipesHubKVStore
from tests.optimization.stores import pipeshub_reference as ref
from tests.optimization.stores.pipeshub_servers import (
    PIPESHUB_PREFIX,
    REDIS_DB,
    REDIS_HOST,
    REDIS_PORT,
    redis_client,
    require_etcd,
    running_etcd,
)

SECRET = "the-pipeshub-secret"
AI_MODELS_REDIS_KEY = PIPESHUB_PREFIX + "/services/aiModels"
NINE = list(OPTIMIZATION_DEFAULTS)
ROOT = Path(__file__).resolve().parents[3]

REDIS_SETTINGS: dict[str, Any] = {
    "PIPESHUB_SECRET_KEY": SECRET,
    "PIPESHUB_KV_STORE_TYPE": "redis",
    "PIPESHUB_REDIS_HOST": REDIS_HOST,
    "PIPESHUB_REDIS_PORT": REDIS_PORT,
    "PIPESHUB_REDIS_DB": REDIS_DB,
    "PIPESHUB_REDIS_USERNAME": "",
    "PIPESHUB_REDIS_PASSWORD": "",
    "PIPESHUB_REDIS_TLS": False,
    "PIPESHUB_REDIS_KV_PREFIX": PIPESHUB_PREFIX,
    "PIPESHUB_REDIS_TIMEOUT": 5.0,
}


def pipeshub_ai_models() -> dict[str, Any]:
    """A document as PipesHub's configuration manager keeps it (cm_controller.ts)."""
    entry = {"isMultimodal": False, "isDefault": False, "isReasoning": False, "contextLength": None}
    return {
        "ocr": [],
        "embedding": [
            {
                "provider": "openAI",
                "configuration": {"model": "text-embedding-3-small", "apiKey": "sk-embed"},
                "modelKey": "e1",
                **entry,
            }
        ],
        "slm": [{"provider": "ollama", "configuration": {"model": "llama3.2"}, "modelKey": "s1"}],
        "llm": [
            {
                "provider": "anthropic",
                "configuration": {"model": "claude-sonnet-4-5", "apiKey": "sk-ant-secret"},
                "modelKey": "l1",
                **entry,
                "isDefault": True,
                "contextLength": 200000,
            }
        ],
        "reasoning": [
            {
                "provider": "openAI",
                "configuration": {"model": "o3", "apiKey": "sk-o"},
                "modelKey": "r1",
            }
        ],
        "multiModal": [
            {"provider": "gemini", "configuration": {"model": "gemini-2.5-pro"}, "modelKey": "m1"}
        ],
        "imageGeneration": [],
        "tts": [],
        "stt": [],
        "modelRoles": {},
    }


def encrypted_by_pipeshub(document: dict[str, Any]) -> bytes:
    plaintext = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return ref.python_encrypt(ref.python_hex_key(SECRET), plaintext, os.urandom(12)).encode()


def as_pipeshub_reads_it(raw: bytes | None) -> Any:
    assert raw is not None
    return ref.python_get_config(ref.python_hex_key(SECRET), raw)


@pytest.fixture
def raw_redis() -> Iterator[redis.Redis]:
    client = redis_client()
    client.flushdb()  # database 13 only
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def pipeshub_settings() -> Iterator[None]:
    with override_settings(**REDIS_SETTINGS):
        yield


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("migrate_aiconfigs", *args, stdout=out, stderr=out)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue()


def test_both_pipeshub_stores_are_selectable() -> None:
    assert {"pipeshub-redis", "pipeshub-etcd"} <= set(config_store_names())


@pytest.mark.usefixtures("pipeshub_settings")
def test_the_redis_store_reads_pipeshubs_document_with_pipeshubs_settings(
    raw_redis: redis.Redis,
) -> None:
    raw_redis.set(AI_MODELS_REDIS_KEY, encrypted_by_pipeshub(pipeshub_ai_models()))

    store = get_config_store("pipeshub-redis")

    assert isinstance(store, PipesHubKVStore)
    assert store.name == "pipeshub-redis"
    assert store.read().body == pipeshub_ai_models()


def test_llmopt_config_store_selects_the_pipeshub_store(raw_redis: redis.Redis) -> None:
    with override_settings(**REDIS_SETTINGS, LLMOPT_CONFIG_STORE="pipeshub-redis"):
        assert get_config_store().name == "pipeshub-redis"


@pytest.mark.parametrize("name", ["pipeshub-redis", "pipeshub-etcd"])
def test_a_missing_secret_key_is_a_configuration_error(name: str) -> None:
    kind = name.removeprefix("pipeshub-")
    with (
        override_settings(PIPESHUB_SECRET_KEY="", PIPESHUB_KV_STORE_TYPE=kind),
        pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set"),
    ):
        get_config_store(name)


@pytest.mark.parametrize(
    ("name", "kv_store_type", "advice"),
    [("pipeshub-redis", "etcd", "pipeshub-etcd"), ("pipeshub-etcd", "redis", "pipeshub-redis")],
)
def test_a_store_that_pipeshub_does_not_use_is_refused(
    name: str, kv_store_type: str, advice: str
) -> None:
    with (
        override_settings(PIPESHUB_SECRET_KEY=SECRET, PIPESHUB_KV_STORE_TYPE=kv_store_type),
        pytest.raises(ImproperlyConfigured, match=f"KV_STORE_TYPE='{kv_store_type}'.*{advice}"),
    ):
        get_config_store(name)


def test_the_etcd_store_reads_pipeshubs_document_with_pipeshubs_settings() -> None:
    require_etcd()
    with running_etcd() as server:
        server.put("/services/aiModels", encrypted_by_pipeshub(pipeshub_ai_models()))
        with override_settings(
            PIPESHUB_SECRET_KEY=SECRET,
            PIPESHUB_KV_STORE_TYPE="etcd",
            PIPESHUB_ETCD_URL=server.url,
            PIPESHUB_ETCD_USERNAME="",
            PIPESHUB_ETCD_PASSWORD="",
            PIPESHUB_ETCD_TIMEOUT=5.0,
        ):
            store = get_config_store("pipeshub-etcd")

            assert store.name == "pipeshub-etcd"
            assert store.read().body == pipeshub_ai_models()


def settings_under(env: dict[str, str]) -> dict[str, Any]:
    """The PIPESHUB_* settings a fresh process computes from `env`."""
    names = [
        "PIPESHUB_SECRET_KEY",
        "PIPESHUB_KV_STORE_TYPE",
        "PIPESHUB_REDIS_HOST",
        "PIPESHUB_REDIS_PORT",
        "PIPESHUB_REDIS_DB",
        "PIPESHUB_REDIS_TLS",
        "PIPESHUB_REDIS_KV_PREFIX",
        "PIPESHUB_REDIS_TIMEOUT",
        "PIPESHUB_ETCD_URL",
        "PIPESHUB_ETCD_TIMEOUT",
    ]
    script = (
        "import json, llmopt_admin.settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in _PIPESHUB_VARIABLES}
    completed = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


_PIPESHUB_VARIABLES = {
    "SECRET_KEY",
    "KV_STORE_TYPE",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_USERNAME",
    "REDIS_PASSWORD",
    "REDIS_DB",
    "REDIS_TLS",
    "REDIS_KV_PREFIX",
    "REDIS_TIMEOUT",
    "ETCD_URL",
    "ETCD_HOST",
    "ETCD_PORT",
    "ETCD_USERNAME",
    "ETCD_PASSWORD",
    "ETCD_TIMEOUT",
}


def test_settings_default_to_pipeshubs_own_defaults() -> None:
    assert settings_under({}) == {
        "PIPESHUB_SECRET_KEY": "",
        "PIPESHUB_KV_STORE_TYPE": "redis",
        "PIPESHUB_REDIS_HOST": "localhost",
        "PIPESHUB_REDIS_PORT": 6379,
        "PIPESHUB_REDIS_DB": 0,
        "PIPESHUB_REDIS_TLS": False,
        "PIPESHUB_REDIS_KV_PREFIX": "pipeshub:kv:",
        "PIPESHUB_REDIS_TIMEOUT": 10.0,
        "PIPESHUB_ETCD_URL": "http://localhost:2379",
        "PIPESHUB_ETCD_TIMEOUT": 5.0,
    }


def test_settings_read_pipeshubs_variables() -> None:
    read = settings_under(
        {
            "SECRET_KEY": "s",
            "KV_STORE_TYPE": " Etcd ",
            "REDIS_HOST": "redis.internal",
            "REDIS_PORT": "6380",
            "REDIS_DB": "3",
            "REDIS_TLS": "true",
            "REDIS_KV_PREFIX": "tenant:kv:",
            "REDIS_TIMEOUT": "2500",
            "ETCD_HOST": "etcd",  # as PipesHub's docker-compose sets it: no scheme
            "ETCD_PORT": "2379",
            "ETCD_TIMEOUT": "1500",
        }
    )
    assert read["PIPESHUB_KV_STORE_TYPE"] == "etcd"
    assert (read["PIPESHUB_REDIS_HOST"], read["PIPESHUB_REDIS_PORT"]) == ("redis.internal", 6380)
    assert (read["PIPESHUB_REDIS_DB"], read["PIPESHUB_REDIS_TLS"]) == (3, True)
    assert read["PIPESHUB_REDIS_KV_PREFIX"] == "tenant:kv:"
    assert read["PIPESHUB_REDIS_TIMEOUT"] == 2.5
    assert read["PIPESHUB_ETCD_URL"] == "http://etcd:2379"
    assert read["PIPESHUB_ETCD_TIMEOUT"] == 1.5
    assert (
        settings_under({"ETCD_URL": "http://etcd-a:2379", "ETCD_HOST": "ignored"})[
            "PIPESHUB_ETCD_URL"
        ]
        == "http://etcd-a:2379"
    )


# --- migrate_aiconfigs --store pipeshub-redis ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("pipeshub_settings")
def test_migrate_aiconfigs_dry_run_on_pipeshub_redis_writes_nothing(
    raw_redis: redis.Redis, tmp_path: Path
) -> None:
    raw = encrypted_by_pipeshub(pipeshub_ai_models())
    raw_redis.set(AI_MODELS_REDIS_KEY, raw)

    code, output = run("--store", "pipeshub-redis", "--dry-run", "--backup-dir", str(tmp_path))

    assert code == 0, output
    assert "optimizationEnabled" in output
    assert raw_redis.get(AI_MODELS_REDIS_KEY) == raw
    assert not any(tmp_path.iterdir())


@pytest.mark.django_db
@pytest.mark.usefixtures("pipeshub_settings")
def test_migrate_aiconfigs_on_pipeshub_redis_touches_only_chat_models_and_rolls_back(
    raw_redis: redis.Redis, tmp_path: Path
) -> None:
    original = pipeshub_ai_models()
    raw_redis.set(AI_MODELS_REDIS_KEY, encrypted_by_pipeshub(original))

    code, output = run("--store", "pipeshub-redis", "--backup-dir", str(tmp_path))

    assert code == 0, output
    migrated = as_pipeshub_reads_it(raw_redis.get(AI_MODELS_REDIS_KEY))
    for kind in ("llm", "slm", "reasoning", "multiModal"):
        for entry in migrated[kind]:
            assert set(NINE) <= set(entry["configuration"]), kind
    assert migrated["embedding"] == original["embedding"]
    chat = {"llm", "slm", "reasoning", "multiModal"}
    untouched = {k: v for k, v in migrated.items() if k not in chat}
    assert untouched == {k: v for k, v in original.items() if k not in chat}
    assert migrated["llm"][0]["configuration"]["apiKey"] == "sk-ant-secret"
    backups = list(tmp_path.iterdir())
    assert len(backups) == 1
    assert str(backups[0]) in output

    again, again_output = run("--store", "pipeshub-redis", "--backup-dir", str(tmp_path))
    assert again == 3, again_output  # nothing to do

    code, output = run("--rollback", str(backups[0]), "--backup-dir", str(tmp_path))

    assert code == 0, output
    assert as_pipeshub_reads_it(raw_redis.get(AI_MODELS_REDIS_KEY)) == original


@pytest.mark.django_db
@pytest.mark.usefixtures("pipeshub_settings")
def test_migrate_aiconfigs_with_a_wrong_secret_key_fails_and_writes_nothing(
    raw_redis: redis.Redis, tmp_path: Path
) -> None:
    raw = encrypted_by_pipeshub(pipeshub_ai_models())
    raw_redis.set(AI_MODELS_REDIS_KEY, raw)

    with override_settings(PIPESHUB_SECRET_KEY="a-wrong-secret"):
        code, output = run("--store", "pipeshub-redis", "--backup-dir", str(tmp_path))

    assert code == 1
    assert "cannot decrypt /services/aiModels: wrong SECRET_KEY?" in output
    assert raw_redis.get(AI_MODELS_REDIS_KEY) == raw


@pytest.mark.django_db
@pytest.mark.usefixtures("pipeshub_settings")
def test_a_pipeshub_write_during_a_migration_is_kept_and_reported(
    raw_redis: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw_redis.set(AI_MODELS_REDIS_KEY, encrypted_by_pipeshub(pipeshub_ai_models()))
    theirs = pipeshub_ai_models()
    theirs["llm"].append({"provider": "gemini", "configuration": {"model": "gemini-2.5-pro"}})
    their_bytes = encrypted_by_pipeshub(theirs)
    real_replace = PipesHubKVStore.write

    def write_after_pipeshub(self: PipesHubKVStore, *args: Any, **kwargs: Any) -> Any:
        raw_redis.set(AI_MODELS_REDIS_KEY, their_bytes)  # PipesHub saves first
        return real_replace(self, *args, **kwargs)

    monkeypatch.setattr(PipesHubKVStore, "write", write_after_pipeshub)

    code, output = run("--store", "pipeshub-redis", "--backup-dir", str(tmp_path))

    assert code == 1, output
    assert raw_redis.get(AI_MODELS_REDIS_KEY) == their_bytes
    assert as_pipeshub_reads_it(raw_redis.get(AI_MODELS_REDIS_KEY)) == theirs
    assert AI_MODELS_KEY in output
