"""The sync twin of `OpenAIBatchClient`, over `openai.OpenAI` or `openai.AzureOpenAI` (see
`optimization.openai_batch_client`): same methods, arguments and behaviour, for code without
an event loop, such as a Celery worker."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import openai

from optimization._anthropic_adapter import TRANSPORT_ERRORS
from optimization._batch_core import BatchItemResult, BatchStatus, Collected, SubmittedBatch
from optimization._batch_io import SyncPerform
from optimization._batch_sync import Sleep, SyncBatchClient
from optimization._openai_batch_core import OpenAIBatchCore, file_broke_off
from optimization._openai_batch_io import (
    ended_batch,
    missing_outcome,
    openai_batch_status,
    perform_sync,
    result_files,
)
from optimization.batch_wire import JsonlLines, RawBatchResult
from optimization.openai_batch_wire import item_from_openai_raw, read_raw_result_line


class SyncOpenAIBatchClient(OpenAIBatchCore[openai.OpenAI, Sleep], SyncBatchClient[openai.OpenAI]):
    """Submit, poll, cancel and collect OpenAI (or Azure OpenAI) batches with the sync SDK.

    `endpoint` defaults to the client's chat completions endpoint (`default_endpoint`). See
    `BatchClientCore` for the other options, and `SyncBatchClient` for submit, poll, run,
    resume and resume_open.
    """

    def _performer(self) -> SyncPerform[openai.OpenAI]:
        return perform_sync

    def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        return openai_batch_status(self.client.batches.retrieve(batch_id))

    def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their results."""
        return openai_batch_status(self.client.batches.cancel(batch_id))

    def file_lines(self, file_id: str) -> Iterator[bytes]:
        """The non-empty lines of a file, as bytes, as they arrive (never held whole).

        A connection lost mid-body is raised as `openai.APIConnectionError`.
        """
        with self.client.files.with_streaming_response.content(file_id) as response:
            lines = JsonlLines()
            try:
                for chunk in response.iter_bytes():
                    yield from lines.feed(chunk)
            except TRANSPORT_ERRORS as exc:
                raise file_broke_off(file_id, response.http_request, exc) from exc
            yield from lines.end()

    def raw_results(self, batch_id: str) -> Iterator[RawBatchResult]:
        """`batch_id`'s results as its output file, then its error file, are read (file
        order), as the API sent them. Lines whose custom_id the state store does not map are
        logged and skipped; a batch the store does not know is a BatchError at once."""
        positions = self._custom_id_map(batch_id)
        return self._file_results(self.client.batches.retrieve(batch_id), positions)

    def results(self, batch_id: str) -> Iterator[BatchItemResult]:
        """`batch_id`'s results as LangChain messages, in file order (see `raw_results`)."""
        return map(item_from_openai_raw, self.raw_results(batch_id))

    def _file_results(self, batch: Any, positions: Mapping[str, int]) -> Iterator[RawBatchResult]:
        for file_id in result_files(batch):
            for line in self.file_lines(file_id):
                item = read_raw_result_line(line, positions, batch_id=batch.id)
                if item is not None:
                    yield item

    def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position.

        As `OpenAIBatchClient.collect` (missing positions by the batch's final status; a
        BatchError for a batch that has not ended yet).
        """
        collected = Collected(self.state_store)
        for submitted in batches:
            positions = self._custom_id_map(submitted.batch_id)
            batch = ended_batch(self.client.batches.retrieve(submitted.batch_id))
            for raw in self._file_results(batch, positions):
                collected.add(item_from_openai_raw(raw))
            missing, error = missing_outcome(batch)
            collected.batch_read(submitted, missing=missing, error=error)
        return collected.in_order()


__all__ = ["SyncOpenAIBatchClient"]
