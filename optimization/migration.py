"""Add the nine optimization fields to an `aiconfigs` document, preserving everything else.

`migrate_aiconfigs(document)` is pure (it reads nothing, writes nothing, never changes its
argument) and idempotent (run it on its own output and it changes nothing). It touches only the
chat-model lists PipesHub keeps in the document — `llm`, and where present `slm`, `reasoning`
and `multiModal` — never `embedding`, `ocr` or anything else.

Rules, decided once here:

- A field that is missing is added with its default from `OPTIMIZATION_DEFAULTS`, after the
  entry's existing keys. Nothing else changes: every other key, value and key order is kept.
- A field that is present is never changed. A valid value is kept as written (even a spelling
  such as "true" or "5m"); a JSON `null` is kept too (the schema reads it as the default). An
  invalid value is kept and reported as an `invalid` finding with its JSON path and the
  schema's message, so the operator fixes it deliberately; the backend meanwhile falls back to
  the default for it (tolerant parsing). It does not stop the rest of the document migrating.
- A malformed document — not an object, no `llm` list, a chat-model list that is not a list, an
  entry that is not an object, an entry without a string `provider` or without an object
  `configuration` — is reported (`malformed` findings, each with its JSON path) and returned
  unchanged as a whole: a document is migrated completely or not at all.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from optimization.config import OPTIMIZATION_DEFAULTS, validate_field
from optimization.exceptions import ConfigValidationError

CHAT_MODEL_LISTS: tuple[str, ...] = ("llm", "slm", "reasoning", "multiModal")
REQUIRED_LIST = "llm"


@dataclass(frozen=True)
class FieldAdded:
    """One optimization field the migration added to one chat-model entry."""

    path: str  # JSON path of the field, e.g. "$.llm[0].configuration.cacheTTL"
    entry: str  # "llm[0]"
    provider: str
    model: str | None
    field: str
    value: Any


@dataclass(frozen=True)
class Finding:
    """Something the migration would not change: a malformed part or an invalid value."""

    kind: Literal["malformed", "invalid"]
    path: str
    message: str


@dataclass(frozen=True)
class EntrySummary:
    """One chat-model entry as the migration saw it (for per-provider diffs)."""

    entry: str
    provider: str
    model: str | None
    added: tuple[FieldAdded, ...]
    invalid: tuple[Finding, ...]


@dataclass(frozen=True)
class MigrationChanges:
    """What `migrate_aiconfigs` did to one document, or why it left it alone."""

    entries: tuple[EntrySummary, ...] = ()
    findings: tuple[Finding, ...] = ()
    lists: tuple[str, ...] = field(default=())  # the chat-model lists found in the document

    @property
    def added(self) -> tuple[FieldAdded, ...]:
        """Every field added, in document order."""
        return tuple(change for entry in self.entries for change in entry.added)

    @property
    def changed(self) -> bool:
        """Whether the new document differs from the input."""
        return bool(self.added)

    @property
    def malformed(self) -> tuple[Finding, ...]:
        """Structural problems; when there are any, the document was left untouched."""
        return tuple(f for f in self.findings if f.kind == "malformed")

    @property
    def invalid(self) -> tuple[Finding, ...]:
        """Existing optimization values that break the schema, kept as they were."""
        return tuple(f for f in self.findings if f.kind == "invalid")

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary (for audit entries and machine-readable reports)."""
        return {
            "added": {change.path: change.value for change in self.added},
            "malformed": [{"path": f.path, "message": f.message} for f in self.malformed],
            "invalid": [{"path": f.path, "message": f.message} for f in self.invalid],
        }


def migrate_aiconfigs(document: Any) -> tuple[Any, MigrationChanges]:
    """Return (the migrated document, what changed); see the module docstring for the rules.

    The input is never modified. A malformed document comes back as an equal copy, with the
    reasons in `changes.malformed`.
    """
    malformed = _structure_problems(document)
    if malformed:
        return copy.deepcopy(document), MigrationChanges(findings=tuple(malformed))

    new_document: dict[str, Any] = copy.deepcopy(dict(document))
    lists = tuple(name for name in CHAT_MODEL_LISTS if name in new_document)
    entries: list[EntrySummary] = []
    invalid: list[Finding] = []
    for list_name in lists:
        for index, entry in enumerate(new_document[list_name]):
            summary = _migrate_entry(f"{list_name}[{index}]", entry)
            entries.append(summary)
            invalid.extend(summary.invalid)
    return new_document, MigrationChanges(
        entries=tuple(entries), findings=tuple(invalid), lists=lists
    )


def _structure_problems(document: Any) -> list[Finding]:
    if not isinstance(document, Mapping):
        return [_malformed("$", f"the document must be a JSON object, not {json_kind(document)}")]
    problems: list[Finding] = []
    if REQUIRED_LIST not in document:
        problems.append(_malformed(f"$.{REQUIRED_LIST}", "missing: there is no llm list"))
    for list_name in CHAT_MODEL_LISTS:
        if list_name not in document:
            continue
        entries = document[list_name]
        if not isinstance(entries, list):
            problems.append(
                _malformed(f"$.{list_name}", f"must be a list of models, not {json_kind(entries)}")
            )
            continue
        for index, entry in enumerate(entries):
            problems.extend(_entry_problems(f"$.{list_name}[{index}]", entry))
    return problems


def _entry_problems(path: str, entry: Any) -> list[Finding]:
    if not isinstance(entry, Mapping):
        return [_malformed(path, f"each model must be a JSON object, not {json_kind(entry)}")]
    problems: list[Finding] = []
    if not isinstance(entry.get("provider"), str):
        what = "missing" if "provider" not in entry else json_kind(entry["provider"])
        problems.append(_malformed(f"{path}.provider", f"must be a string; it is {what}"))
    if not isinstance(entry.get("configuration"), Mapping):
        what = "missing" if "configuration" not in entry else json_kind(entry["configuration"])
        problems.append(_malformed(f"{path}.configuration", f"must be a JSON object; it is {what}"))
    return problems


def _migrate_entry(entry_name: str, entry: dict[str, Any]) -> EntrySummary:
    provider: str = entry["provider"]
    configuration: dict[str, Any] = entry["configuration"]
    model = configuration.get("model")
    model_name = model if isinstance(model, str) else None
    base = f"$.{entry_name}.configuration"
    added: list[FieldAdded] = []
    invalid: list[Finding] = []
    for name, default in OPTIMIZATION_DEFAULTS.items():
        if name not in configuration:
            configuration[name] = copy.deepcopy(default)
            added.append(
                FieldAdded(f"{base}.{name}", entry_name, provider, model_name, name, default)
            )
            continue
        try:
            validate_field(name, configuration[name], provider=provider)
        except ConfigValidationError as error:
            message = error.errors.get(name, str(error))
            invalid.append(Finding("invalid", f"{base}.{name}", f"kept as it is: {message}"))
    return EntrySummary(entry_name, provider, model_name, tuple(added), tuple(invalid))


def _malformed(path: str, message: str) -> Finding:
    return Finding("malformed", path, message)


def json_kind(value: Any) -> str:
    """What kind of JSON value `value` is, with its article: "an object", "a list", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


__all__ = [
    "CHAT_MODEL_LISTS",
    "EntrySummary",
    "FieldAdded",
    "Finding",
    "MigrationChanges",
    "json_kind",
    "migrate_aiconfigs",
]
