"""Running `migrate_aiconfigs` over a config store: dry run, backup, migrate, verify, roll back.

The pure transformation lives in `optimization.migration`; this module adds the I/O around it:
per-document compare-and-set writes, a backup file written before anything changes, re-reading
to verify, restoring a backup, and an audit entry for every run. The management command
`migrate_aiconfigs` is a thin shell over `migration_run` and `migration_rollback`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from llmopt_admin.configs.audit import audit_record
from llmopt_admin.configs.stores import config_store_location
from optimization.migration import MigrationChanges, migrate_aiconfigs
from optimization.stores.base import (
    ConfigStore,
    DocumentNotFound,
    RevisionConflict,
    StoredDocument,
    StoreError,
)

BACKUP_FORMAT = "llmopt-aiconfigs-backup"
BACKUP_VERSION = 1

ACTION_DRY_RUN = "migration.dry_run"
ACTION_RUN = "migration.run"
ACTION_ROLLBACK = "migration.rollback"

Status = Literal[
    "migrated",
    "would migrate",
    "already migrated",
    "malformed",
    "failed",
    "restored",
    "already as in the backup",
    "refused",
]
FAILED_STATUSES: frozenset[str] = frozenset({"malformed", "failed", "refused"})
DONE_STATUSES: frozenset[str] = frozenset({"migrated", "would migrate", "restored"})

# Exit codes of the command (documented in its --help).
EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOTHING_TO_DO = 3

Progress = Callable[["DocumentOutcome", int, int], None]


class BackupError(Exception):
    """A backup file could not be written, or read back as a backup."""


@dataclass
class DocumentOutcome:
    """What happened to one document in a run."""

    key: str
    status: Status
    message: str = ""
    old_revision: str | None = None
    new_revision: str | None = None
    changes: MigrationChanges | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status}
        if self.message:
            data["message"] = self.message
        if self.old_revision is not None or self.new_revision is not None:
            data["revision"] = {"old": self.old_revision, "new": self.new_revision}
        if self.changes is not None:
            summary = self.changes.to_json()
            data.update({name: value for name, value in summary.items() if value})
        return data


@dataclass
class RunReport:
    """A whole run: one outcome per document, the backup written, and the exit code."""

    action: str
    store: str
    outcomes: list[DocumentOutcome] = field(default_factory=list)
    backup: Path | None = None
    pre_rollback_backup: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def keys_with(self, statuses: frozenset[str]) -> list[str]:
        return [o.key for o in self.outcomes if o.status in statuses]

    @property
    def exit_code(self) -> int:
        if self.keys_with(FAILED_STATUSES):
            return EXIT_FAILED
        if self.keys_with(DONE_STATUSES):
            return EXIT_DONE
        return EXIT_NOTHING_TO_DO

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for outcome in self.outcomes:
            counted[outcome.status] = counted.get(outcome.status, 0) + 1
        return counted

    def audit_changes(self) -> dict[str, Any]:
        changes: dict[str, Any] = {
            "store": self.store,
            "exit_code": self.exit_code,
            "counts": self.counts(),
            "documents": {o.key: o.to_json() for o in self.outcomes},
        }
        if self.backup is not None:
            changes["backup"] = str(self.backup)
        if self.pre_rollback_backup is not None:
            changes["pre_rollback_backup"] = str(self.pre_rollback_backup)
        if self.warnings:
            changes["warnings"] = list(self.warnings)
        return changes


# --- backups --------------------------------------------------------------------------------


def backup_path(directory: Path, store_name: str, *, now: datetime | None = None) -> Path:
    """A new timestamped backup file name in `directory` (UTC, microseconds: never reused)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    return directory / f"aiconfigs-{store_name}-{stamp}.json"


