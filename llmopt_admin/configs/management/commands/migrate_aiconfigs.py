"""`manage.py migrate_aiconfigs`: add the optimization fields to every aiconfigs document."""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llmopt_admin.configs.migration_runs import (
    EXIT_DONE,
    EXIT_USAGE,
    BackupError,
    DocumentOutcome,
    RunReport,
    backup_origin_problem,
    backup_origin_warnings,
    backup_read,
    migration_rollback,
    migration_run,
)
from llmopt_admin.configs.stores import config_store_names, get_config_store
from optimization.stores.base import StoreError

EPILOG = """\
What a run does:
  --dry-run        prints, per document and per model entry, the fields that would be added
                   (and any invalid or malformed parts), and writes nothing.
  (default)        writes a timestamped JSON backup of every document it will change (path
                   printed; mode 0600, it holds apiKeys) BEFORE writing anything, then writes
                   each document only if its revision is unchanged since it was read, then
                   re-reads it to verify. A document that fails does not stop the others.
  --rollback FILE  restores exactly the bodies saved in FILE, into the store it was taken
                   from. A file that is not a backup, or a backup taken from another
                   deployment (another database or server: --allow-other-deployment), is
                   refused. A document edited since the migration wrote it is refused unless
                   --force. The current state is backed up first, so a rollback can be rolled
                   back.
Only chat-model lists are touched (llm, slm, reasoning, multiModal), never embedding or ocr.
Existing values are never changed; invalid ones are reported. Every run is audited.

Exit codes:
  0  done: documents were migrated / restored (dry run: there are changes to make)
  1  failed: at least one document could not be migrated or restored (malformed, changed
     meanwhile, refused, store unreachable); nothing was written for those documents
  2  usage error: bad arguments or an unreadable backup file; nothing was written
  3  nothing to do: every document already has the fields / already matches the backup
"""


