"""`migrate_aiconfigs --rollback FILE` with files that are not backups, and with backups taken
from another store or another deployment: a clear message, a non-zero exit, no traceback and
nothing written."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from llmopt_admin.configs.models import EmbeddedConfigDocument
from llmopt_admin.configs.stores import EmbeddedConfigStore, config_store_location
from optimization.stores.arango import ArangoConfigStore
from tests.optimization.stores.fake_arango import FakeArango

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
DOCUMENT = {"llm": [{"provider": "anthropic", "configuration": {"model": "claude-sonnet-4-5"}}]}


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("migrate_aiconfigs", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


def backup(store: EmbeddedConfigStore, directory: Path) -> tuple[Path, dict[str, Any]]:
    """Migrate one document; the backup file and its content."""
    store.write("ai_models_config", DOCUMENT, expected_revision=None)
    assert run("--store", "embedded", "--backup-dir", str(directory))[0] == 0
    [path] = sorted(directory.glob("aiconfigs-*.json"))
    return path, json.loads(path.read_text())


def a_backup(**overrides: Any) -> str:
    payload: dict[str, Any] = {
        "format": "llmopt-aiconfigs-backup",
        "version": 1,
        "store": "embedded",
        "documents": [{"key": "k", "revision": "1", "migrated_revision": "2", "body": {}}],
    }
    for name, value in overrides.items():
        if value is ...:
            del payload[name]
        else:
            payload[name] = value
    return json.dumps(payload)


NOT_BACKUPS: list[tuple[str, str | bytes, str]] = [
    ("empty", "", "not valid JSON"),
    ("not json", "{not json", "not valid JSON"),
    ("binary", b"\xff\xfe\x00garbage", "not valid JSON"),
    ("a list", "[1, 2]", "not an aiconfigs backup"),
    ("a string", '"llmopt-aiconfigs-backup"', "not an aiconfigs backup"),
    ("deeply nested", "[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ("no format", a_backup(format=...), "not an aiconfigs backup"),
    ("no version", a_backup(version=...), "version"),
    ("a version that is true", a_backup(version=True), "version"),
    ("no documents", a_backup(documents=...), "documents"),
    ("documents not a list", a_backup(documents={"k": {}}), "documents"),
    ("a document without a body", a_backup(documents=[{"key": "k", "revision": "1"}]), "body"),
    (
        "a body that is a list",
        a_backup(documents=[{"key": "k", "revision": "1", "body": []}]),
        "body",
    ),
    ("a store that is a list", a_backup(store=["embedded"]), "store"),
    ("a store that is a number", a_backup(store=5), "store"),
    ("a location that is an object", a_backup(location={"host": "x"}), "location"),
    (
        "the same document twice",
        a_backup(
            documents=[{"key": "k", "revision": "1", "body": {}}] * 2,
        ),
        "twice",
    ),
]


@pytest.mark.parametrize(("what", "content", "words"), NOT_BACKUPS, ids=[n[0] for n in NOT_BACKUPS])
def test_a_file_that_is_not_a_backup_is_refused_with_a_clear_message(
    tmp_path: Path, what: str, content: str | bytes, words: str
) -> None:
    path = tmp_path / "backup.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    EmbeddedConfigDocument.objects.create(key="k", body={"llm": []}, revision=2)

    with pytest.raises(CommandError) as caught:
        run("--rollback", str(path), "--backup-dir", str(tmp_path))

    assert caught.value.returncode == 2
    assert str(path) in str(caught.value)
    assert words in str(caught.value)
    assert EmbeddedConfigDocument.objects.get(key="k").body == {"llm": []}


def test_a_directory_is_not_a_backup(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read backup") as caught:
        run("--rollback", str(tmp_path), "--backup-dir", str(tmp_path))

    assert caught.value.returncode == 2


def test_the_command_line_shows_the_message_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("[1, 2, 3]")

    finished = subprocess.run(
        [sys.executable, "manage.py", "migrate_aiconfigs", "--rollback", str(path)],
        cwd=ROOT,
        env=os.environ | {"LLMOPT_BACKUP_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 2
    assert "not an aiconfigs backup" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_new_backups_record_the_store_and_the_deployment(
    store: EmbeddedConfigStore, tmp_path: Path
) -> None:
    _path, saved = backup(store, tmp_path)

    assert saved["store"] == "embedded"
    assert saved["location"] == config_store_location(store)
    assert "database" in saved["location"]


def test_a_backup_from_another_deployment_is_refused_and_names_both(
    store: EmbeddedConfigStore, tmp_path: Path
) -> None:
    path, saved = backup(store, tmp_path)
    saved["location"] = "the Django database 'llmopt' on prod-db:5432 (postgresql)"
    path.write_text(json.dumps(saved))
    migrated = store.read("ai_models_config")

    with pytest.raises(CommandError) as caught:
        run("--rollback", str(path), "--backup-dir", str(tmp_path))

    message = str(caught.value)
    assert caught.value.returncode == 2
    assert "another deployment" in message
    assert "prod-db:5432" in message
    assert str(config_store_location(store)) in message
    assert store.read("ai_models_config") == migrated


def test_a_backup_from_another_deployment_can_be_restored_deliberately(
    store: EmbeddedConfigStore, tmp_path: Path
) -> None:
    path, saved = backup(store, tmp_path)
    saved["location"] = "the Django database 'llmopt' on prod-db:5432 (postgresql)"
    path.write_text(json.dumps(saved))

    code, _out, _err = run(
        "--rollback", str(path), "--allow-other-deployment", "--backup-dir", str(tmp_path)
    )

    assert code == 0
    assert store.read("ai_models_config").body == DOCUMENT


def test_an_old_backup_without_a_location_is_restored_with_a_warning(
    store: EmbeddedConfigStore, tmp_path: Path
) -> None:
    path, saved = backup(store, tmp_path)
    del saved["location"]
    path.write_text(json.dumps(saved))

    code, _out, err = run("--rollback", str(path), "--backup-dir", str(tmp_path))

    assert code == 0
    assert "does not record which deployment" in err
    assert store.read("ai_models_config").body == DOCUMENT


def test_an_old_backup_without_a_store_goes_to_the_chosen_store_with_a_warning(
    store: EmbeddedConfigStore, tmp_path: Path
) -> None:
    path, saved = backup(store, tmp_path)
    del saved["store"], saved["location"]
    path.write_text(json.dumps(saved))

    code, _out, err = run("--rollback", str(path), "--backup-dir", str(tmp_path))

    assert code == 0
    assert "does not record which store" in err
    assert store.read("ai_models_config").body == DOCUMENT


def test_a_backup_from_a_store_this_deployment_does_not_have_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "backup.json"
    path.write_text(a_backup(store="mongo"))

    with pytest.raises(CommandError, match="'mongo' store") as caught:
        run("--rollback", str(path), "--backup-dir", str(tmp_path))

    assert caught.value.returncode == 2


def test_the_arango_store_says_where_it_is() -> None:
    # ArangoConfigStore keeps its location in the private `_location`; this fails, naming it,
    # if a release renames it.
    store = ArangoConfigStore.connect(
        url="http://arango.invalid:8529",
        database="es",
        username="root",
        password="secret-password",
        http_client=FakeArango().client(),
    )

    location = config_store_location(store)

    assert location is not None, "ArangoConfigStore._location is gone"
    assert "arango.invalid:8529" in location
    assert "secret-password" not in location


def test_when_the_state_before_the_rollback_cannot_be_saved_nothing_is_restored(
    store: EmbeddedConfigStore, tmp_path: Path
) -> None:
    path, _saved = backup(store, tmp_path / "backups")
    migrated = store.read("ai_models_config")
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the backup directory should be")

    code, _out, err = run("--rollback", str(path), "--backup-dir", str(blocked))

    assert code == 1
    assert "not restored" in err
    assert store.read("ai_models_config") == migrated
