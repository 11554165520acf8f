"""Gemini's Batch API (half price) over google-genai: `GeminiBatchClient`.

The same public async interface and result types as `AnthropicBatchClient` (`submit`, `poll`,
`status`, `cancel`, `collect`, `run`, `resume`, `resume_open`; `SubmittedBatch`, `BatchStatus`,
`BatchItemResult`), and the same decisions, written once (`optimization._batch_async`,
`optimization._batch_core`, `optimization.batch_create`): split by the limits, save an intent
in the `BatchStateStore` before each create, send the create once, and after a lost response
find the batch it made before ever sending again (`optimization._gemini_batch_io`: by the
display name carrying the intent id).

Requests go inline (ai.google.dev "Batch API": inline requests for batches under 20 MB in
total), or above `inline_max_bytes` as an uploaded JSONL file (up to 2 GB); each is the REST
`GenerateContentRequest` that `optimization.gemini_batches.gemini_batch_requests` builds,
keyed by its custom_id (`metadata.key` inline, `key` in a file). Responses come back in input
order, inline or in a results file; an item's key, when echoed, is preferred over its place.
Each succeeded item is an AIMessage built by langchain-google-genai's own conversion, with
`usage_metadata.input_token_details.cache_read` from `cachedContentTokenCount`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from google import genai
from google.genai import types

from optimization._batch_async import AsyncBatchClient
from optimization._batch_core import BatchItemResult, BatchStatus, Collected, SubmittedBatch
from optimization._batch_io import AsyncPerform
from optimization._gemini_adapter import ai_message
from optimization._gemini_batch_io import (
    ENDED,
    GEMINI_RULES,
    GeminiBatchBody,
    gemini_batch_status,
    job_state,
    perform,
    translated,
)
from optimization.batch_wire import BatchRequest, Outcome
from optimization.capabilities import GEMINI_BATCH_MAX_BYTES
from optimization.exceptions import BatchError
from optimization.pricing import TokenUsage

logger = logging.getLogger(__name__)

# ai.google.dev "Batch API" (read 2026-11-30): inline requests suit batches under 20 MB in
# total; larger ones go as a JSONL input file of up to 2 GB (the capability table's figure).
# One MiB (inline) or 64 MiB (file) stays free for the framing, a few bytes a request wider
# than the Message Batches framing `split_requests` measures.
GEMINI_INLINE_MAX_BYTES = 20 * 1024 * 1024
INLINE_MAX_BYTES = GEMINI_INLINE_MAX_BYTES - 1024 * 1024
MAX_BYTES_PER_GEMINI_BATCH = GEMINI_BATCH_MAX_BYTES - 64 * 1024 * 1024
# No request-count limit is documented for Gemini batches: the byte limit binds first.
MAX_REQUESTS_PER_GEMINI_BATCH = 1_000_000
# What a request without a response ends as, by the state the batch ended in.
_UNANSWERED: Mapping[str, Outcome] = {
    "JOB_STATE_CANCELLED": "canceled",
    "JOB_STATE_EXPIRED": "expired",
}


def token_usage(usage: types.GenerateContentResponseUsageMetadata | None) -> TokenUsage:
    """Tokens by kind: `promptTokenCount` includes the cached part, reported apart."""
    if usage is None:
        return TokenUsage()
    cached = usage.cached_content_token_count or 0
    return TokenUsage(
        input_tokens=max((usage.prompt_token_count or 0) - cached, 0),
        cache_read_tokens=cached,
        output_tokens=(usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0),
    )


class GeminiBatchClient(AsyncBatchClient[genai.Client]):
    """Submit, poll, collect and cancel Gemini batches with `client.aio` (google-genai).

    `client` is a `google.genai.Client` for the Gemini Developer API (ChatGoogleGenerativeAI's
    own `client` works, so the key and base URL come from the chat model); `model` names the
    model every request runs on; a batch above `inline_max_bytes` goes as an uploaded file.
    See `BatchClientCore` for the other options.
    """

    rules = GEMINI_RULES
    provider_max_requests = MAX_REQUESTS_PER_GEMINI_BATCH
    provider_max_bytes = MAX_BYTES_PER_GEMINI_BATCH

    def __init__(
        self,
        client: genai.Client,
        *,
        model: str,
        inline_max_bytes: int = INLINE_MAX_BYTES,
        **options: Any,
    ) -> None:
        options.setdefault("max_requests", MAX_REQUESTS_PER_GEMINI_BATCH)
        options.setdefault("max_bytes", MAX_BYTES_PER_GEMINI_BATCH)
        super().__init__(client, model=model.removeprefix("models/"), **options)
        self.inline_max_bytes = min(inline_max_bytes, INLINE_MAX_BYTES)

    def _performer(self) -> AsyncPerform[genai.Client]:
        return perform

    def _body(self, requests: Sequence[BatchRequest], positions: range) -> GeminiBatchBody:
        return GeminiBatchBody(
            requests, positions, model=self.model, inline_max_bytes=self.inline_max_bytes
        )

    def _status_of(self, batch: Any) -> BatchStatus:
        record = self.state_store.load(batch.name or "")
        return gemini_batch_status(batch, len(record.custom_ids) if record is not None else 0)

    async def _job(self, batch_id: str) -> types.BatchJob:
        return await translated(self.client.aio.batches.get(name=batch_id))

    async def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        return self._status_of(await self._job(batch_id))

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their responses."""
        await translated(self.client.aio.batches.cancel(name=batch_id))
        return await self.status(batch_id)

    async def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position.

        A request the output does not answer ends `canceled` or `expired` when the batch did,
        `errored` otherwise; none is dropped. Raises BatchError for a batch that has not ended
        yet (poll it first): its missing results may still come.
        """
        collected = Collected(self.state_store)
        for batch in batches:
            job = await self._job(batch.batch_id)
            state = job_state(job)
            if state not in ENDED:
                raise BatchError(
                    f"batch {batch.batch_id} has not ended ({state}): poll it first",
                    batch_id=batch.batch_id,
                )
            for item in self._items(job, batch, await self._outputs(job)):
                collected.add(item)
            collected.batch_read(
                batch,
                missing=_UNANSWERED.get(state, "errored"),
                error=f"no response: the batch ended {state}",
            )
        return collected.in_order()

    async def _outputs(self, job: types.BatchJob) -> list[types.InlinedResponse]:
        """The job's responses in input order, read inline or from its results file."""
        file_name = job.dest.file_name if job.dest is not None else None
        if not file_name:
            return list(job.dest.inlined_responses or []) if job.dest is not None else []
        with tempfile.TemporaryDirectory(prefix="gemini-results-") as directory:
            path = os.path.join(directory, "responses.jsonl")
            await translated(self.client.aio.files.download(file=file_name, destination=path))
            return await asyncio.to_thread(_read_responses, path)

    def _items(
        self,
        job: types.BatchJob,
        batch: SubmittedBatch,
        outputs: Sequence[types.InlinedResponse],
    ) -> list[BatchItemResult]:
        """A result for each response in `outputs` that belongs to `batch`."""
        ids = self._custom_id_map(batch.batch_id)
        in_order = sorted(ids, key=ids.__getitem__)
        state = job_state(job)
        items = []
        for index, output in enumerate(outputs):
            key = (output.metadata or {}).get("key")
            custom_id = key if key in ids else in_order[index] if index < len(in_order) else None
            if custom_id is None:
                logger.warning("batch %s returned more responses than requests", batch.batch_id)
            elif custom_id in batch.custom_ids:
                items.append(_item(output, custom_id, ids[custom_id], state, batch.batch_id))
        return items


