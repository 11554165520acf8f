"""`manage.py migrate_aiconfigs` on the embedded store (PostgreSQL) and on ArangoDB (fake)."""

from __future__ import annotations

import copy
import io
import json
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from llmopt_admin.configs import stores
from llmopt_admin.configs.models import AuditEntry
from llmopt_admin.configs.stores import EmbeddedConfigStore
from optimization.config import OPTIMIZATION_DEFAULTS
from optimization.stores.arango import ArangoConfigStore
from optimization.stores.base import ConfigStore, StoredDocument, StoreError
from tests.optimization.stores.fake_arango import FakeArango

pytestmark = pytest.mark.django_db

NINE = list(OPTIMIZATION_DEFAULTS)
SECRET = "sk-ant-api03-very-secret"


def pipeshub_document() -> dict[str, Any]:
    return {
        "llm": [
            {
                "provider": "anthropic",
                "isDefault": True,
                "isMultimodal": True,
                "modelKey": "k1",
                "configuration": {"model": "claude-sonnet-4-5", "apiKey": SECRET},
            },
            {
                "provider": "openAI",
                "isDefault": False,
                "configuration": {"model": "gpt-4o", "apiKey": "sk-openai", "cachingEnabled": True},
            },
        ],
        "slm": [{"provider": "ollama", "configuration": {"model": "llama3"}}],
        "embedding": [{"provider": "openAI", "configuration": {"model": "text-embedding-3"}}],
        "customSystemPrompt": "Be brief.",
    }


