"""OpenAI's and Azure OpenAI's Batch API (50% price) over the official async SDK.

`OpenAIBatchClient` has the same interface and result types as `AnthropicBatchClient`: submit
(split by `max_requests`, 50,000 requests and 200 MB of JSONL per input file; each group
uploaded as a file and created as a batch at most once, its intent id in the batch metadata
so a lost create response is reconciled by listing, never by creating again), poll, cancel,
collect (output and error files, in input order), run, resume and resume_open. Requests are
`BatchRequest`s whose body is exactly the chat completions body the model would send
(`optimization.openai_batches.openai_batch_requests`).

The client is an `openai.AsyncOpenAI` or `openai.AsyncAzureOpenAI` (whose SDK itself turns
`/files` and `/batches` into Azure's paths); `endpoint` is the JSONL `url` and the batch's
endpoint: `/v1/chat/completions` for OpenAI, `/chat/completions` for Azure.
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
from optimization._openai_batch_io import ENDED, OPENAI_RULES, openai_batch_status, perform
from optimization.batch_wire import BatchRequest, JsonlLines, Outcome, split_requests
from optimization.capabilities import OPENAI_BATCH_MAX_BYTES, OPENAI_BATCH_MAX_REQUESTS
from optimization.exceptions import BatchError
from optimization.openai_batch_wire import LINE_FRAME, JsonlBody, read_result_line

OPENAI_ENDPOINT = "/v1/chat/completions"
AZURE_ENDPOINT = "/chat/completions"
OPENAI_RESPONSES_ENDPOINT = "/v1/responses"
AZURE_RESPONSES_ENDPOINT = "/responses"
# Positions no file mentions, by the batch's final status.
_MISSING: dict[str, tuple[Outcome, str]] = {
    "expired": ("expired", "request expired"),
    "cancelled": ("canceled", "request canceled"),
}


def default_endpoint(client: openai.AsyncOpenAI, *, responses: bool = False) -> str:
    """The chat completions (or, with `responses`, Responses API) endpoint batches of `client`
    name: Azure's have no `/v1`."""
    if isinstance(client, openai.AsyncAzureOpenAI):
        return AZURE_RESPONSES_ENDPOINT if responses else AZURE_ENDPOINT
    return OPENAI_RESPONSES_ENDPOINT if responses else OPENAI_ENDPOINT


class OpenAIBatchClient(AsyncBatchClient[openai.AsyncOpenAI]):
    """Submit, poll, cancel and collect OpenAI (or Azure OpenAI) batches with the async SDK.

    `endpoint` defaults to the client's chat completions endpoint (`default_endpoint`). See
    `BatchClientCore` for the other options.
    """

    rules = OPENAI_RULES
    provider_max_requests = OPENAI_BATCH_MAX_REQUESTS
    provider_max_bytes = OPENAI_BATCH_MAX_BYTES

    def __init__(
        self, client: openai.AsyncOpenAI, *, endpoint: str | None = None, **options: Any
    ) -> None:
        options.setdefault("max_requests", OPENAI_BATCH_MAX_REQUESTS)
        options.setdefault("max_bytes", OPENAI_BATCH_MAX_BYTES)
        super().__init__(client, **options)
        self.endpoint = endpoint or default_endpoint(client)

    def _performer(self) -> AsyncPerform[openai.AsyncOpenAI]:
        return perform

    def _split(self, requests: Sequence[BatchRequest]) -> list[range]:
        return split_requests(
            requests,
            self.max_requests,
            self.max_bytes,
            frame=LINE_FRAME + len(self.endpoint),
            envelope=0,
        )

    def _body(self, requests: Sequence[BatchRequest], positions: range) -> JsonlBody:
        return JsonlBody(requests, positions, self.endpoint)

    def _status_of(self, batch: Any) -> BatchStatus:
        return openai_batch_status(batch)

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
                raise openai.APIConnectionError(
                    message=f"file {file_id} broke off: {exc}", request=response.http_request
                ) from exc
            for line in lines.end():
                yield line

    async def results(self, batch_id: str) -> AsyncIterator[BatchItemResult]:
        """`batch_id`'s results as its output file, then its error file, are read (file
        order). Lines whose custom_id the state store does not map are logged and skipped."""
        positions = self._custom_id_map(batch_id)
        batch = await self.client.batches.retrieve(batch_id)
        async for item in self._file_results(batch, positions):
            yield item

    async def _file_results(
        self, batch: Any, positions: Mapping[str, int]
    ) -> AsyncIterator[BatchItemResult]:
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                async for line in self.file_lines(file_id):
                    item = read_result_line(line, positions, batch_id=batch.id)
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
            batch = await self.client.batches.retrieve(submitted.batch_id)
            if batch.status not in ENDED:
                raise BatchError(
                    f"batch {batch.id} is {batch.status}: poll it until it ends first",
                    batch_id=batch.id,
                )
            async for item in self._file_results(batch, positions):
                collected.add(item)
            missing, error = _MISSING.get(batch.status, ("errored", _errors_of(batch)))
            collected.batch_read(submitted, missing=missing, error=error)
        return collected.in_order()


def _errors_of(batch: Any) -> str:
    errors = batch.errors.data if batch.errors and batch.errors.data else []
    if not errors:
        return "missing from the batch results"
    return "; ".join(f"{e.code}: {e.message} (line {e.line})" for e in errors[:5])


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
    "default_endpoint",
]
