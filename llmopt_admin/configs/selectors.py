"""Reads of the `aiconfigs` documents and the audit log, shaped for pages and the API.

Nothing returned here holds a secret: pages get "set"/"not set" for the apiKey, the API gets the
document with every secret-named value masked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from django.db.models import Q, QuerySet

from llmopt_admin.configs.audit import mask_secrets
from llmopt_admin.configs.models import AuditEntry
from llmopt_admin.configs.services import (
    OPTIMIZATION_FIELDS,
    capability_refusal,
    configured_model,
    entry_path,
)
from llmopt_admin.configs.shapes import (
    body_problem,
    entry_list_problem,
    entry_problem,
    oversized_value,
)
from optimization.capabilities import ProviderCapabilities
from optimization.config import FIELDS, FieldSpec, OptimizationConfig
from optimization.exceptions import ConfigValidationError
from optimization.stores.base import AI_MODELS_KEY, ConfigStore, StoredDocument

FIELD_LABELS: Mapping[str, str] = {
    "optimizationEnabled": "Optimizations (master switch)",
    "batchingEnabled": "Batching",
    "batchMaxSize": "Batch size",
    "batchTimeout": "Batch timeout (seconds)",
    "cachingEnabled": "Prompt caching",
    "cacheTTL": "Cache TTL (seconds)",
    "cacheBreakpoints": "Cache breakpoints",
    "fallbackToStandard": "Fall back to the standard API",
    "optimizationStrategy": "Strategy",
}
SPECS: Mapping[str, FieldSpec] = {spec.name: spec for spec in FIELDS}


@dataclass(frozen=True)
class SettingView:
    """One optimization field of one entry as a page shows it."""

    name: str
    label: str
    help: str
    value: Any
    stored: bool
    disabled_reason: str | None = None

    @property
    def shown(self) -> str:
        """The value as text (breakpoint rules comma-separated)."""
        if isinstance(self.value, list | tuple):
            return ", ".join(str(item) for item in self.value)
        return str(self.value)


@dataclass(frozen=True)
class EntryView:
    """One LLM entry of a document: who serves it and its optimization settings.

    `loaded` is the optimization fields as stored when the page was rendered; pages send it
    back so a lost race can say exactly what someone else changed.
    """

    key: str
    index: int
    provider: str
    model: str
    is_default: bool
    api_key_set: bool
    switches: tuple[SettingView, ...]
    details: tuple[SettingView, ...]
    loaded: dict[str, Any]
    warnings: tuple[str, ...]
    batching_in_use: bool
    caching_in_use: bool
    caching_note: str | None
    problem: str | None = None
    identity: str = ""
    invalid_fields: tuple[str, ...] = ()

    @property
    def dom_id(self) -> str:
        """A stable HTML id for the entry's card."""
        return f"entry-{dom_safe(self.key)}-{self.index}"

    @property
    def doc_dom_id(self) -> str:
        """The HTML id of the document section the entry belongs to."""
        return f"doc-{dom_safe(self.key)}"

    @property
    def url(self) -> str:
        """The entry's endpoint prefix: GET it for its card; add switch/<field>/ or edit/."""
        return f"/config/{quote(self.key, safe='')}/llm/{self.index}/"

    @property
    def loaded_json(self) -> str:
        """`loaded` as JSON, for the page to send back with a save."""
        return json.dumps(self.loaded)

    def setting(self, name: str) -> SettingView:
        """The setting called `name` (switches and details alike)."""
        for item in (*self.switches, *self.details):
            if item.name == name:
                return item
        raise KeyError(name)


@dataclass(frozen=True)
class DocumentView:
    """One `aiconfigs` document with its revision and its LLM entries."""

    key: str
    revision: str
    entries: tuple[EntryView, ...]
    problem: str | None = None

    @property
    def dom_id(self) -> str:
        """A stable HTML id for the document's section."""
        return f"doc-{dom_safe(self.key)}"


def dom_safe(text: str) -> str:
    """`text` usable in an HTML id and a CSS selector, different for different texts.

    ASCII letters, digits and "_" stay; any other character becomes "-<hex code>-", so keys
    such as "tenant.a" and "tenant_a" never share an id (the page would then send one
    document's revision with the other's save).
    """
    return "".join(
        char if char.isascii() and (char.isalnum() or char == "_") else f"-{ord(char):x}-"
        for char in text
    )


def config_document_list(*, store: ConfigStore) -> list[DocumentView]:
    """Every config document, ordered by key, shaped for the config page."""
    return [document_view(document) for document in store.list()]


def config_document_get(*, store: ConfigStore, key: str = AI_MODELS_KEY) -> DocumentView:
    """One config document shaped for the config page; raises DocumentNotFound."""
    return document_view(store.read(key))