def run(*args: str) -> tuple[int, str, str]:
    """Run the command; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("migrate_aiconfigs", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def backup_dir(tmp_path: Path) -> Path:
    return tmp_path / "backups"


@pytest.fixture
def store() -> EmbeddedConfigStore:
    return EmbeddedConfigStore()


@pytest.fixture
def use_store(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Callable[[], ConfigStore]], None]:
    """Make a store selectable by name for this test only."""
    monkeypatch.setattr(stores, "STORE_FACTORIES", dict(stores.STORE_FACTORIES))

    def register(name: str, factory: Callable[[], ConfigStore]) -> None:
        stores.STORE_FACTORIES[name] = factory

    return register


def backups(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json")) if directory.exists() else []


def test_a_dry_run_prints_the_diff_per_document_and_provider_and_writes_nothing(
    store: EmbeddedConfigStore, backup_dir: Path
) -> None:
    before = store.write("ai_models_config", pipeshub_document(), expected_revision=None)

    code, out, err = run("--dry-run", "--store", "embedded", "--backup-dir", str(backup_dir))

    assert code == 0
    assert "ai_models_config (revision 1): would migrate" in out
    assert "  llm[0] anthropic / claude-sonnet-4-5" in out
    assert "    + optimizationEnabled: false" in out
    assert '    + cacheBreakpoints: "auto"' in out
    assert "  slm[0] ollama / llama3" in out
    assert "embedding" not in out
    assert out.count("+ cachingEnabled") == 2  # llm[0] and slm[0]; llm[1] already has it
    assert "Dry run, nothing written: would migrate 1" in out
    assert SECRET not in out + err
    assert store.read("ai_models_config") == before
    assert backups(backup_dir) == []
    assert AuditEntry.objects.get().action == "migration.dry_run"


def test_a_run_backs_up_migrates_and_verifies_each_document(
    store: EmbeddedConfigStore, backup_dir: Path
) -> None:
    original = pipeshub_document()
    store.write("ai_models_config", original, expected_revision=None)

    code, out, err = run("--store", "embedded", "--backup-dir", str(backup_dir))

    assert (code, err) == (0, "")
    migrated = store.read("ai_models_config")
    assert migrated.revision == "2"
    for entry in migrated.body["llm"] + migrated.body["slm"]:
        assert set(NINE) <= set(entry["configuration"])
    assert migrated.body["llm"][1]["configuration"]["cachingEnabled"] is True  # kept
    assert migrated.body["embedding"] == original["embedding"]
    assert migrated.body["llm"][0]["configuration"]["apiKey"] == SECRET

    [backup] = backups(backup_dir)
    assert f"Backup written before any change: {backup}" in out
    assert "[1/1] ai_models_config: migrated (revision 1 -> 2), 26 fields added" in out
    assert f"--rollback {backup}" in out
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    saved = json.loads(backup.read_text())
    assert saved["store"] == "embedded"
    assert saved["documents"] == [
        {"key": "ai_models_config", "revision": "1", "migrated_revision": "2", "body": original}
    ]
    assert [p.name for p in backup_dir.iterdir()] == [backup.name]  # no temporary files left


def test_the_backup_is_on_disk_before_the_first_write(
    store: EmbeddedConfigStore, backup_dir: Path, use_store: Callable[..., None]
) -> None:
    store.write("a", pipeshub_document(), expected_revision=None)
    seen_at_first_write: list[list[Path]] = []

    class Watching(EmbeddedConfigStore):
        def write(
            self, key: str, body: Mapping[str, Any], *, expected_revision: str | None
        ) -> StoredDocument:
            seen_at_first_write.append(backups(backup_dir))
            return super().write(key, body, expected_revision=expected_revision)

    use_store("watching", Watching)
    code, _, _ = run("--store", "watching", "--backup-dir", str(backup_dir))

    assert code == 0
    assert len(seen_at_first_write[0]) == 1
    assert json.loads(seen_at_first_write[0][0].read_text())["documents"][0]["key"] == "a"


def test_a_second_run_has_nothing_to_do_and_exits_3(
    store: EmbeddedConfigStore, backup_dir: Path
) -> None:
    store.write("ai_models_config", pipeshub_document(), expected_revision=None)
    assert run("--store", "embedded", "--backup-dir", str(backup_dir))[0] == 0
    after_first = store.read("ai_models_config")

    code, out, err = run("--store", "embedded", "--backup-dir", str(backup_dir))

    assert code == 3
    assert "ai_models_config (revision 2): already migrated" in out
    assert err == ""
    assert store.read("ai_models_config") == after_first
    assert len(backups(backup_dir)) == 1  # no backup when nothing is written


def test_an_empty_store_has_nothing_to_do(backup_dir: Path) -> None:
    code, out, _ = run("--store", "embedded", "--backup-dir", str(backup_dir))

    assert code == 3
    assert "no documents" in out


def test_malformed_documents_are_reported_by_key_and_path_and_the_others_migrate(
    store: EmbeddedConfigStore, backup_dir: Path
) -> None:
    broken = {"llm": [{"provider": "openAI", "configuration": "gpt-4o"}], "slm": {"x": 1}}
    store.write("broken", broken, expected_revision=None)
    store.write("good", pipeshub_document(), expected_revision=None)

    code, _, err = run("--store", "embedded", "--backup-dir", str(backup_dir))

    assert code == 1
    assert "broken (revision 1): malformed - left untouched" in err
    assert "    x $.llm[0].configuration: must be a JSON object; it is a string" in err
    assert "    x $.slm: must be a list of models, not an object" in err
    assert "Not done for 1 document(s): broken" in err
    assert store.read("broken").body == broken
    assert store.read("broken").revision == "1"
    assert set(NINE) <= set(store.read("good").body["llm"][0]["configuration"])
    saved = json.loads(backups(backup_dir)[0].read_text())
    assert [d["key"] for d in saved["documents"]] == ["good"]


def test_an_invalid_existing_value_is_kept_and_shown(
    store: EmbeddedConfigStore, backup_dir: Path
) -> None:
    document = pipeshub_document()
    document["llm"][1]["configuration"]["cacheTTL"] = 42
    store.write("ai_models_config", document, expected_revision=None)

    dry_code, dry_out, _ = run("--dry-run", "--store", "embedded")
    code, out, _ = run("--store", "embedded", "--backup-dir", str(backup_dir))

    assert (dry_code, code) == (0, 0)
    line = "    ! $.llm[1].configuration.cacheTTL: kept as it is: cacheTTL must be 300"
    assert line in dry_out
    assert line in out
    assert store.read("ai_models_config").body["llm"][1]["configuration"]["cacheTTL"] == 42


def test_a_revision_conflict_fails_that_document_and_the_others_proceed(
    store: EmbeddedConfigStore, backup_dir: Path, use_store: Callable[..., None]
) -> None:
    for key in ("a", "b", "c"):
        store.write(key, pipeshub_document(), expected_revision=None)
    operator_edit = {"llm": [{"provider": "openAI", "configuration": {"model": "edited"}}]}

    class Racing(EmbeddedConfigStore):
        """Someone saves document b between the migration's read and its write."""

        def write(
            self, key: str, body: Mapping[str, Any], *, expected_revision: str | None
        ) -> StoredDocument:
            if key == "b" and body != operator_edit:
                super().write("b", operator_edit, expected_revision=expected_revision)
            return super().write(key, body, expected_revision=expected_revision)

    use_store("racing", Racing)
    code, out, err = run("--store", "racing", "--backup-dir", str(backup_dir))

    assert code == 1
    assert "[2/3] b: failed: changed by someone else since it was read (revision 1 is now 2)" in err
    assert "Not done for 1 document(s): b" in err
    assert "[3/3] c: migrated" in out
    assert store.read("b").body == operator_edit
    assert set(NINE) <= set(store.read("a").body["llm"][0]["configuration"])
    assert set(NINE) <= set(store.read("c").body["llm"][0]["configuration"])
    saved = json.loads(backups(backup_dir)[0].read_text())
    assert {d["key"]: d["migrated_revision"] for d in saved["documents"]} == {
        "a": "2",
        "b": None,
        "c": "2",
    }


