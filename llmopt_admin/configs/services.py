"""Writes to the `aiconfigs` documents: optimization-field edits and the kill switch, audited.

Every write is a read-modify-write against the revision the operator loaded, so a change made by
someone else in between is never overwritten silently (RevisionConflict reaches the caller).
Only the optimization fields are ever written here; apiKey and unknown keys stay as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from django.db import transaction

from llmopt_admin.configs.audit import audit_record
from llmopt_admin.configs.shapes import (
    body_problem,
    entry_list_problem,
    entry_problem,
    oversized_value,
)
from optimization.capabilities import ProviderCapabilities
from optimization.config import FIELDS, OptimizationConfig
from optimization.exceptions import ConfigValidationError
from optimization.migration import CHAT_MODEL_LISTS
from optimization.stores.base import ConfigStore, RevisionConflict, StoredDocument, StoreError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    Actor = AbstractBaseUser | AnonymousUser | None

OPTIMIZATION_FIELDS: tuple[str, ...] = tuple(spec.name for spec in FIELDS)
# The switches a provider/model may be unable to use; turning them on is refused there.
CAPABILITY_SWITCHES: Mapping[str, str] = {
    "batchingEnabled": "supports_batching",
    "cachingEnabled": "supports_caching",
}
ACTION_UPDATE = "config.update"
ACTION_DISABLE_ALL = "config.disable_all"
# The audit detail of the kill switch listing what it could not switch off, and why.
LEFT_UNTOUCHED = "left untouched"
KILL_SWITCH_ATTEMPTS = 5


class ConfigChangeRejected(Exception):
    """A change was refused before anything was written.

    `errors` maps a path such as `llm[0].batchMaxSize` to a message naming the rule. `kind` is
    "refused" (the field may not be edited there: not an optimization field, no such entry, the
    provider cannot use it) or "invalid" (the value breaks the schema).
    """

    def __init__(self, errors: Mapping[str, str], *, kind: Literal["refused", "invalid"]) -> None:
        self.errors = dict(errors)
        self.kind = kind
        detail = "; ".join(f"{path}: {message}" for path, message in self.errors.items())
        super().__init__(f"change {kind}: {detail}")


def entry_path(index: int, name: str | None = None) -> str:
    """The path of an LLM entry (`llm[0]`) or one of its fields (`llm[0].cachingEnabled`)."""
    return f"llm[{index}]" if name is None else f"llm[{index}].{name}"


def field_of(path: str) -> str:
    """The field name at the end of a path made by entry_path (`llm[0].cacheTTL` -> `cacheTTL`)."""
    return path.split(".", 1)[1] if "." in path else path


def capability_refusal(capabilities: ProviderCapabilities, name: str) -> str | None:
    """Why this provider/model cannot use the switch `name`, or None when it can."""
    attribute = CAPABILITY_SWITCHES.get(name)
    if attribute is None or getattr(capabilities, attribute):
        return None
    what = "batching" if name == "batchingEnabled" else "prompt caching"
    model = f" model {capabilities.model}" if capabilities.model else ""
    return f"{capabilities.provider}{model} does not support {what}, so it cannot be turned on"


@dataclass(frozen=True)
class ConfigUpdateResult:
    """What a save did: the document as stored now and, per changed field path, old and new."""

    document: StoredDocument
    changes: dict[str, dict[str, Any]]


def config_document_update(
    *,
    store: ConfigStore,
    key: str,
    changes: Mapping[int, Mapping[str, Any]],
    expected_revision: str,
    actor: Actor,
) -> ConfigUpdateResult:
    """Apply optimization-field `changes` per LLM entry index, if the revision is still current.

    Raises ConfigChangeRejected (nothing written) for a refused or invalid change, and
    RevisionConflict when the document changed since `expected_revision` was read.
    """
    document = store.read(key)
    if document.revision != expected_revision:
        raise RevisionConflict(key, expected_revision, document)
    body: Any = copy.deepcopy(document.body)
    problem = body_problem(body) or entry_list_problem(body, "llm", required=True)
    if problem is not None:
        raise ConfigChangeRejected(
            {"document": f"{key}: {problem}; fix the document in the store first"},
            kind="refused",
        )
    entries: list[Any] = body["llm"]
    normalized: dict[int, dict[str, Any]] = {}
    refused: dict[str, str] = {}
    invalid: dict[str, str] = {}
    for index, entry_changes in sorted(changes.items()):
        configuration, provider, error = _entry_configuration(entries, index)
        if configuration is None:
            refused[entry_path(index)] = error
            continue
        values, entry_refused, entry_invalid = _check_entry_changes(
            configuration, provider, entry_changes
        )
        refused.update({entry_path(index, name): why for name, why in entry_refused.items()})
        invalid.update({entry_path(index, name): why for name, why in entry_invalid.items()})
        normalized[index] = values
    if refused:
        raise ConfigChangeRejected(refused, kind="refused")
    if invalid:
        raise ConfigChangeRejected(invalid, kind="invalid")

    applied: dict[int, dict[str, dict[str, Any]]] = {}
    for index, values in normalized.items():
        configuration = entries[index]["configuration"]
        for name, value in values.items():
            old = configuration.get(name)
            # 30 and 30.0 are the same setting; True and 1 are not.
            same = old == value and isinstance(old, bool) == isinstance(value, bool)
            if name in configuration and same:
                continue
            applied.setdefault(index, {})[name] = {"old": old, "new": value}
            configuration[name] = value
    if not applied:
        return ConfigUpdateResult(document=document, changes={})
    with transaction.atomic():
        stored = store.write(key, body, expected_revision=document.revision)
        for index, fields in applied.items():
            audit_record(
                actor=actor,
                action=ACTION_UPDATE,
                target=_entry_target(key, index, entries[index]),
                changes={**fields, "revision": {"old": document.revision, "new": stored.revision}},
            )
    flat = {
        entry_path(index, name): change
        for index, fields in applied.items()
        for name, change in fields.items()
    }
    return ConfigUpdateResult(document=stored, changes=flat)


def config_entry_update(
    *,
    store: ConfigStore,
    key: str,
    index: int,
    changes: Mapping[str, Any],
    expected_revision: str,
    actor: Actor,
) -> ConfigUpdateResult:
    """Apply optimization-field `changes` to one LLM entry; see config_document_update."""
    return config_document_update(
        store=store,
        key=key,
        changes={index: changes},
        expected_revision=expected_revision,
        actor=actor,
    )


@dataclass
class KillSwitchResult:
    """What "disable all optimizations" did, per document key.

    `malformed` maps a document to {path: what is wrong} for the parts left untouched (`$` is
    the document itself); `failed` maps a document to why nothing could be written to it.
    """

    switched_off: dict[str, list[str]] = field(default_factory=dict)
    already_off: list[str] = field(default_factory=list)
    malformed: dict[str, dict[str, str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def entries_switched_off(self) -> int:
        """How many LLM entries were switched off in all."""
        return sum(len(paths) for paths in self.switched_off.values())


def config_optimizations_disable_all(*, store: ConfigStore, actor: Actor) -> KillSwitchResult:
    """Set optimizationEnabled=false on every chat-model entry of every document, audited.

    Chat-model lists are the migration's (llm, slm, reasoning, multiModal). One audit entry is
    written per document switched off or left (partly) untouched, naming what was left and why.

    This is the first rollback step, so it never gives up early: a document written
    concurrently is re-read and retried a few times, and a malformed part or a document that
    cannot be written is reported while every other document is still switched off.
    """
    result = KillSwitchResult()
    for document in store.list():
        _disable_document(store, document, actor, result)
    return result


def _disable_document(
    store: ConfigStore, document: StoredDocument, actor: Actor, result: KillSwitchResult
) -> None:
    current = document
    for _attempt in range(KILL_SWITCH_ATTEMPTS):
        body: Any = copy.deepcopy(current.body)
        switched, malformed = _switch_off(body)
        if malformed:
            result.malformed[current.key] = malformed
        else:
            result.malformed.pop(current.key, None)
        if not switched:
            if not malformed:
                result.already_off.append(current.key)
            break
        try:
            with transaction.atomic():
                stored = store.write(current.key, body, expected_revision=current.revision)
                changes: dict[str, Any] = {
                    f"{path}.optimizationEnabled": {"old": old, "new": False}
                    for path, old in switched.items()
                }
                changes["revision"] = {"old": current.revision, "new": stored.revision}
                if malformed:
                    changes[LEFT_UNTOUCHED] = malformed
                audit_record(
                    actor=actor, action=ACTION_DISABLE_ALL, target=current.key, changes=changes
                )
        except RevisionConflict as conflict:
            current = conflict.current
            continue
        except StoreError as error:  # refused or deleted meanwhile: the others still go
            result.failed[current.key] = f"not written: {error}"
            break
        result.switched_off[current.key] = list(switched)
        return
    else:
        result.failed[current.key] = (
            f"it kept changing while being written ({KILL_SWITCH_ATTEMPTS} attempts); "
            "run the kill switch again"
        )
    untouched: dict[str, Any] = dict(result.malformed.get(current.key, {}))
    if current.key in result.failed:
        untouched["$"] = result.failed[current.key]
    if untouched:
        audit_record(
            actor=actor,
            action=ACTION_DISABLE_ALL,
            target=current.key,
            changes={LEFT_UNTOUCHED: untouched},
        )


def _switch_off(body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Set optimizationEnabled=false in place on every chat-model entry (llm, slm, ...).

    Returns {path: old value} of the entries switched off, and {path: what is wrong} of the
    parts that could not be looked at.
    """
    problem = body_problem(body)
    if problem is not None:
        return {}, {"$": problem}
    switched: dict[str, Any] = {}
    malformed: dict[str, str] = {}
    for list_name in CHAT_MODEL_LISTS:
        problem = entry_list_problem(body, list_name, required=False)
        if problem is not None:
            malformed[list_name] = problem
            continue
        for index, entry in enumerate(body.get(list_name) or ()):
            path = f"{list_name}[{index}]"
            problem = entry_problem(path, entry)
            if problem is not None:
                malformed[path] = problem
                continue
            configuration = entry["configuration"]
            # A missing field already means off (the default), so it is left absent.
            if configuration.get("optimizationEnabled", False) is not False:
                switched[path] = configuration["optimizationEnabled"]
                configuration["optimizationEnabled"] = False
    return switched, malformed


