"""What the API's OpenAPI description says beyond what django-ninja derives from the endpoints:
the JSON bodies endpoints read themselves, django-ninja's own error answers, and the answers of
the API's authentication (accounts.auth), which every operation can give.

Some endpoints read their body themselves, to bound its size (chunked bodies too) and to name
every bad field in their own error shape; `json_body` documents such a body with a ninja Schema
that the endpoint's checks enforce. Bounds that django-ninja would enforce in its own shape if
they were pydantic constraints are published with `json_schema_extra` for the same reason.
"""

from __future__ import annotations

from typing import Any

from ninja import Schema
from ninja.schema import NinjaGenerateJsonSchema

from llmopt_admin.accounts.auth import ForbiddenOut, UnauthorizedOut

__all__ = ["ValidationErrorOut", "document_auth_answers", "json_body"]

COMPONENTS = "#/components/schemas/"


class ValidationErrorItemOut(Schema):
    type: str
    loc: list[str | int]
    msg: str


class ValidationErrorOut(Schema):
    """django-ninja's own 422: a path or query parameter, or a body it parses, that does not
    fit the operation's types (e.g. a job id that is not a whole number)."""

    detail: list[ValidationErrorItemOut]


def json_body(model: type[Schema]) -> dict[str, Any]:
    """`openapi_extra` publishing `model` as the required JSON body of an endpoint that reads
    the body itself."""
    schema = model.model_json_schema(schema_generator=NinjaGenerateJsonSchema)
    definitions = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inlined(schema, definitions)}},
        }
    }


def _inlined(schema: Any, definitions: dict[str, Any]) -> Any:
    """`schema` with each `#/$defs/` reference replaced by its definition (pydantic's `$defs`
    mean nothing inside an OpenAPI document; the models here are not recursive)."""
    if isinstance(schema, list):
        return [_inlined(item, definitions) for item in schema]
    if not isinstance(schema, dict):
        return schema
    reference = schema.get("$ref", "")
    if reference.startswith("#/$defs/"):
        resolved = dict(definitions[reference.removeprefix("#/$defs/")])
        resolved.update((k, v) for k, v in schema.items() if k != "$ref")
        return _inlined(resolved, definitions)
    return {key: _inlined(value, definitions) for key, value in schema.items()}


# (status, model, description, whether the answer always carries a WWW-Authenticate challenge)
_AUTH_ANSWERS: tuple[tuple[int, type[Schema], str, bool], ...] = (
    (
        401,
        UnauthorizedOut,
        "No credentials (neither a bearer token nor a staff session), or an Authorization header "
        "that is not a valid, unrevoked token.",
        True,
    ),
    (
        403,
        ForbiddenOut,
        "The token lacks the scope the request needs (missing_scope names it), or a staff "
        "session's unsafe request failed the CSRF check.",
        False,  # the CSRF refusal carries none
    ),
)


def document_auth_answers(schema: dict[str, Any]) -> None:
    """Add the 401 and 403 every authenticated operation can answer (accounts.auth), with
    their bodies and `WWW-Authenticate` challenge, to an OpenAPI document in place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for _, model, _, _ in _AUTH_ANSWERS:
        components[model.__name__] = model.model_json_schema(
            ref_template=COMPONENTS + "{model}", schema_generator=NinjaGenerateJsonSchema
        )
    operations = [operation for item in schema["paths"].values() for operation in item.values()]
    for operation in operations:
        if not operation.get("security"):
            continue
        for status, model, description, challenged in _AUTH_ANSWERS:
            operation["responses"][status] = {
                "description": description,
                "headers": {
                    "WWW-Authenticate": {
                        "description": "The Bearer challenge (RFC 6750); error= and scope= "
                        "say why a token was refused.",
                        "required": challenged,
                        "schema": {"type": "string"},
                    }
                },
                "content": {"application/json": {"schema": {"$ref": COMPONENTS + model.__name__}}},
            }