def _item(
    output: types.InlinedResponse, custom_id: str, position: int, state: str, batch_id: str
) -> BatchItemResult:
    response = output.response
    message = ai_message(response) if response is not None else None
    if response is not None and message is not None:
        extra = {"batch_id": batch_id, "custom_id": custom_id}
        message = message.model_copy(
            update={"response_metadata": {**message.response_metadata, **extra}}
        )
        return BatchItemResult(
            position,
            custom_id,
            "succeeded",
            message=message,
            usage=token_usage(response.usage_metadata),
            batch_id=batch_id,
        )
    error = output.error
    text = f"{error.code}: {error.message}" if error is not None else "no candidate"
    outcome: Outcome = "errored" if response is not None else _UNANSWERED.get(state, "errored")
    return BatchItemResult(position, custom_id, outcome, error=text, batch_id=batch_id)


def _read_responses(path: str) -> list[types.InlinedResponse]:
    with open(path, "rb") as handle:
        return [_file_response(line) for line in handle if line.strip()]


def _file_response(line: bytes) -> types.InlinedResponse:
    """A results-file line (`{"key", "response" | "error"}`) as an inline response."""
    data = json.loads(line)
    key = data.get("key")
    metadata = {"key": str(key)} if key is not None else None
    if isinstance(data.get("response"), dict):
        response = types.GenerateContentResponse.model_validate(data["response"])
        return types.InlinedResponse(response=response, metadata=metadata)
    error = data.get("error") or {}
    return types.InlinedResponse(
        error=types.JobError(code=error.get("code"), message=error.get("message")),
        metadata=metadata,
    )


__all__ = [
    "INLINE_MAX_BYTES",
    "MAX_BYTES_PER_GEMINI_BATCH",
    "MAX_REQUESTS_PER_GEMINI_BATCH",
    "GeminiBatchClient",
    "token_usage",
]
