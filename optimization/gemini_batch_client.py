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
`usage_metadata.input_token_details.cache_read` from `cachedContentTokenCount`; `raw_results`
gives each response as the API sent it (`RawBatchResult`). `SyncGeminiBatchClient`
(`optimization.gemini_batch_client_sync`) is its twin over the sync SDK; both share every
decision (`optimization._gemini_batch_core`, `optimization._batch_core`).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import Any

from google import genai
from google.genai import types

from optimization._batch_async import AsyncBatchClient
from optimization._batch_core import BatchItemResult, BatchStatus, Collected, SubmittedBatch
from optimization._batch_io import AsyncPerform
from optimization._gemini_batch_core import (
    INLINE_MAX_BYTES,
    MAX_BYTES_PER_GEMINI_BATCH,
    MAX_REQUESTS_PER_GEMINI_BATCH,
    GeminiBatchCore,
    ended_job,
    inline_responses,
    item_from_gemini_raw,
    read_responses,
    results_file,
    token_usage,
)
from optimization._gemini_batch_io import perform, translated
from optimization.batch_wire import RawBatchResult
from optimization.gemini_batch_client_sync import SyncGeminiBatchClient


class GeminiBatchClient(GeminiBatchCore[genai.Client, Any], AsyncBatchClient[genai.Client]):
    """Submit, poll, collect and cancel Gemini batches with `client.aio` (google-genai).

    `client` is a `google.genai.Client` for the Gemini Developer API (ChatGoogleGenerativeAI's
    own `client` works, so the key and base URL come from the chat model); `model` names the
    model every request runs on; a batch above `inline_max_bytes` goes as an uploaded file.
    See `BatchClientCore` for the other options.
    """

    def _performer(self) -> AsyncPerform[genai.Client]:
        return perform

    async def _job(self, batch_id: str) -> types.BatchJob:
        return await translated(self.client.aio.batches.get(name=batch_id))

    async def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        return self._status_of(await self._job(batch_id))

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their responses."""
        await translated(self.client.aio.batches.cancel(name=batch_id))
        return await self.status(batch_id)

    async def raw_results(self, batch_id: str) -> AsyncIterator[RawBatchResult]:
        """`batch_id`'s responses in input order, as the API sent them (`RawBatchResult`).

        Responses the state store cannot map are logged and skipped; a batch the store does
        not know is a BatchError.
        """
        job = await self._job(batch_id)
        for raw in self._raws(job, batch_id, await self._outputs(job)):
            yield raw

    async def results(self, batch_id: str) -> AsyncIterator[BatchItemResult]:
        """`batch_id`'s results as LangChain messages, in input order (see `raw_results`)."""
        async for raw in self.raw_results(batch_id):
            yield item_from_gemini_raw(raw)

    async def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position.

        A request the output does not answer ends `canceled` or `expired` when the batch did,
        `errored` otherwise; none is dropped. Raises BatchError for a batch that has not ended
        yet (poll it first): its missing results may still come.
        """
        collected = Collected(self.state_store)
        for batch in batches:
            job = await self._job(batch.batch_id)
            ended_job(job, batch.batch_id)
            self._collect_into(collected, batch, job, await self._outputs(job))
        return collected.in_order()

    async def _outputs(self, job: types.BatchJob) -> list[types.InlinedResponse]:
        """The job's responses in input order, read inline or from its results file."""
        file_name = results_file(job)
        if file_name is None:
            return inline_responses(job)
        with tempfile.TemporaryDirectory(prefix="gemini-results-") as directory:
            path = os.path.join(directory, "responses.jsonl")
            await translated(self.client.aio.files.download(file=file_name, destination=path))
            return await asyncio.to_thread(read_responses, path)


__all__ = [
    "INLINE_MAX_BYTES",
    "MAX_BYTES_PER_GEMINI_BATCH",
    "MAX_REQUESTS_PER_GEMINI_BATCH",
    "GeminiBatchClient",
    "SyncGeminiBatchClient",
    "token_usage",
]