def config_entry_get(*, store: ConfigStore, key: str, index: int) -> tuple[str, EntryView]:
    """One entry of a document and the document's revision; IndexError if it has no such entry.

    When the document itself is malformed, the entry is a view of that problem.
    """
    view = document_view(store.read(key))
    if view.problem is not None:
        return view.revision, problem_entry(key, index, view.problem)
    if not 0 <= index < len(view.entries):
        raise IndexError(index)
    return view.revision, view.entries[index]


def entry_locate(document: DocumentView, index: int, identity: str) -> EntryView | None:
    """The entry a page showed as `llm[index]` with `identity`, wherever it is now, or None.

    Entries are added and removed by the backend, so the index a page was rendered with may name
    another entry by the time it saves. Without an identity the index is all there is.
    """
    at_index = document.entries[index] if 0 <= index < len(document.entries) else None
    if not identity or (at_index is not None and at_index.identity == identity):
        return at_index
    return next((entry for entry in document.entries if entry.identity == identity), None)


def config_document_public(*, store: ConfigStore, key: str = AI_MODELS_KEY) -> StoredDocument:
    """The document for API clients, with apiKey and every other secret-named value masked."""
    return public_document(store.read(key))


def public_document(document: StoredDocument) -> StoredDocument:
    """`document` with apiKey and every other secret-named value masked, for API clients."""
    return StoredDocument(
        key=document.key, revision=document.revision, body=mask_secrets(document.body)
    )


def document_view(document: StoredDocument) -> DocumentView:
    """Shape a stored document for the config page; a malformed one says what is wrong."""
    body: Any = document.body
    problem = body_problem(body) or entry_list_problem(body, "llm", required=True)
    if problem is not None:
        return DocumentView(
            key=document.key,
            revision=document.revision,
            entries=(),
            problem=f"Document {document.key!r} cannot be shown or changed here: {problem}. "
            "Fix it in the store (migrate_aiconfigs reports every malformed part).",
        )
    return DocumentView(
        key=document.key,
        revision=document.revision,
        entries=tuple(
            entry_view(document.key, index, entry) for index, entry in enumerate(body["llm"])
        ),
    )


def problem_entry(key: str, index: int, problem: str, provider: str = "") -> EntryView:
    """A view of an entry that cannot be edited, saying why."""
    return EntryView(
        key=key,
        index=index,
        provider=provider or "?",
        model="",
        is_default=False,
        api_key_set=False,
        switches=(),
        details=(),
        loaded={},
        warnings=(),
        batching_in_use=False,
        caching_in_use=False,
        caching_note=None,
        problem=problem,
    )


def entry_view(key: str, index: int, entry: Any) -> EntryView:
    """Shape one `llm[index]` entry; a malformed entry gets a view that says what is wrong."""
    problem = entry_problem(entry_path(index), entry)
    provider = entry.get("provider") if isinstance(entry, Mapping) else None
    provider = provider if isinstance(provider, str) else ""
    if problem is not None:
        return problem_entry(
            key,
            index,
            f"Document {key!r}: {problem}, so this entry cannot be edited here. "
            "Fix it in the store.",
            provider,
        )
    configuration: Mapping[str, Any] = entry["configuration"]
    model = configuration.get("model")
    capabilities = ProviderCapabilities.detect(provider, configured_model(configuration))
    # A value too large to check is read as unset (the backend then uses the default) and
    # reported, like any other invalid stored value.
    unreadable = {
        name: reason
        for name in OPTIMIZATION_FIELDS
        if (reason := oversized_value(name, configuration.get(name))) is not None
    }
    readable = {name: value for name, value in configuration.items() if name not in unreadable}
    parsed = OptimizationConfig.from_dict(readable, provider=provider or None)
    values = parsed.to_dict()
    settings = {
        spec.name: SettingView(
            name=spec.name,
            label=FIELD_LABELS.get(spec.name, spec.name),
            help=spec.help,
            value=values[spec.name],
            stored=spec.name in configuration,
            disabled_reason=capability_refusal(capabilities, spec.name),
        )
        for spec in FIELDS
    }
    return EntryView(
        key=key,
        index=index,
        provider=provider or "?",
        model=model if isinstance(model, str) else "",
        is_default=entry.get("isDefault") is True,
        api_key_set=bool(configuration.get("apiKey")),
        switches=tuple(
            settings[name] for name in OPTIMIZATION_FIELDS if SPECS[name].type == "bool"
        ),
        details=tuple(settings[name] for name in OPTIMIZATION_FIELDS if SPECS[name].type != "bool"),
        loaded={name: configuration[name] for name in OPTIMIZATION_FIELDS if name in readable},
        warnings=(*unreadable.values(), *parsed.warnings),
        invalid_fields=(*unreadable, *invalid_fields(readable, provider)),
        identity=entry_identity(entry),
        batching_in_use=parsed.wants_batching(capabilities),
        caching_in_use=parsed.wants_caching(capabilities),
        caching_note=(
            "the provider caches repeated prefixes by itself; breakpoints and TTL do not apply"
            if capabilities.cache_marker_type == "automatic"
            else None
        ),
    )


