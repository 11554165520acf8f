"""The batch API's In/Out schemas, as its OpenAPI description publishes them.

The submit body is read by the endpoint itself (a size limit that holds for chunked bodies too,
and errors that name each bad request), so `BatchSubmitIn` documents it and the endpoint's own
checks enforce it; bounds the checks answer in this API's error shape are published here too.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import ConfigDict

from llmopt_admin.batches.models import BatchJob, JobMode, JobProvider, JobStatus, Outcome
from llmopt_admin.batches.validation import CUSTOM_ID_PATTERN, CUSTOM_ID_RULE

__all__ = [
    "BIGINT",
    "MAX_LIMIT",
    "MAX_NAME_LENGTH",
    "BatchCountsOut",
    "BatchErrorItemOut",
    "BatchErrorOut",
    "BatchJobListOut",
    "BatchJobOut",
    "BatchListQuery",
    "BatchMessageIn",
    "BatchRequestIn",
    "BatchResultsQuery",
    "BatchRetryIn",
    "BatchSubmitIn",
]

MAX_LIMIT = 500
BIGINT = 2**63  # PostgreSQL's LIMIT and OFFSET are signed 64-bit integers
MAX_NAME_LENGTH = BatchJob._meta.get_field("name").max_length or 0
_CUSTOM_ID = f"^{CUSTOM_ID_PATTERN.pattern}$"
_EXAMPLE_PARAMS = {
    "model": "claude-haiku-4-5",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Summarise our refund policy in one line."}],
}


CustomId = Annotated[str, Field(pattern=_CUSTOM_ID, description=CUSTOM_ID_RULE)]


class BatchErrorItemOut(Schema):
    where: str = Field(description='"body", "query", "requests[3]", "messages[0]", ...')
    field: str = Field(description='Dotted path inside it ("params.max_tokens"), or "".')
    message: str


class BatchErrorOut(Schema):
    """What was refused and why; `errors` names each bad field (the first 50)."""

    detail: str
    errors: list[BatchErrorItemOut] = []


class BatchCountsOut(Schema):
    succeeded: int
    errored: int
    canceled: int
    expired: int
    pending: int


class BatchJobOut(Schema):
    id: int
    name: str
    status: str
    provider: str
    model: str
    mode: str
    source: str
    request_count: int
    counts: BatchCountsOut
    progress_percent: int
    cost: Decimal
    baseline_cost: Decimal
    saved: Decimal
    error: str
    submitted_by: str
    parent_id: int | None
    retry_ids: list[int]
    provider_batch_ids: list[str]
    cancel_requested: bool
    created_at: datetime
    submitted_at: datetime | None
    ended_at: datetime | None
    results_url: str


class BatchJobListOut(Schema):
    count: int
    items: list[BatchJobOut]


class BatchRequestIn(Schema):
    """One request in Anthropic's Message Batches format."""

    model_config = ConfigDict(extra="forbid")

    custom_id: CustomId
    params: dict[str, Any] = Field(
        description="The Messages API request: model (a Claude model the price table knows), "
        "max_tokens, messages, and any other parameter the Messages API takes."
    )


class BatchMessageIn(Schema):
    """One chat message, as LangChain and the Anthropic SDK spell it."""

    role: str = Field(description="system, user or assistant (LangChain's names work too).")
    content: Any = Field(description="A string, or a list of content blocks.")


Conversation = Annotated[list[BatchMessageIn], Field(min_length=1)]


class BatchSubmitIn(Schema):
    """Either `requests` (Anthropic's batch format) or `messages` (chat message lists, converted
    exactly as ChatAnthropic converts them) with `params` (model, max_tokens, temperature, ...).
    Nothing is stored unless every request is valid."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "oneOf": [{"required": ["requests"]}, {"required": ["messages", "params"]}],
            "examples": [
                {"name": "nightly", "requests": [{"custom_id": "r0", "params": _EXAMPLE_PARAMS}]},
                {
                    "mode": "standard",
                    "messages": [[{"role": "user", "content": "Hi"}]],
                    "params": {"model": "claude-haiku-4-5", "max_tokens": 64},
                },
            ],
        },
    )

    # A key that is present must hold a value of its type (null only where it says so); the
    # default_factory keeps such keys optional without publishing a default.
    name: str | None = Field(None, max_length=MAX_NAME_LENGTH)
    mode: JobMode = JobMode.BATCH
    provider: JobProvider = Field(
        JobProvider.ANTHROPIC,
        description="Where the job goes: anthropic (requests in Message Batches format), openAI "
        "or azureOpenAI (params in Chat Completions format, sent to the Batch API).",
    )
    model: str | None = Field(
        None,
        description="The model the job is priced and listed as; fills params.model where a "
        "request has none. Required for azureOpenAI: the OpenAI model behind the deployments "
        "the requests' params.model name.",
    )
    requests: list[BatchRequestIn] = Field(default_factory=list, min_length=1)
    messages: list[Conversation] = Field(
        default_factory=list,
        min_length=1,
        description='Conversations, each a non-empty list of messages: [[{"role": "user", '
        '"content": "..."}], ...].',
    )
    custom_ids: list[CustomId] | None = Field(
        None, description="One per conversation (default r0, r1, ...); with messages only."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Messages API parameters for every conversation (not messages or system); "
        "with messages only.",
    )


class BatchRetryIn(Schema):
    mode: JobMode = JobMode.BATCH


class BatchListQuery(Schema):
    status: str = Field(
        "",
        description="Only jobs in this status; empty or absent for all.",
        json_schema_extra={"enum": ["", *JobStatus.values]},
    )
    limit: int = Field(
        50,
        description=f"Page size, held to 1-{MAX_LIMIT}.",
        json_schema_extra={"minimum": -BIGINT, "maximum": BIGINT - 1},
    )
    offset: int = Field(
        0,
        description="Jobs to skip; a negative offset counts as 0.",
        json_schema_extra={"minimum": -BIGINT, "maximum": BIGINT - MAX_LIMIT - 1},
    )


class BatchResultsQuery(Schema):
    outcome: str = Field(
        "",
        description="Only requests with this outcome; empty or absent for all.",
        json_schema_extra={"enum": ["", *Outcome.values]},
    )
