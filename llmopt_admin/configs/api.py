"""The config API: read the `ai_models_config` document, change optimization fields per LLM entry.

`GET /api/config/ai-models` returns the document as stored (every secret-named value masked) with
its revision as an ETag. `PATCH` changes optimization fields only, and only with `If-Match` set to
that ETag, so a client never overwrites someone else's change unseen.

`If-Match` is compared strongly (RFC 9110 §13.1.1): the quoted tag must be exactly the ETag, and
a weak tag (`W/"12"`) never matches. A list of tags matches when one of them is current.

Status codes: 400 refused (not JSON, not an optimization field, no such entry, the provider cannot
use the switch, the stored document is malformed, If-Match is not an entity tag), 404 no document,
409 (GET) the stored document is not a JSON object, 412 If-Match does not match: stale (the body
says what changed) or only weak tags, 422 a value breaks the schema, 428 no If-Match (or `*`), 503
store unreachable; each of these bodies has `errors`: {path: message}. 401 (no credentials) and
403 (a token without the scope, a session that failed CSRF) are the API's (accounts.auth).
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.http import HttpRequest, JsonResponse
from ninja import Router

from llmopt_admin.configs.schemas import (
    IF_MATCH_PATTERN,
    AiModelsPatchIn,
    ConfigConflictOut,
    ConfigErrorsOut,
)
from llmopt_admin.configs.selectors import (
    config_changes_since,
    config_document_public,
    public_document,
)
from llmopt_admin.configs.services import (
    OPTIMIZATION_FIELDS,
    ConfigChangeRejected,
    config_document_update,
    entry_path,
)
from llmopt_admin.configs.shapes import body_problem
from llmopt_admin.configs.stores import get_config_store
from llmopt_admin.openapi import json_body
from optimization.stores.base import (
    AI_MODELS_KEY,
    ConfigStore,
    DocumentNotFound,
    RevisionConflict,
    StoreError,
)

router = Router(tags=["configs"])


_IF_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
    "description": "The ETag from GET /api/config/ai-models (the revision the change is based on).",
}
_ETAG_HEADER = {
    "ETag": {
        "description": "The document's revision, for If-Match.",
        "required": True,
        "schema": {"type": "string"},
    }
}
# OpenAPI link (followed by clients and by the schemathesis run): the ETag a read or a write
# answers is the If-Match of the next write.
_PATCH_LINK = {
    "PatchWithETag": {
        "operationId": "llmopt_admin_configs_api_ai_models_patch",
        "parameters": {"header.If-Match": "$response.header.ETag"},
    }
}
_READ_ANSWERS = {200: {"headers": _ETAG_HEADER, "links": _PATCH_LINK}}


@router.get(
    "/ai-models",
    response={
        200: dict[str, Any],
        404: ConfigErrorsOut,
        409: ConfigErrorsOut,
        503: ConfigErrorsOut,
    },
    openapi_extra={"responses": _READ_ANSWERS},
    summary="The ai_models_config document, secrets masked; ETag = its revision",
)
def ai_models_get(request: HttpRequest) -> JsonResponse:
    """Return the document, e.g. `.llm[0].configuration.optimizationEnabled`; apiKey is masked."""
    try:
        document = config_document_public(store=get_config_store(), key=AI_MODELS_KEY)
    except DocumentNotFound as error:
        return _errors(404, {"document": str(error)})
    except StoreError as error:
        return _errors(503, {"store": str(error)})
    if (problem := body_problem(document.body)) is not None:
        return _errors(
            409, {"document": f"{AI_MODELS_KEY}: {problem}; fix the document in the store"}
        )
    response = JsonResponse(document.body)
    response["ETag"] = _etag(document.revision)
    return response


@router.patch(
    "/ai-models",
    response={
        200: dict[str, Any],
        400: ConfigErrorsOut,
        404: ConfigErrorsOut,
        412: ConfigConflictOut | ConfigErrorsOut,
        422: ConfigErrorsOut,
        428: ConfigErrorsOut,
        503: ConfigErrorsOut,
    },
    summary="Change optimization fields of LLM entries (needs If-Match)",
    openapi_extra={
        "parameters": [_IF_MATCH_PARAMETER],
        **json_body(AiModelsPatchIn),
        "responses": _READ_ANSWERS,
    },
)
def ai_models_patch(request: HttpRequest) -> JsonResponse:
    """Apply `{"llm": {"0": {"cachingEnabled": true}}}`; returns the new document and ETag."""
    tags = _if_match_tags(request.headers.get("If-Match"))
    if isinstance(tags, JsonResponse):
        return tags
    changes = _parse_changes(request.body)
    if isinstance(changes, JsonResponse):
        return changes
    store = get_config_store()
    try:
        revision = tags[0] if len(tags) == 1 else _matching_tag(store, tags)
        result = config_document_update(
            store=store,
            key=AI_MODELS_KEY,
            changes=changes,
            expected_revision=revision,
            actor=getattr(request, "auth", None),
        )
    except ConfigChangeRejected as rejected:
        return _errors(400 if rejected.kind == "refused" else 422, rejected.errors)
    except RevisionConflict as conflict:
        return _conflict(conflict, changes)
    except DocumentNotFound as error:
        return _errors(404, {"document": str(error)})
    except StoreError as error:
        return _errors(503, {"store": str(error)})
    document = public_document(result.document)
    response = JsonResponse(document.body)
    response["ETag"] = _etag(document.revision)
    return response


def _etag(revision: str) -> str:
    return '"' + revision.replace('"', "") + '"'


# One element of an If-Match list (RFC 9110 §8.8.3): entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE,
# etagc = %x21 / %x23-7E / obs-text, elements separated by commas and optional whitespace.
# Empty elements (", ,") are allowed and skipped.
_ENTITY_TAG = re.compile(r'[ \t,]*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*(?:,|$)')


def _if_match_tags(header: str | None) -> list[str] | JsonResponse:
    """The strong entity tags (opaque, unquoted) of an If-Match header, or the error response.

    Comparison is strong (RFC 9110 §13.1.1): a weak tag never matches, so a list of only weak
    tags is 412. A missing header, or `*` (any revision at all), is 428: a write must name
    the revision it is based on.
    """
    if header is None or header.strip(" \t") in ("", "*"):
        return _errors(
            428,
            {
                "If-Match": "send the ETag of GET /api/config/ai-models as If-Match, so a "
                "change made since you read the document is not overwritten"
            },
        )
    tags: list[tuple[bool, str]] = []
    position = 0
    while header[position:].strip(" \t,"):
        match = _ENTITY_TAG.match(header, position)
        if match is None:
            return _errors(
                400,
                {
                    "If-Match": "must be the ETag exactly as GET returned it, in double quotes "
                    f'(e.g. "12"); got {header[:80]!r}'
                },
            )
        tags.append((match[1] is not None, match[2]))
        position = match.end()
    strong = [opaque for weak, opaque in tags if not weak]
    if not strong:
        return _errors(
            412,
            {
                "If-Match": "a weak entity tag (W/...) never matches If-Match, which compares "
                "strongly (RFC 9110); send the ETag exactly as GET returned it"
            },
        )
    return strong


def _matching_tag(store: ConfigStore, tags: list[str]) -> str:
    """Of several If-Match tags, the one naming the current revision (else the first: stale)."""
    current = store.read(AI_MODELS_KEY).revision
    return current if current in tags else tags[0]


def _parse_changes(raw: bytes) -> dict[int, dict[str, Any]] | JsonResponse:
    """The body as {index: {field: value}}, or a 400 naming what is wrong with it."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        return _errors(400, {"body": f"not valid JSON: {str(error)[:200]}"})
    example = 'e.g. {"llm": {"0": {"cachingEnabled": true}}}'
    if not isinstance(body, dict):
        return _errors(400, {"body": f"must be a JSON object, {example}"})
    unknown = {
        str(name): "only llm entries can be changed through this endpoint"
        for name in body
        if name != "llm"
    }
    if unknown:
        return _errors(400, unknown)
    entries = body.get("llm")
    if not isinstance(entries, dict) or not entries:
        return _errors(
            400, {"llm": f"must be an object of entry index to fields to change, {example}"}
        )
    changes: dict[int, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for index_text, fields in entries.items():
        if not (index_text.isascii() and index_text.isdigit()) or len(index_text) > 6:
            errors[f"llm.{index_text[:40]}"] = "an entry index must be a whole number such as '0'"
        elif not isinstance(fields, dict) or not fields:
            errors[entry_path(int(index_text))] = "must be an object of fields to change"
        else:
            changes[int(index_text)] = fields
    if errors:
        return _errors(400, errors)
    return changes


def _conflict(conflict: RevisionConflict, changes: dict[int, dict[str, Any]]) -> JsonResponse:
    body: Any = conflict.current.body
    entries = body.get("llm") if isinstance(body, dict) else None
    current: dict[str, Any] = {}
    for index, fields in changes.items():
        entry = entries[index] if isinstance(entries, list) and 0 <= index < len(entries) else None
        configuration = entry.get("configuration") if isinstance(entry, dict) else None
        for name in fields:
            if name in OPTIMIZATION_FIELDS and isinstance(configuration, dict):
                current[entry_path(index, name)] = configuration.get(name)
    history = config_changes_since(
        key=conflict.key,
        revision=conflict.expected_revision,
        current_revision=conflict.current.revision,
    )
    body = {
        "errors": {
            "If-Match": f"revision {conflict.expected_revision} is not the current one "
            f"({conflict.current.revision})"
        },
        "detail": (
            f"{conflict.key} changed since you read it (revision {conflict.expected_revision} "
            f"is now {conflict.current.revision}); nothing was written. Read it again, re-apply "
            "your change and send the new ETag."
        ),
        "expected_revision": conflict.expected_revision,
        "current_revision": conflict.current.revision,
        "current": current,
        "changes_since": [
            {
                "at": entry.created_at.isoformat(),
                "by": entry.actor_label,
                "action": entry.action,
                "target": entry.target,
                "changes": entry.changes,
            }
            for entry in history.entries
        ],
        "changes_since_complete": history.complete,
    }
    response = JsonResponse(body, status=412)
    response["ETag"] = _etag(conflict.current.revision)
    return response


def _errors(status: int, errors: dict[str, str]) -> JsonResponse:
    return JsonResponse({"errors": errors}, status=status)


__all__ = ["router"]
