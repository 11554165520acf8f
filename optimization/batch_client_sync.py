"""The sync twin of `AnthropicBatchClient`, over `anthropic.Anthropic` (see
`optimization.batch_client`): same methods, arguments and behaviour, for code without an event
loop, such as a Celery worker."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import anthropic

from optimization._anthropic_adapter import TRANSPORT_ERRORS, streamed_batch_results_sync
from optimization._batch_core import (
    BatchItemResult,
    BatchStatus,
    Collected,
    SubmittedBatch,
    batch_status,
    item_from_raw,
    results_broke_off,
)
from optimization._batch_sync import SyncBatchClient
from optimization.batch_wire import JsonlLines, RawBatchResult, parse_result_line


class SyncAnthropicBatchClient(SyncBatchClient[anthropic.Anthropic]):
    """Submit, poll, stream results of and cancel Message Batches with the sync SDK.

    `client` is an `anthropic.Anthropic`. See `BatchClientCore` for the options, and
    `SyncBatchClient` for submit, poll, run, resume and resume_open.
    """

    def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        return batch_status(self.client.messages.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their results."""
        return batch_status(self.client.messages.batches.cancel(batch_id))

    def result_lines(self, batch_id: str) -> Iterator[bytes]:
        """The non-empty lines of `batch_id`'s results file, as bytes, as they arrive (as
        `AnthropicBatchClient.result_lines`: streamed, a lost connection an APIConnectionError).
        """
        with streamed_batch_results_sync(self.client, batch_id) as (body, request):
            lines = JsonlLines()
            try:
                for chunk in body:
                    yield from lines.feed(chunk)
            except TRANSPORT_ERRORS as exc:
                raise results_broke_off(batch_id, request, exc) from exc
            yield from lines.end()

    def raw_results(self, batch_id: str) -> Iterator[RawBatchResult]:
        """Stream `batch_id`'s results in file order as plain dicts, one `json.loads` per line.

        For callers that store results rather than hand them to LangChain (no AIMessage is
        built). Lines whose custom_id the state store does not map are logged and skipped; a
        batch the store does not know is a BatchError at once.
        """
        return self._parsed(batch_id, self._custom_id_map(batch_id))

    def _parsed(self, batch_id: str, positions: Mapping[str, int]) -> Iterator[RawBatchResult]:
        for line in self.result_lines(batch_id):
            item = parse_result_line(line, positions, batch_id=batch_id)
            if item is not None:
                yield item

    def results(self, batch_id: str) -> Iterator[BatchItemResult]:
        """Stream `batch_id`'s results as they are read from the JSONL file (file order).

        Each line is decoded and converted on its own, so the file is never held in memory.
        """
        return map(item_from_raw, self.raw_results(batch_id))

    def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position.

        A position the results file does not mention is reported as `errored`, never dropped.
        """
        collected = Collected(self.state_store)
        for batch in batches:
            for item in self.results(batch.batch_id):
                collected.add(item)
            collected.batch_read(batch)
        return collected.in_order()


__all__ = ["SyncAnthropicBatchClient"]
