"""The OpenAI SDK side of the batch flows: each effect as an `openai.AsyncOpenAI` call, and the
rules the create-once flow follows for OpenAI (`optimization.batch_create.CreationRules`).

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
from optimization.batch_create import CreationRules
from optimization.batch_state import SubmitIntent
from optimization.openai_batch_wire import JsonlBody

INTENT_KEY = "llmopt_intent"
COMPLETION_WINDOW = "24h"
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})


def _carries_intent(batch: Any, intent: SubmitIntent) -> bool:
    return bool((batch.metadata or {}).get(INTENT_KEY) == intent.intent_id)


def _created_at(batch: Any) -> float:
    return float(batch.created_at or 0)


# What a poll rides out (the SDK has retried it already): rate limits, 5xx, lost connections.
_RIDDEN_OUT = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)


def _retry_after_header(exc: Exception) -> float | None:
    """The seconds a refusal's `retry-after` header asked for (None: not said, or not a number)."""
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None


OPENAI_RULES = CreationRules(
    api_error=openai.APIError,
    status_error=openai.APIStatusError,
    connection_error=openai.APIConnectionError,
    should_retry=lambda exc: isinstance(exc, _RIDDEN_OUT),
    retry_after=_retry_after_header,
    refused_statuses=frozenset({429}),
    matches=_carries_intent,
    created_at=_created_at,
)


async def perform(
    effect: Effect, client: openai.AsyncOpenAI, sleep: Callable[[float], Awaitable[None]]
) -> Any:
    """Carry out one effect of a batch flow with `client`."""
    match effect:
        case CreateBatch(body=JsonlBody() as body, intent_id=intent_id):
            if body.file_id is None:
                uploaded = await client.files.create(
                    file=("batch_input.jsonl", bytes(body)), purpose="batch"
                )
                body.file_id = uploaded.id
            # Not `with_options(max_retries=0)`: its copy of an AsyncAzureOpenAI made with
            # `azure_deployment` loses the endpoint, and /batches then goes under the
            # deployment's path (openai 2.54), where Azure has no batches.
            return await client.post(
                "/batches",
                cast_to=Batch,
                body={
                    "input_file_id": body.file_id,
                    "endpoint": body.url,
                    "completion_window": COMPLETION_WINDOW,
                    "metadata": {INTENT_KEY: intent_id},
                },
                options={"max_retries": 0},
            )
        case ListBatches():
            return await client.batches.list(limit=LIST_PAGE_SIZE)
        case NextPage(page=page):
            return await page.get_next_page()
        case RetrieveBatch(batch_id=batch_id):
            return await client.batches.retrieve(batch_id)
        case CancelBatch(batch_id=batch_id):
            return await client.batches.cancel(batch_id)
        case Sleep(seconds=seconds):
            return await sleep(seconds)
    raise TypeError(f"no OpenAI call for {effect!r}")


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


__all__ = ["INTENT_KEY", "OPENAI_RULES", "openai_batch_status", "perform"]
