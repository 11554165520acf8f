"""The config API's In/Out schemas, as its OpenAPI description publishes them.

The PATCH body is read by the endpoint itself, so that each bad entry or field is named in this
API's `errors` shape; `AiModelsPatchIn` documents it and the endpoint's checks enforce it.
"""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict

from llmopt_admin.configs.services import OPTIMIZATION_FIELDS

__all__ = ["IF_MATCH_PATTERN", "AiModelsPatchIn", "ConfigConflictOut", "ConfigErrorsOut"]

# One or more entity tags (RFC 9110 §8.8.3), weak or strong, separated by commas. A tag the
# store has never issued is still well formed: that is a 412, not a malformed header.
_ETAG = r'(W/)?"[\x21\x23-\x7e]*"'
IF_MATCH_PATTERN = rf"^[ \t]*{_ETAG}([ \t]*,[ \t]*{_ETAG})*[ \t]*$"


class ConfigErrorsOut(Schema):
    """Which field or header is wrong and why (`llm[0].batchMaxSize`: "...")."""

    errors: dict[str, str]


class ConfigConflictOut(Schema):
    """The document changed since the client read it; nothing was written."""

    errors: dict[str, str]
    detail: str
    expected_revision: str
    current_revision: str
    current: dict[str, Any] = Field(
        description="Current values of the fields the request tried to change."
    )
    changes_since: list[dict[str, Any]] = Field(
        description="Audited writes since the client's revision: when, by, action, changes."
    )
    changes_since_complete: bool = Field(
        description="False when the document was also changed outside this admin."
    )


class AiModelsPatchIn(Schema):
    """Optimization fields to change, per LLM entry, keyed by the entry's index in `llm`."""

    model_config = ConfigDict(extra="forbid")

    llm: dict[str, dict[str, Any]] = Field(
        min_length=1,
        description=(
            "Map of entry index (as a string, '0' is llm[0]) to the optimization fields to set "
            f"on that entry's configuration. Allowed fields: {', '.join(OPTIMIZATION_FIELDS)}. "
            "All changes are applied together or not at all."
        ),
        examples=[{"0": {"cachingEnabled": True, "cacheTTL": 3600}}],
        json_schema_extra={
            "propertyNames": {"pattern": "^[0-9]{1,6}$"},
            "additionalProperties": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"enum": list(OPTIMIZATION_FIELDS)},
            },
        },
    )