def test_when_the_backup_cannot_be_written_nothing_is_written(
    store: EmbeddedConfigStore, tmp_path: Path
) -> None:
    store.write("ai_models_config", pipeshub_document(), expected_revision=None)
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")

    code, _, err = run("--store", "embedded", "--backup-dir", str(not_a_directory))

    assert code == 1
    assert "not migrated: the backup" in err
    assert store.read("ai_models_config").revision == "1"


def test_progress_is_shown_for_many_documents(store: EmbeddedConfigStore, backup_dir: Path) -> None:
    for n in range(25):
        store.write(f"doc{n:02d}", pipeshub_document(), expected_revision=None)

    code, out, _ = run("--store", "embedded", "--backup-dir", str(backup_dir))

    assert code == 0
    assert "[1/25] doc00: migrated" in out
    assert "[25/25] doc24: migrated" in out
    assert "migrated 25 (store embedded)" in out


@pytest.fixture
def migrated(store: EmbeddedConfigStore, backup_dir: Path) -> tuple[Path, dict[str, Any]]:
    """Two documents migrated by the command; yields the backup file and the originals."""
    originals = {"one": pipeshub_document(), "two": pipeshub_document()}
    originals["two"]["llm"][0]["provider"] = "bedrock"
    for key, body in originals.items():
        store.write(key, body, expected_revision=None)
    assert run("--store", "embedded", "--backup-dir", str(backup_dir))[0] == 0
    [backup] = backups(backup_dir)
    return backup, originals


def test_rollback_restores_exactly_the_backed_up_bodies(
    store: EmbeddedConfigStore, backup_dir: Path, migrated: tuple[Path, dict[str, Any]]
) -> None:
    backup, originals = migrated

    code, out, err = run("--rollback", str(backup), "--backup-dir", str(backup_dir))

    assert (code, err) == (0, "")
    assert {doc.key: doc.body for doc in store.list()} == originals
    assert "[2/2] two: restored (revision 2 -> 3)" in out
    assert "Rollback: restored 2 (store embedded)." in out
    pre = next(p for p in backups(backup_dir) if "pre-rollback" in p.name)
    assert f"State before the rollback saved to: {pre}" in out
    assert stat.S_IMODE(pre.stat().st_mode) == 0o600
    assert {d["key"] for d in json.loads(pre.read_text())["documents"]} == {"one", "two"}


def test_rollback_refuses_a_document_changed_since_unless_forced(
    store: EmbeddedConfigStore, backup_dir: Path, migrated: tuple[Path, dict[str, Any]]
) -> None:
    backup, originals = migrated
    current = store.read("two")
    edited = copy.deepcopy(current.body)
    edited["llm"][0]["configuration"]["cachingEnabled"] = True
    store.write("two", edited, expected_revision=current.revision)

    code, out, err = run("--rollback", str(backup), "--backup-dir", str(backup_dir))

    assert code == 1
    assert (
        "two (revision 3): refused - changed since the migration (the migration left "
        "revision 2, now 3); --force restores it anyway"
    ) in err
    assert store.read("one").body == originals["one"]  # the unchanged one is restored
    assert store.read("two").body == edited

    code, out, err = run("--rollback", str(backup), "--force", "--backup-dir", str(backup_dir))

    assert (code, err) == (0, "")
    assert "one (revision 3): already as in the backup" in out
    assert store.read("two").body == originals["two"]


