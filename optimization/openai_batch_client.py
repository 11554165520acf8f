"""OpenAI's and Azure OpenAI's Batch API (50% price) over the official SDK: async and sync twins.

`OpenAIBatchClient` has the same interface and result types as `AnthropicBatchClient`: submit
(split by `max_requests`, 50,000 requests and 200 MB of JSONL per input file; each group
uploaded as a file and created as a batch at most once, its intent id in the batch metadata
so a lost create response is reconciled by listing, never by creating again), poll, cancel,
collect (output and error files, in input order), run, resume and resume_open; `raw_results`
streams the result lines as stored dicts (`RawBatchResult`). Requests are `BatchRequest`s
whose body is exactly the chat completions body the model would send
(`optimization.openai_batches.openai_batch_requests`).

The client is an `openai.AsyncOpenAI` or `openai.AsyncAzureOpenAI` (whose SDK itself turns
`/files` and `/batches` into Azure's paths); `endpoint` is the JSONL `url` and the batch's
endpoint: `/v1/chat/completions` for OpenAI, `/chat/completions` for Azure.
`SyncOpenAIBatchClient` (`optimization.openai_batch_client_sync`) is its twin over
`openai.OpenAI` / `openai.AzureOpenAI`; both share every decision
(`optimization._openai_batch_core`, `optimization._batch_core`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import openai

from optimization._anthropic_adapter import TRANSPORT_ERRORS
from optimization._batch_async import AsyncBatchClient
from optimization._batch_core import (
    BatchItemResult,
    BatchStatus,
    BatchSubmitError,
    Collected,
    SubmittedBatch,
)
from optimization._batch_io import AsyncPerform
from optimization._openai_batch_core import (
    AZURE_ENDPOINT,
    AZURE_RESPONSES_ENDPOINT,
    OPENAI_ENDPOINT,
    OPENAI_RESPONSES_ENDPOINT,
    OpenAIBatchCore,
    default_endpoint,
    file_broke_off,
)
from optimization._openai_batch_io import (
    ended_batch,
    missing_outcome,
    openai_batch_status,
    perform,
    result_files,
)
from optimization.batch_wire import JsonlLines, RawBatchResult
from optimization.openai_batch_client_sync import SyncOpenAIBatchClient
from optimization.openai_batch_wire import item_from_openai_raw, read_raw_result_line


class OpenAIBatchClient(
    OpenAIBatchCore[openai.AsyncOpenAI, Any], AsyncBatchClient[openai.AsyncOpenAI]
):
    """Submit, poll, cancel and collect OpenAI (or Azure OpenAI) batches with the async SDK.

    `endpoint` defaults to the client's chat completions endpoint (`default_endpoint`). See
    `BatchClientCore` for the other options.
    """

    def _performer(self) -> AsyncPerform[openai.AsyncOpenAI]:
        return perform

    async def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        return openai_batch_status(await self.client.batches.retrieve(batch_id))

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their results."""
        return openai_batch_status(await self.client.batches.cancel(batch_id))

    async def file_lines(self, file_id: str) -> AsyncIterator[bytes]:
        """The non-empty lines of a file, as bytes, as they arrive (never held whole).

        A connection lost mid-body is raised as `openai.APIConnectionError`.
        """
        streaming = self.client.files.with_streaming_response
        async with streaming.content(file_id) as response:
            lines = JsonlLines()
            try:
                async for chunk in response.iter_bytes():
                    for line in lines.feed(chunk):
                        yield line
            except TRANSPORT_ERRORS as exc:
                raise file_broke_off(file_id, response.http_request, exc) from exc
            for line in lines.end():
                yield line

    async def raw_results(self, batch_id: str) -> AsyncIterator[RawBatchResult]:
        """`batch_id`'s results as its output file, then its error file, are read (file
        order), as the API sent them. Lines whose custom_id the state store does not map are
        logged and skipped."""
        positions = self._custom_id_map(batch_id)
        batch = await self.client.batches.retrieve(batch_id)
        async for item in self._file_results(batch, positions):
            yield item

    async def results(self, batch_id: str) -> AsyncIterator[BatchItemResult]:
        """`batch_id`'s results as LangChain messages, in file order (see `raw_results`)."""
        async for raw in self.raw_results(batch_id):
            yield item_from_openai_raw(raw)

    async def _file_results(
        self, batch: Any, positions: Mapping[str, int]
    ) -> AsyncIterator[RawBatchResult]:
        for file_id in result_files(batch):
            async for line in self.file_lines(file_id):
                item = read_raw_result_line(line, positions, batch_id=batch.id)
                if item is not None:
                    yield item

    async def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position.

        A position neither file mentions is `expired` or `canceled` when the batch expired or
        was cancelled, `errored` otherwise (a failed batch: with its validation errors).
        Raises BatchError for a batch that has not ended yet (poll it first): its missing
        results may still come.
        """
        collected = Collected(self.state_store)
        for submitted in batches:
            positions = self._custom_id_map(submitted.batch_id)
            batch = ended_batch(await self.client.batches.retrieve(submitted.batch_id))
            async for raw in self._file_results(batch, positions):
                collected.add(item_from_openai_raw(raw))
            missing, error = missing_outcome(batch)
            collected.batch_read(submitted, missing=missing, error=error)
        return collected.in_order()


__all__ = [
    "AZURE_ENDPOINT",
    "AZURE_RESPONSES_ENDPOINT",
    "OPENAI_ENDPOINT",
    "OPENAI_RESPONSES_ENDPOINT",
    "BatchItemResult",
    "BatchStatus",
    "BatchSubmitError",
    "OpenAIBatchClient",
    "SubmittedBatch",
    "SyncOpenAIBatchClient",
    "default_endpoint",
]