def backup_write(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` to `path` atomically, readable by the owner only (it holds apiKeys).

    The data goes to a temporary file in the same directory (created 0600), is flushed to disk,
    then renamed over `path`, so a reader never sees half a backup.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def backup_payload(store: ConfigStore, documents: list[StoredDocument]) -> dict[str, Any]:
    """The backup of `documents` as read, before anything is written.

    `store` and `location` say where they came from (the store's name, and its server and
    database), so a rollback can refuse to restore them into another store or deployment.
    """
    return {
        "format": BACKUP_FORMAT,
        "version": BACKUP_VERSION,
        "created_at": datetime.now(UTC).isoformat(),
        "store": store.name,
        "location": config_store_location(store),
        "documents": [
            {
                "key": doc.key,
                "revision": doc.revision,
                # Filled in once the migration wrote the document: rollback refuses a
                # document whose revision moved on from here.
                "migrated_revision": None,
                "body": doc.body,
            }
            for doc in documents
        ],
    }


def backup_read(path: Path) -> dict[str, Any]:
    """Load and check a backup file; raises BackupError naming the file and what is wrong."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BackupError(f"cannot read backup {path}: {exc.strerror or exc}") from exc
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BackupError(f"cannot read backup {path}: not valid JSON ({str(exc)[:200]})") from exc
    if not isinstance(payload, dict) or payload.get("format") != BACKUP_FORMAT:
        raise BackupError(
            f'{path} is not an aiconfigs backup (no "format": {json.dumps(BACKUP_FORMAT)})'
        )
    problem = _backup_problem(payload)
    if problem:
        raise BackupError(f"backup {path} is damaged: {problem}")
    return payload


def _backup_problem(payload: dict[str, Any]) -> str:
    """What breaks the backup format in `payload` ("" when nothing does)."""
    version = payload.get("version")
    if type(version) is not int or version != BACKUP_VERSION:
        return f"its version is {_shown(version)}; expected {BACKUP_VERSION}"
    for name in ("store", "location"):  # absent from backups written by older versions
        if payload.get(name) is not None and not isinstance(payload[name], str):
            return f'"{name}" must be text; it is {_shown(payload[name])}'
    documents = payload.get("documents")
    if not isinstance(documents, list):
        return f'"documents" must be a list; it is {_shown(documents)}'
    seen: set[str] = set()
    for position, document in enumerate(documents):
        where = f"documents[{position}]"
        if not isinstance(document, dict):
            return f"{where} must be an object with key, revision and body"
        for name, kind in (("key", str), ("revision", str), ("body", dict)):
            if not isinstance(document.get(name), kind):
                what = "an object" if kind is dict else "text"
                return f"{where}.{name} must be {what}; it is {_shown(document.get(name))}"
        migrated = document.get("migrated_revision")
        if migrated is not None and not isinstance(migrated, str):
            return f"{where}.migrated_revision must be text or null"
        if document["key"] in seen:
            return f"{where} saves document {document['key']!r} twice"
        seen.add(document["key"])
    return ""


def _shown(value: Any) -> str:
    if value is None:
        return "missing"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def backup_origin_problem(payload: dict[str, Any], store: ConfigStore) -> str:
    """Why `payload` should not be restored into `store` ("" when it may): another deployment."""
    saved, here = payload.get("location"), config_store_location(store)
    if saved is None or here is None or saved == here:
        return ""
    return f"it was taken from another deployment ({saved}), not this one ({here})"


def backup_origin_warnings(payload: dict[str, Any], store: ConfigStore) -> list[str]:
    """What an older backup cannot vouch for: which store or deployment it came from."""
    warnings = []
    if payload.get("store") is None:
        warnings.append(
            f"the backup does not record which store it was taken from (written by an older "
            f"version); restoring into the {store.name!r} store"
        )
    if payload.get("location") is None:
        here = config_store_location(store) or "unknown"
        warnings.append(
            "the backup does not record which deployment it was taken from (written by an "
            f"older version); make sure it is this one's: {here}"
        )
    return warnings


# --- migrate --------------------------------------------------------------------------------


def migration_run(
    *,
    store: ConfigStore,
    dry_run: bool,
    backup_dir: Path,
    actor_label: str,
    progress: Progress | None = None,
    on_backup: Callable[[Path], None] | None = None,
) -> RunReport:
    """Migrate every document of `store` (or, with `dry_run`, say what would change).

    A real run writes the backup of every document it will touch before writing any, then
    writes each with its revision checked, then re-reads it to verify. A document that fails
    (malformed, changed meanwhile, not verified) does not stop the others. Always audited.
    """
    report = RunReport(action=ACTION_DRY_RUN if dry_run else ACTION_RUN, store=store.name)
    try:
        try:
            documents = store.list()
        except StoreError as exc:
            report.outcomes.append(DocumentOutcome("(store)", "failed", f"cannot list: {exc}"))
            return report

        planned: list[tuple[StoredDocument, Any, MigrationChanges]] = []
        for doc in documents:
            new_body, changes = migrate_aiconfigs(doc.body)
            if changes.malformed:
                outcome = DocumentOutcome(
                    doc.key, "malformed", "left untouched", doc.revision, None, changes
                )
                report.outcomes.append(outcome)
            elif not changes.changed:
                report.outcomes.append(
                    DocumentOutcome(doc.key, "already migrated", "", doc.revision, None, changes)
                )
            elif dry_run:
                report.outcomes.append(
                    DocumentOutcome(doc.key, "would migrate", "", doc.revision, None, changes)
                )
            else:
                planned.append((doc, new_body, changes))

        if planned:
            path = backup_path(backup_dir, store.name)
            payload = backup_payload(store, [doc for doc, _, _ in planned])
            try:
                backup_write(path, payload)  # before anything is written
            except OSError as exc:
                reason = f"not migrated: the backup {path} could not be written ({exc})"
                for doc, _, changes in planned:
                    report.outcomes.append(
                        DocumentOutcome(doc.key, "failed", reason, doc.revision, None, changes)
                    )
                return report
            report.backup = path
            if on_backup is not None:
                on_backup(path)
            for position, (doc, new_body, changes) in enumerate(planned, start=1):
                outcome = _migrate_one(store, doc, new_body, changes)
                report.outcomes.append(outcome)
                if outcome.new_revision is not None:  # written, even if not verified
                    payload["documents"][position - 1]["migrated_revision"] = outcome.new_revision
                if progress is not None:
                    progress(outcome, position, len(planned))
            try:
                backup_write(path, payload)  # now with the post-migration revisions
            except OSError as exc:
                report.warnings.append(
                    f"the backup {path} could not be updated with the new revisions ({exc}): "
                    "a rollback from it will need --force"
                )
        return report
    finally:
        report.outcomes.sort(key=lambda o: o.key)
        audit_record(
            actor=None,
            action=report.action,
            target=f"aiconfigs@{store.name}",
            changes=report.audit_changes(),
            actor_label=actor_label,
        )


def _migrate_one(
    store: ConfigStore, doc: StoredDocument, new_body: Any, changes: MigrationChanges
) -> DocumentOutcome:
    try:
        written = store.write(doc.key, new_body, expected_revision=doc.revision)
    except RevisionConflict as conflict:
        return DocumentOutcome(
            doc.key,
            "failed",
            f"changed by someone else since it was read (revision {doc.revision} is now "
            f"{conflict.current.revision}); nothing written, run the migration again",
            doc.revision,
            None,
            changes,
        )
    except DocumentNotFound:
        return DocumentOutcome(
            doc.key, "failed", "deleted since it was read; nothing written", doc.revision
        )
    except StoreError as exc:
        return DocumentOutcome(
            doc.key, "failed", f"not written: {exc}", doc.revision, None, changes
        )
    problem = _verify(store, doc.key, new_body, written.revision)
    if problem:
        return DocumentOutcome(doc.key, "failed", problem, doc.revision, written.revision, changes)
    return DocumentOutcome(doc.key, "migrated", "", doc.revision, written.revision, changes)


def _verify(store: ConfigStore, key: str, body: Any, revision: str) -> str:
    """An empty string when re-reading shows exactly what was written, else what differs."""
    try:
        reread = store.read(key)
    except StoreError as exc:
        return f"written (revision {revision}) but could not be re-read to verify: {exc}"
    if reread.revision != revision:
        return (
            f"written (revision {revision}) but changed again before it could be verified "
            f"(now revision {reread.revision}); check it"
        )
    if reread.body != body:
        return f"written (revision {revision}) but re-reading it shows a different body"
    return ""


# --- roll back ------------------------------------------------------------------------------


def migration_rollback(
    *,
    store: ConfigStore,
    backup: Path,
    payload: dict[str, Any],
    force: bool,
    backup_dir: Path,
    actor_label: str,
    warnings: list[str] | None = None,
    progress: Progress | None = None,
    on_backup: Callable[[Path], None] | None = None,
) -> RunReport:
    """Restore exactly the bodies saved in `payload`, read from `backup` by backup_read.

    A document whose revision moved on since the migration wrote it (someone edited it since)
    is refused unless `force`. Before overwriting anything, the current state of the documents
    to restore is itself backed up, so a rollback can be undone. Always audited, with
    `warnings` (what the caller could not check).
    """
    report = RunReport(
        action=ACTION_ROLLBACK, store=store.name, backup=backup, warnings=list(warnings or [])
    )
    try:
        planned: list[tuple[dict[str, Any], StoredDocument | None]] = []
        for saved in payload["documents"]:
            key = saved["key"]
            try:
                current: StoredDocument | None = store.read(key)
            except DocumentNotFound:
                current = None
            except StoreError as exc:
                report.outcomes.append(DocumentOutcome(key, "failed", f"cannot read: {exc}"))
                continue
            refusal = _refusal(saved, current)
            if current is not None and current.body == saved["body"]:
                report.outcomes.append(
                    DocumentOutcome(key, "already as in the backup", "", current.revision)
                )
            elif refusal and not force:
                revision = current.revision if current else None
                outcome = DocumentOutcome(
                    key, "refused", refusal + "; --force restores it anyway", revision
                )
                report.outcomes.append(outcome)
            else:
                planned.append((saved, current))

        if planned:
            path = backup_path(backup_dir, f"{store.name}-pre-rollback")
            existing = [current for _, current in planned if current is not None]
            try:
                backup_write(path, backup_payload(store, existing))  # before anything is written
            except OSError as exc:
                reason = f"not restored: the backup of the current state {path} failed ({exc})"
                for saved, current in planned:
                    revision = current.revision if current is not None else None
                    report.outcomes.append(
                        DocumentOutcome(saved["key"], "failed", reason, revision)
                    )
                return report
            report.pre_rollback_backup = path
            if on_backup is not None:
                on_backup(report.pre_rollback_backup)
            for position, (saved, current) in enumerate(planned, start=1):
                outcome = _restore_one(store, saved, current)
                report.outcomes.append(outcome)
                if progress is not None:
                    progress(outcome, position, len(planned))
        return report
    finally:
        report.outcomes.sort(key=lambda o: o.key)
        audit_record(
            actor=None,
            action=ACTION_ROLLBACK,
            target=f"aiconfigs@{store.name}",
            changes={**report.audit_changes(), "force": force},
            actor_label=actor_label,
        )


def _refusal(saved: dict[str, Any], current: StoredDocument | None) -> str:
    """Why restoring `saved` over `current` would lose someone's later change ("" if not)."""
    expected = saved.get("migrated_revision")
    if current is None:
        return "deleted since the migration"
    if expected is None:
        if current.revision == saved["revision"]:
            return ""  # the migration never wrote it: the backup body is what is stored
        return (
            f"the migration did not record writing it, and it changed since the backup "
            f"(revision {saved['revision']} is now {current.revision})"
        )
    if current.revision != expected:
        return (
            f"changed since the migration (the migration left revision {expected}, "
            f"now {current.revision})"
        )
    return ""


def _restore_one(
    store: ConfigStore, saved: dict[str, Any], current: StoredDocument | None
) -> DocumentOutcome:
    key, body = saved["key"], saved["body"]
    old = current.revision if current is not None else None
    try:
        written = store.write(key, body, expected_revision=old)
    except RevisionConflict as conflict:
        return DocumentOutcome(
            key,
            "failed",
            f"changed by someone else during the rollback (now revision "
            f"{conflict.current.revision}); nothing written",
            old,
        )
    except StoreError as exc:
        return DocumentOutcome(key, "failed", f"not restored: {exc}", old)
    problem = _verify(store, key, body, written.revision)
    if problem:
        return DocumentOutcome(key, "failed", problem, old, written.revision)
    return DocumentOutcome(key, "restored", "", old, written.revision)