def test_rolling_back_twice_has_nothing_to_do(
    backup_dir: Path, migrated: tuple[Path, dict[str, Any]]
) -> None:
    backup, _ = migrated
    assert run("--rollback", str(backup), "--backup-dir", str(backup_dir))[0] == 0

    code, out, _ = run("--rollback", str(backup), "--backup-dir", str(backup_dir))

    assert code == 3
    assert "Rollback: already as in the backup 2" in out


def test_a_deleted_document_is_refused_and_recreated_with_force(
    store: EmbeddedConfigStore, backup_dir: Path, migrated: tuple[Path, dict[str, Any]]
) -> None:
    from llmopt_admin.configs.models import EmbeddedConfigDocument

    backup, originals = migrated
    EmbeddedConfigDocument.objects.filter(key="one").delete()

    code, _, err = run("--rollback", str(backup), "--backup-dir", str(backup_dir))
    assert code == 1
    assert "one: refused - deleted since the migration" in err

    code, _, _ = run("--rollback", str(backup), "--force", "--backup-dir", str(backup_dir))
    assert code == 0
    assert store.read("one").body == originals["one"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read backup"),
        ("{not json", "cannot read backup"),
        ('{"format": "something-else"}', "is not an aiconfigs backup"),
        (
            '{"format": "llmopt-aiconfigs-backup", "version": 1, "documents": [{"key": 1}]}',
            "is damaged",
        ),
    ],
)
def test_an_unusable_backup_file_is_a_usage_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "backup.json"
    if content is not None:
        path.write_text(content)

    with pytest.raises(CommandError, match=message) as caught:
        run("--rollback", str(path), "--store", "embedded", "--backup-dir", str(tmp_path))

    assert caught.value.returncode == 2


def test_a_backup_is_never_restored_into_another_store(
    backup_dir: Path, migrated: tuple[Path, dict[str, Any]]
) -> None:
    backup, _ = migrated

    with pytest.raises(CommandError, match="taken from the 'embedded' store") as caught:
        run("--rollback", str(backup), "--store", "arango")

    assert caught.value.returncode == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--force"], "--force only applies to --rollback"),
        (["--dry-run", "--rollback", "x.json"], "cannot be combined"),
    ],
)
def test_contradictory_options_are_usage_errors(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message) as caught:
        run(*args)

    assert caught.value.returncode == 2


def test_every_run_is_audited_with_secrets_masked(
    store: EmbeddedConfigStore, backup_dir: Path
) -> None:
    store.write("ai_models_config", pipeshub_document(), expected_revision=None)
    run("--dry-run", "--store", "embedded")
    run("--store", "embedded", "--backup-dir", str(backup_dir))
    run("--rollback", str(backups(backup_dir)[0]), "--backup-dir", str(backup_dir))

    entries = list(AuditEntry.objects.order_by("id"))

    assert [e.action for e in entries] == [
        "migration.dry_run",
        "migration.run",
        "migration.rollback",
    ]
    assert all(
        e.actor_label.startswith("cli") and e.target == "aiconfigs@embedded" for e in entries
    )
    run_entry = entries[1].changes
    assert run_entry["documents"]["ai_models_config"]["status"] == "migrated"
    assert run_entry["documents"]["ai_models_config"]["revision"] == {"old": "1", "new": "2"}
    assert (
        "$.llm[0].configuration.batchMaxSize" in run_entry["documents"]["ai_models_config"]["added"]
    )
    assert run_entry["backup"] == str(backups(backup_dir)[0])
    assert entries[2].changes["documents"]["ai_models_config"]["status"] == "restored"
    assert SECRET not in json.dumps([e.changes for e in entries])


def test_it_works_the_same_on_arango(backup_dir: Path, use_store: Callable[..., None]) -> None:
    server = FakeArango()
    server.create_database("es", ["aiconfigs"])

    def arango() -> ArangoConfigStore:
        return ArangoConfigStore.connect(
            url="http://arango.invalid:8529",
            database="es",
            username="root",
            password="",
            http_client=server.client(),
        )

    use_store("arango", arango)
    original = arango().write("ai_models_config", pipeshub_document(), expected_revision=None)

    code, _, _ = run("--store", "arango", "--backup-dir", str(backup_dir))

    assert code == 0
    stored = server.documents("es", "aiconfigs")["ai_models_config"]
    assert set(NINE) <= set(stored["llm"][0]["configuration"])
    assert stored["embedding"] == original.body["embedding"]
    [backup] = backups(backup_dir)
    assert json.loads(backup.read_text())["documents"][0]["migrated_revision"] == stored["_rev"]

    code, _, _ = run("--rollback", str(backup), "--backup-dir", str(backup_dir))

    assert code == 0
    assert arango().read("ai_models_config").body == original.body
    assert run("--store", "arango", "--dry-run")[0] == 0  # migratable again after the rollback