class Command(BaseCommand):
    help = (
        "Add the nine optimization fields to every aiconfigs document (dry run, backup, rollback)."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = EPILOG
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change; write nothing."
        )
        parser.add_argument(
            "--rollback",
            metavar="BACKUP",
            type=Path,
            help="Restore the documents saved in this backup file.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="With --rollback: restore documents even if they changed since the migration.",
        )
        parser.add_argument(
            "--allow-other-deployment",
            action="store_true",
            help="With --rollback: restore a backup taken from another deployment (another "
            "database or server than this store's).",
        )
        parser.add_argument(
            "--store",
            choices=config_store_names(),
            help="Which config store to use (default: LLMOPT_CONFIG_STORE, or for --rollback "
            "the store named in the backup).",
        )
        parser.add_argument(
            "--backup-dir",
            type=Path,
            help="Where backups are written "
            f"(default: LLMOPT_BACKUP_DIR, {settings.LLMOPT_BACKUP_DIR}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for flag in ("force", "allow_other_deployment"):
            if options[flag] and not options["rollback"]:
                raise CommandError(
                    f"--{flag.replace('_', '-')} only applies to --rollback", returncode=EXIT_USAGE
                )
        if options["dry_run"] and options["rollback"]:
            raise CommandError("--dry-run and --rollback cannot be combined", returncode=EXIT_USAGE)
        self._progressed: set[str] = set()  # documents already reported by a progress line
        backup_dir = options["backup_dir"] or Path(settings.LLMOPT_BACKUP_DIR)
        actor_label = _actor_label()
        if options["rollback"]:
            report = self._rollback(options, backup_dir, actor_label)
        else:
            report = self._migrate(options, backup_dir, actor_label)
        code = report.exit_code
        if code != EXIT_DONE:
            raise SystemExit(code)

    # --- migrate ----------------------------------------------------------------------------
    def _migrate(self, options: dict[str, Any], backup_dir: Path, actor_label: str) -> RunReport:
        store = self._store(options["store"])
        dry_run = options["dry_run"]
        report = migration_run(
            store=store,
            dry_run=dry_run,
            backup_dir=backup_dir,
            actor_label=actor_label,
            progress=None if dry_run else self._progress,
            on_backup=lambda path: self.stdout.write(f"Backup written before any change: {path}"),
        )
        for outcome in report.outcomes:
            has_invalid = outcome.changes is not None and bool(outcome.changes.invalid)
            if dry_run or outcome.key not in self._progressed or has_invalid:
                self._describe(outcome, detailed=dry_run)
        self._summary(report, "Dry run, nothing written: " if dry_run else "")
        if report.backup is not None and report.keys_with(frozenset({"migrated"})):
            self.stdout.write(
                f"To undo: manage.py migrate_aiconfigs --rollback {report.backup}"
                f" --store {store.name}"
            )
        return report

    # --- roll back --------------------------------------------------------------------------
    def _rollback(self, options: dict[str, Any], backup_dir: Path, actor_label: str) -> RunReport:
        backup: Path = options["rollback"]
        try:
            payload = backup_read(backup)
        except BackupError as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from exc
        saved_store: str | None = payload.get("store")
        if options["store"] and saved_store and options["store"] != saved_store:
            raise CommandError(
                f"backup {backup} was taken from the {saved_store!r} store, not "
                f"{options['store']!r}; refusing to restore it elsewhere",
                returncode=EXIT_USAGE,
            )
        if saved_store and saved_store not in config_store_names():
            raise CommandError(
                f"backup {backup} was taken from the {saved_store!r} store, which this "
                f"deployment does not have (it has: {', '.join(config_store_names())})",
                returncode=EXIT_USAGE,
            )
        store = self._store(options["store"] or saved_store)
        elsewhere = backup_origin_problem(payload, store)
        if elsewhere and not options["allow_other_deployment"]:
            raise CommandError(
                f"backup {backup}: {elsewhere}; refusing to restore it here "
                "(--allow-other-deployment restores it anyway)",
                returncode=EXIT_USAGE,
            )
        warnings = backup_origin_warnings(payload, store)
        if elsewhere:
            warnings.append(f"{elsewhere}; restored anyway (--allow-other-deployment)")
        report = migration_rollback(
            store=store,
            backup=backup,
            payload=payload,
            force=options["force"],
            backup_dir=backup_dir,
            actor_label=actor_label,
            warnings=warnings,
            progress=self._progress,
            on_backup=lambda path: self.stdout.write(f"State before the rollback saved to: {path}"),
        )
        for outcome in report.outcomes:
            if outcome.key not in self._progressed:
                self._describe(outcome, detailed=False)
        self._summary(report, "Rollback: ")
        return report

    # --- output -----------------------------------------------------------------------------
    def _store(self, name: str | None) -> Any:
        try:
            return get_config_store(name)
        except (ImproperlyConfigured, StoreError) as exc:
            raise CommandError(str(exc), returncode=EXIT_USAGE) from exc

    def _progress(self, outcome: DocumentOutcome, position: int, total: int) -> None:
        self._progressed.add(outcome.key)
        line = f"[{position}/{total}] {outcome.key}: {outcome.status}"
        if outcome.old_revision and outcome.new_revision:
            line += f" (revision {outcome.old_revision} -> {outcome.new_revision})"
        if outcome.changes is not None and outcome.status == "migrated":
            line += f", {len(outcome.changes.added)} fields added"
        if outcome.message:
            line += f": {outcome.message}"
        style = self.style.ERROR if outcome.status == "failed" else self.style.SUCCESS
        (self.stderr if outcome.status == "failed" else self.stdout).write(style(line))

    def _describe(self, outcome: DocumentOutcome, *, detailed: bool) -> None:
        revision = f" (revision {outcome.old_revision})" if outcome.old_revision else ""
        line = f"{outcome.key}{revision}: {outcome.status}"
        if outcome.message:
            line += f" - {outcome.message}"
        failed = outcome.status in {"malformed", "failed", "refused"}
        if failed:
            self.stderr.write(self.style.ERROR(line))
        else:
            self.stdout.write(line)
        changes = outcome.changes
        if changes is None:
            return
        for finding in changes.malformed:
            self.stderr.write(f"    x {finding.path}: {finding.message}")
        if not detailed:
            for finding in changes.invalid:
                self.stdout.write(f"    ! {finding.path}: {finding.message}")
            return
        invalid_by_entry: dict[str, list[str]] = {}
        for finding in changes.invalid:
            entry_name = finding.path.split(".configuration", 1)[0].removeprefix("$.")
            invalid_by_entry.setdefault(entry_name, []).append(
                f"    ! {finding.path}: {finding.message}"
            )
        for entry in changes.entries:
            model = f" / {entry.model}" if entry.model else ""
            head = f"  {entry.entry} {entry.provider}{model}"
            self.stdout.write(head if entry.added else f"{head}: has all nine fields")
            for added in entry.added:
                self.stdout.write(f"    + {added.field}: {json.dumps(added.value)}")
            for line in invalid_by_entry.get(entry.entry, []):
                self.stdout.write(line)

    def _summary(self, report: RunReport, prefix: str) -> None:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(report.counts().items()))
        self.stdout.write(f"{prefix}{counts or 'no documents'} (store {report.store}).")
        for warning in report.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        failed = report.keys_with(frozenset({"malformed", "failed", "refused"}))
        if failed:
            self.stderr.write(
                self.style.ERROR(f"Not done for {len(failed)} document(s): {', '.join(failed)}")
            )


def _actor_label() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in some containers
        return "cli"