def invalid_fields(configuration: Mapping[str, Any], provider: str) -> tuple[str, ...]:
    """The optimization fields whose stored value the schema rejects (the backend ignores)."""
    try:
        OptimizationConfig.from_dict(configuration, strict=True, provider=provider or None)
    except ConfigValidationError as error:
        return tuple(name for name in error.errors if name in OPTIMIZATION_FIELDS)
    return ()


def entry_identity(entry: Mapping[str, Any]) -> str:
    """What tells an entry from the others when indexes shift: PipesHub's modelKey, else its
    provider and model."""
    model_key = entry.get("modelKey")
    if isinstance(model_key, str) and model_key:
        return f"modelKey:{model_key}"
    provider = entry.get("provider")
    configuration = entry.get("configuration")
    model = configuration.get("model") if isinstance(configuration, Mapping) else None
    provider_text = provider if isinstance(provider, str) else ""
    return f"{provider_text} {model if isinstance(model, str) else ''}"


def audit_entry_list(
    *, action: str | None = None, target: str | None = None
) -> QuerySet[AuditEntry]:
    """Audit entries, newest first, optionally one action and targets containing `target`."""
    entries = AuditEntry.objects.select_related("actor").order_by("-created_at", "-id")
    if action:
        entries = entries.filter(action=action)
    if target:
        entries = entries.filter(target__icontains=target)
    return entries


def audit_action_list() -> list[str]:
    """Every action name the audit log holds, for the filter."""
    return sorted(set(AuditEntry.objects.values_list("action", flat=True).distinct()))


def display_value(value: Any) -> str:
    """A stored value as an operator reads it: JSON spelling, "(unset)" for a missing one."""
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return value
    return json.dumps(value)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs between two versions of an entry."""

    name: str
    old: str
    new: str


def entry_changes_since(loaded: Mapping[str, Any], entry: EntryView) -> list[FieldChange]:
    """The optimization fields of `entry` that differ from `loaded` (what a page was showing)."""
    changes = []
    for name in OPTIMIZATION_FIELDS:
        old, new = loaded.get(name), entry.loaded.get(name)
        if old != new or isinstance(old, bool) != isinstance(new, bool):
            changes.append(FieldChange(name=name, old=display_value(old), new=display_value(new)))
    return changes


@dataclass(frozen=True)
class AuditRow:
    """One audit entry with its changes as (what, old, new) text, for the audit page."""

    entry: AuditEntry
    changes: list[FieldChange]


def audit_rows(entries: Any) -> list[AuditRow]:
    """Shape audit entries (any iterable) for the page; non old/new details shown as they are."""
    rows = []
    for entry in entries:
        changes = []
        items = list(entry.changes.items()) if isinstance(entry.changes, dict) else []
        # PostgreSQL's jsonb does not keep key order; show the fields first, the revision last.
        items.sort(key=lambda item: item[0] == "revision")
        for name, change in items:
            if isinstance(change, dict) and set(change) <= {"old", "new"}:
                changes.append(
                    FieldChange(
                        name=name,
                        old=display_value(change.get("old")),
                        new=display_value(change.get("new")),
                    )
                )
            else:
                changes.append(FieldChange(name=name, old="", new=display_value(change)))
        rows.append(AuditRow(entry=entry, changes=changes))
    return rows


@dataclass(frozen=True)
class ChangesSince:
    """What the audit log says happened to a document between two revisions.

    `complete` is False when the chain of audited writes does not reach the current revision:
    someone changed the document outside this admin (the backend, a script, the store's UI).
    """

    entries: list[AuditEntry]
    complete: bool


MAX_CHANGE_STEPS = 50


def config_changes_since(*, key: str, revision: str, current_revision: str) -> ChangesSince:
    """The audited writes that took document `key` from `revision` to `current_revision`."""
    found: list[AuditEntry] = []
    step = revision
    for _ in range(MAX_CHANGE_STEPS):
        if step == current_revision:
            return ChangesSince(entries=found, complete=True)
        writes = list(
            AuditEntry.objects.select_related("actor")
            .filter(changes__revision__old=step)
            .filter(Q(target=key) | Q(target__startswith=f"{key}/"))
            .order_by("created_at", "id")
        )
        if not writes:
            break
        found.extend(writes)
        step = str(writes[-1].changes["revision"].get("new"))
    return ChangesSince(entries=found, complete=False)
