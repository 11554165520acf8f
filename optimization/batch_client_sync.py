"""The sync twin of `AnthropicBatchClient`, over `anthropic.Anthropic` (see
`optimization.batch_client`): same methods, arguments and behaviour, for code without an event
loop, such as a Celery worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import anthropic

from optimization._anthropic_adapter import TRANSPORT_ERRORS, streamed_batch_results_sync
from optimization._batch_core import (
    BatchClientCore,
    BatchItemResult,
    BatchStatus,
    Collected,
    SubmittedBatch,
    batch_status,
    item_from_raw,
    results_broke_off,
)
from optimization._batch_io import run_flow
from optimization.batch_wire import BatchRequest, JsonlLines, RawBatchResult, parse_result_line

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]


class SyncAnthropicBatchClient(BatchClientCore[anthropic.Anthropic, Sleep]):
    """Submit, poll, stream results of and cancel Message Batches with the sync SDK.

    `client` is an `anthropic.Anthropic`. See `BatchClientCore` for the options.
    """

    def _default_sleep(self) -> Sleep:
        return time.sleep

    def submit(
        self,
        requests: Sequence[BatchRequest],
        *,
        meta: Mapping[str, Any] | None = None,
        reconcile_open: bool = False,
    ) -> list[SubmittedBatch]:
        """Submit `requests` as one or more batches; position i is `requests[i]`.

        As `AnthropicBatchClient.submit` (splitting, create-at-most-once, `reconcile_open`,
        the errors raised).
        """
        return run_flow(
            self._submit(requests, meta, reconcile_open), self.client, self._create_sleep
        )

    def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        return batch_status(self.client.messages.batches.retrieve(batch_id))

    def poll(self, batch_id: str) -> BatchStatus:
        """Wait until `batch_id` has ended, backing off from `poll_initial` to `poll_max`.

        After `timeout` seconds the batch is canceled and polled until it ends (at most
        `cancel_grace` more seconds); the returned status then has `timed_out=True` and its
        succeeded results are still collectible. When the caller interrupts the wait
        (KeyboardInterrupt, the sync form of canceling) the batch is canceled too.
        """
        try:
            return run_flow(self._poll(batch_id), self.client, self._sleep)
        except KeyboardInterrupt:
            self._cancel_quietly(batch_id)
            raise

    def _cancel_quietly(self, batch_id: str) -> None:
        try:
            self.cancel(batch_id)
        except anthropic.APIError as exc:
            logger.warning("canceling batch %s failed: %s", batch_id, exc)

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

    def run(
        self, requests: Sequence[BatchRequest], *, meta: Mapping[str, Any] | None = None
    ) -> list[BatchItemResult]:
        """Submit, wait for every batch and return the results in input order.

        The batches run side by side at the provider; they are waited for one after another.
        """
        submitted = self.submit(requests, meta=meta)
        for batch in submitted:
            self.poll(batch.batch_id)
        return self.collect(submitted)

    def resume(self, batch_id: str) -> list[BatchItemResult]:
        """Finish a batch a previous process submitted: poll it, then collect its results."""
        batch = self._stored(batch_id)
        self.poll(batch_id)
        return self.collect([batch])

    def resume_open(self) -> dict[str, list[BatchItemResult]]:
        """Resume every batch the state store still lists as open."""
        return {
            record.batch_id: self.resume(record.batch_id) for record in self.state_store.list_open()
        }


__all__ = ["SyncAnthropicBatchClient"]