class Unreachable(EmbeddedConfigStore):
    name = "unreachable"

    def list(self) -> list[StoredDocument]:
        raise StoreError("cannot reach ArangoDB at http://127.0.0.1:9: connection refused")


def test_an_unreachable_store_fails_clearly_and_is_audited(
    backup_dir: Path, use_store: Callable[..., None]
) -> None:
    use_store("unreachable", Unreachable)

    code, _, err = run("--store", "unreachable", "--backup-dir", str(backup_dir))

    assert code == 1
    assert "connection refused" in err
    entry = AuditEntry.objects.get()
    assert entry.changes["documents"]["(store)"]["status"] == "failed"


def test_a_write_that_does_not_read_back_is_reported_as_failed(
    store: EmbeddedConfigStore, backup_dir: Path, use_store: Callable[..., None]
) -> None:
    store.write("a", pipeshub_document(), expected_revision=None)

    class Lossy(EmbeddedConfigStore):
        """A store that drops a field on the way in (the verification must notice)."""

        def write(
            self, key: str, body: Mapping[str, Any], *, expected_revision: str | None
        ) -> StoredDocument:
            trimmed = {k: v for k, v in body.items() if k != "customSystemPrompt"}
            return super().write(key, trimmed, expected_revision=expected_revision)

    use_store("lossy", Lossy)
    code, _, err = run("--store", "lossy", "--backup-dir", str(backup_dir))

    assert code == 1
    assert "[1/1] a: failed (revision 1 -> 2): written (revision 2) but re-reading it shows" in err
    saved = json.loads(backups(backup_dir)[0].read_text())
    assert saved["documents"][0]["migrated_revision"] == "2"  # so a rollback can undo it


def test_a_document_deleted_mid_run_fails_alone(
    store: EmbeddedConfigStore, backup_dir: Path, use_store: Callable[..., None]
) -> None:
    from llmopt_admin.configs.models import EmbeddedConfigDocument

    for key in ("a", "b"):
        store.write(key, pipeshub_document(), expected_revision=None)

    class Deleting(EmbeddedConfigStore):
        def write(
            self, key: str, body: Mapping[str, Any], *, expected_revision: str | None
        ) -> StoredDocument:
            if key == "a":
                EmbeddedConfigDocument.objects.filter(key="a").delete()
            return super().write(key, body, expected_revision=expected_revision)

    use_store("deleting", Deleting)
    code, out, err = run("--store", "deleting", "--backup-dir", str(backup_dir))

    assert code == 1
    assert "a: failed: deleted since it was read; nothing written" in err
    assert "[2/2] b: migrated" in out


def test_rollback_after_an_interrupted_run_restores_only_what_is_safe(
    store: EmbeddedConfigStore, backup_dir: Path, tmp_path: Path
) -> None:
    """A backup whose run stopped before recording post-migration revisions."""
    untouched = store.write("untouched", pipeshub_document(), expected_revision=None)
    changed = store.write("changed", pipeshub_document(), expected_revision=None)
    store.write("changed", {"llm": []}, expected_revision=changed.revision)
    backup = tmp_path / "interrupted.json"
    backup.write_text(
        json.dumps(
            {
                "format": "llmopt-aiconfigs-backup",
                "version": 1,
                "store": "embedded",
                "documents": [
                    {
                        "key": k,
                        "revision": "1",
                        "migrated_revision": None,
                        "body": pipeshub_document(),
                    }
                    for k in ("changed", "untouched")
                ],
            }
        )
    )

    code, out, err = run("--rollback", str(backup), "--backup-dir", str(backup_dir))

    assert code == 1
    assert "changed (revision 2): refused - the migration did not record writing it" in err
    assert "untouched (revision 1): already as in the backup" in out
    assert store.read("untouched") == untouched
    assert store.read("changed").body == {"llm": []}
