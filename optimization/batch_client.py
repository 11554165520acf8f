"""Anthropic's Message Batches API (50% price), over the official SDK: async and sync twins.

`AnthropicBatchClient` takes an `anthropic.AsyncAnthropic`, `SyncAnthropicBatchClient`
(`optimization.batch_client_sync`) an `anthropic.Anthropic`; like the SDK's own twins they have
the same methods, arguments and behaviour, and share every decision (`optimization._batch_core`).

Requests come encoded from `optimization.batch_wire.prepare_requests`. `submit` splits them
into batches the API accepts and remembers each batch in a `BatchStateStore`; `poll` waits
with exponential backoff; `raw_results` streams the JSONL results back as plain dicts
(`RawBatchResult`, for callers that store them), `results` as LangChain messages
(`BatchItemResult`, the same lines through the same parser), and `collect` returns them in
input order. A restarted process calls `resume` with a stored batch id instead of submitting
(and paying for) the same requests again."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence

import anthropic

from optimization._anthropic_adapter import TRANSPORT_ERRORS, streamed_batch_results
from optimization._batch_async import AsyncBatchClient
from optimization._batch_core import (
    MAX_BYTES_PER_BATCH,
    MAX_REQUESTS_PER_BATCH,
    BatchItemResult,
    BatchStatus,
    BatchSubmitError,
    Collected,
    SubmittedBatch,
    batch_status,
    item_from_raw,
    results_broke_off,
)
from optimization.batch_client_sync import SyncAnthropicBatchClient
from optimization.batch_wire import JsonlLines, RawBatchResult, parse_result_line

logger = logging.getLogger(__name__)


class AnthropicBatchClient(AsyncBatchClient[anthropic.AsyncAnthropic]):
    """Submit, poll, stream results of and cancel Message Batches with the async SDK.

    `client` is an `anthropic.AsyncAnthropic` (ChatAnthropic's own `_async_client` works, so the
    base URL and key come from the chat model). See `BatchClientCore` for the options, and
    `AsyncBatchClient` for submit, poll, run, resume and resume_open.
    """

    async def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        return batch_status(await self.client.messages.batches.retrieve(batch_id))

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their results."""
        return batch_status(await self.client.messages.batches.cancel(batch_id))

    async def result_lines(self, batch_id: str) -> AsyncIterator[bytes]:
        """The non-empty lines of `batch_id`'s results file, as bytes, as they arrive.

        Fetched by the SDK (its results_url, auth, headers and retries of the request); the
        body is streamed, never held whole. A connection lost mid-body is raised as
        `anthropic.APIConnectionError`, like one lost before it.
        """
        async with streamed_batch_results(self.client, batch_id) as (body, request):
            lines = JsonlLines()
            try:
                async for chunk in body:
                    for line in lines.feed(chunk):
                        yield line
            except TRANSPORT_ERRORS as exc:
                raise results_broke_off(batch_id, request, exc) from exc
            for line in lines.end():
                yield line

    def raw_results(self, batch_id: str) -> AsyncIterator[RawBatchResult]:
        """Stream `batch_id`'s results in file order as plain dicts, one `json.loads` per line.

        For callers that store results rather than hand them to LangChain (no AIMessage is
        built). Lines whose custom_id the state store does not map are logged and skipped; a
        batch the store does not know is a BatchError at once.
        """
        return self._parsed(batch_id, self._custom_id_map(batch_id))

    async def _parsed(
        self, batch_id: str, positions: Mapping[str, int]
    ) -> AsyncIterator[RawBatchResult]:
        async for line in self.result_lines(batch_id):
            item = parse_result_line(line, positions, batch_id=batch_id)
            if item is not None:
                yield item

    def results(self, batch_id: str) -> AsyncIterator[BatchItemResult]:
        """Stream `batch_id`'s results as they are read from the JSONL file (file order).

        Each line is decoded and converted on its own, so the file is never held in memory.
        """
        return _items(self.raw_results(batch_id))

    async def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position.

        A position the results file does not mention is reported as `errored`, never dropped.
        """
        collected = Collected(self.state_store)
        for batch in batches:
            async for item in self.results(batch.batch_id):
                collected.add(item)
            collected.batch_read(batch)
        return collected.in_order()


async def _items(raw: AsyncIterator[RawBatchResult]) -> AsyncIterator[BatchItemResult]:
    async for item in raw:
        yield item_from_raw(item)


__all__ = [
    "MAX_BYTES_PER_BATCH",
    "MAX_REQUESTS_PER_BATCH",
    "AnthropicBatchClient",
    "BatchItemResult",
    "BatchStatus",
    "BatchSubmitError",
    "SubmittedBatch",
    "SyncAnthropicBatchClient",
    "item_from_raw",
]