def _entry_configuration(entries: list[Any], index: int) -> tuple[dict[str, Any] | None, str, str]:
    """The entry's configuration object and provider, or None and why it cannot be edited."""
    if not 0 <= index < len(entries):
        return None, "", f"no such LLM entry: the document has {len(entries)} (llm[0]..)"
    entry = entries[index]
    problem = entry_problem(entry_path(index), entry)
    if problem is not None:
        return None, "", f"{problem}; fix the document in the store first"
    provider = entry.get("provider")
    return entry["configuration"], provider if isinstance(provider, str) else "", ""


def _check_entry_changes(
    configuration: Mapping[str, Any], provider: str, changes: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Normalized values, refused fields and invalid fields for one entry's changes."""
    refused: dict[str, str] = {}
    known: dict[str, Any] = {}
    for name, value in changes.items():
        if name in OPTIMIZATION_FIELDS:
            known[name] = value
        else:
            refused[str(name)] = (
                "not an optimization field; only these can be changed here: "
                + ", ".join(OPTIMIZATION_FIELDS)
            )
    merged = {**configuration, **known}
    oversized = {
        name: reason
        for name in OPTIMIZATION_FIELDS
        if (reason := oversized_value(name, merged.get(name))) is not None
    }
    if oversized:
        return {}, refused, oversized
    try:
        # The whole entry must be valid after the change (provider limits included); one
        # schema, the core's strict mode, decides, and its to_dict() gives the stored form.
        parsed = OptimizationConfig.from_dict(merged, strict=True, provider=provider or None)
    except ConfigValidationError as error:
        return {}, refused, dict(error.errors)
    stored_form = parsed.to_dict()
    values = {name: stored_form[name] for name in known}
    capabilities = ProviderCapabilities.detect(provider, configured_model(configuration))
    for name, value in values.items():
        reason = capability_refusal(capabilities, name) if value is True else None
        if reason:
            refused[name] = reason
    return values, refused, {}


def configured_model(configuration: Mapping[str, Any]) -> str | None:
    """The model an entry's configuration names, for capability detection."""
    model = configuration.get("model")
    if isinstance(model, str) and model:
        # PipesHub allows a comma-separated list of models; the first is the one used.
        return model.split(",")[0].strip()
    return None


def _entry_target(key: str, index: int, entry: Mapping[str, Any]) -> str:
    provider = entry.get("provider") if isinstance(entry, Mapping) else None
    return f"{key}/{entry_path(index)}" + (f" ({provider})" if provider else "")


__all__ = [
    "ACTION_DISABLE_ALL",
    "ACTION_UPDATE",
    "LEFT_UNTOUCHED",
    "OPTIMIZATION_FIELDS",
    "ConfigChangeRejected",
    "ConfigUpdateResult",
    "KillSwitchResult",
    "capability_refusal",
    "config_document_update",
    "config_entry_update",
    "config_optimizations_disable_all",
    "configured_model",
    "entry_path",
    "field_of",
]
