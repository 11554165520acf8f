"""The OpenAI SDK side of the batch flows: each effect as an `openai.OpenAI` or
`openai.AsyncOpenAI` call, and the rules the create-once flow follows for OpenAI
(`optimization.batch_create.CreationRules`).

Creating a batch is two calls: the input file is uploaded (once per group: its id is kept on
the `JsonlBody`, so a create sent again reuses it; an upload bills nothing, so the SDK may
retry it), then the batch is created without the SDK's retries (`POST /batches`, which the
Azure client turns into Azure's path), carrying the state store's
intent id in its metadata. After a lost create response, the batch listed with that intent id
is the one to adopt: no guess by size, unlike Message Batches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import openai
from openai.types import Batch

from optimization._batch_core import BatchStatus
from optimization._batch_io import (
    LIST_PAGE_SIZE,
    CancelBatch,
    CreateBatch,
    Effect,
    ListBatches,
    NextPage,
    RetrieveBatch,
    Sleep,
)
from optimization._openai_adapter import openai_sdk_would_retry, openai_server_retry_after
from optimization.batch_create import CreationRules
from optimization.batch_state import SubmitIntent
from optimization.batch_wire import Outcome
from optimization.exceptions import BatchError
from optimization.openai_batch_wire import JsonlBody

INTENT_KEY = "llmopt_intent"
COMPLETION_WINDOW = "24h"
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


def _carries_intent(batch: Any, intent: SubmitIntent) -> bool:
    return bool((batch.metadata or {}).get(INTENT_KEY) == intent.intent_id)


def _created_at(batch: Any) -> float:
    return float(batch.created_at or 0)


OPENAI_RULES = CreationRules(
    api_error=openai.APIError,
    status_error=openai.APIStatusError,
    connection_error=openai.APIConnectionError,
    should_retry=openai_sdk_would_retry,
    retry_after=openai_server_retry_after,
    refused_statuses=frozenset({429}),
    matches=_carries_intent,
    created_at=_created_at,
)


def _upload(body: JsonlBody) -> dict[str, Any]:
    """The `files.create` arguments that upload `body` as a batch input file."""
    return {"file": ("batch_input.jsonl", bytes(body)), "purpose": "batch"}


def _create(body: JsonlBody, intent_id: str) -> dict[str, Any]:
    """The `post` arguments that create the batch of the uploaded `body`, sent once.

    Not `with_options(max_retries=0)`: its copy of an AzureOpenAI made with
    `azure_deployment` loses the endpoint, and /batches then goes under the deployment's path
    (openai 2.54), where Azure has no batches.
    """
    return {
        "path": "/batches",
        "cast_to": Batch,
        "body": {
            "input_file_id": body.file_id,
            "endpoint": body.url,
            "completion_window": COMPLETION_WINDOW,
            "metadata": {INTENT_KEY: intent_id},
        },
        "options": {"max_retries": 0},
    }


def _call(effect: Effect, client: Any, sleep: Callable[[float], Any]) -> Any:
    """The one SDK call (or sleep) of an effect other than a create: its result for a sync
    `client`, an awaitable of it for an async one (the twins share method names)."""
    match effect:
        case ListBatches():
            return client.batches.list(limit=LIST_PAGE_SIZE)
        case NextPage(page=page):
            return page.get_next_page()
        case RetrieveBatch(batch_id=batch_id):
            return client.batches.retrieve(batch_id)
        case CancelBatch(batch_id=batch_id):
            return client.batches.cancel(batch_id)
        case Sleep(seconds=seconds):
            return sleep(seconds)
    raise TypeError(f"no OpenAI call for {effect!r}")


async def perform(
    effect: Effect, client: openai.AsyncOpenAI, sleep: Callable[[float], Awaitable[None]]
) -> Any:
    """Carry out one effect of a batch flow with the async `client`."""
    if isinstance(effect, CreateBatch) and isinstance(effect.body, JsonlBody):
        # Uploaded once per group: a create sent again reuses the file.
        if effect.body.file_id is None:
            effect.body.file_id = (await client.files.create(**_upload(effect.body))).id
        return await client.post(**_create(effect.body, effect.intent_id))
    return await _call(effect, client, sleep)


def perform_sync(effect: Effect, client: openai.OpenAI, sleep: Callable[[float], None]) -> Any:
    """Carry out one effect of a batch flow with the sync `client`."""
    if isinstance(effect, CreateBatch) and isinstance(effect.body, JsonlBody):
        if effect.body.file_id is None:
            effect.body.file_id = client.files.create(**_upload(effect.body)).id
        return client.post(**_create(effect.body, effect.intent_id))
    return _call(effect, client, sleep)


def openai_batch_status(batch: Any, *, timed_out: bool = False) -> BatchStatus:
    """An OpenAI Batch as a `BatchStatus`, in the Message Batches' words (`ended` once
    completed, failed, expired or cancelled; `canceling` while cancelling)."""
    counts = batch.request_counts
    total = counts.total if counts else 0
    completed = counts.completed if counts else 0
    failed = counts.failed if counts else 0
    if batch.status in ENDED:
        processing_status = "ended"
    elif batch.status == "cancelling":
        processing_status = "canceling"
    else:
        processing_status = "in_progress"
    return BatchStatus(
        batch_id=batch.id,
        processing_status=processing_status,
        succeeded=completed,
        errored=failed,
        processing=max(0, total - completed - failed),
        timed_out=timed_out,
    )


# Positions no file mentions, by the batch's final status.
_MISSING: dict[str, tuple[Outcome, str]] = {
    "expired": ("expired", "request expired"),
    "cancelled": ("canceled", "request canceled"),
}


def ended_batch(batch: Any) -> Any:
    """`batch` itself once it has ended; BatchError before (its missing results may still
    come, so nothing may be collected yet)."""
    if batch.status not in ENDED:
        raise BatchError(
            f"batch {batch.id} is {batch.status}: poll it until it ends first",
            batch_id=batch.id,
        )
    return batch


def missing_outcome(batch: Any) -> tuple[Outcome, str]:
    """(outcome, error) of the positions of an ended batch that neither file mentions:
    `expired` or `canceled` when the batch expired or was cancelled, `errored` otherwise (a
    failed batch: with its validation errors)."""
    return _MISSING.get(batch.status, ("errored", _errors_of(batch)))


def _errors_of(batch: Any) -> str:
    errors = batch.errors.data if batch.errors and batch.errors.data else []
    if not errors:
        return "missing from the batch results"
    return "; ".join(f"{e.code}: {e.message} (line {e.line})" for e in errors[:5])


def result_files(batch: Any) -> list[str]:
    """The ids of the files that hold `batch`'s results: its output file, then its error file."""
    return [file_id for file_id in (batch.output_file_id, batch.error_file_id) if file_id]


__all__ = [
    "ENDED",
    "INTENT_KEY",
    "OPENAI_RULES",
    "ended_batch",
    "missing_outcome",
    "openai_batch_status",
    "perform",
    "perform_sync",
    "result_files",
]
