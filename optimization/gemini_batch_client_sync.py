"""The sync twin of `GeminiBatchClient`, over the sync side of a `google.genai.Client` (see
`optimization.gemini_batch_client`): same methods, arguments and behaviour, for code without
an event loop, such as a Celery worker."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

from google import genai
from google.genai import types

from optimization._batch_core import BatchItemResult, BatchStatus, Collected, SubmittedBatch
from optimization._batch_io import SyncPerform
from optimization._batch_sync import SyncBatchClient
from optimization._gemini_batch_core import (
    GeminiBatchCore,
    ended_job,
    inline_responses,
    item_from_gemini_raw,
    read_responses,
    results_file,
)
from optimization._gemini_batch_io import perform_sync, sdk_errors
from optimization.batch_wire import RawBatchResult


class SyncGeminiBatchClient(GeminiBatchCore[genai.Client, Any], SyncBatchClient[genai.Client]):
    """Submit, poll, collect and cancel Gemini batches with the sync google-genai client.

    Options as `GeminiBatchClient`'s; see `SyncBatchClient` for submit, poll, run, resume and
    resume_open.
    """

    def _performer(self) -> SyncPerform[genai.Client]:
        return perform_sync

    def _job(self, batch_id: str) -> types.BatchJob:
        with sdk_errors():
            return self.client.batches.get(name=batch_id)

    def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        return self._status_of(self._job(batch_id))

    def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their responses."""
        with sdk_errors():
            self.client.batches.cancel(name=batch_id)
        return self.status(batch_id)

    def raw_results(self, batch_id: str) -> Iterator[RawBatchResult]:
        """`batch_id`'s responses in input order, as the API sent them (`RawBatchResult`).

        Responses the state store cannot map are logged and skipped; a batch the store does
        not know is a BatchError at once.
        """
        job = self._job(batch_id)
        return self._raws(job, batch_id, self._outputs(job))

    def results(self, batch_id: str) -> Iterator[BatchItemResult]:
        """`batch_id`'s results as LangChain messages, in input order (see `raw_results`)."""
        return map(item_from_gemini_raw, self.raw_results(batch_id))

    def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position.

        As `GeminiBatchClient.collect` (missing positions by the batch's final state; a
        BatchError for a batch that has not ended yet).
        """
        collected = Collected(self.state_store)
        for batch in batches:
            job = self._job(batch.batch_id)
            ended_job(job, batch.batch_id)
            self._collect_into(collected, batch, job, self._outputs(job))
        return collected.in_order()

    def _outputs(self, job: types.BatchJob) -> list[types.InlinedResponse]:
        """The job's responses in input order, read inline or from its results file."""
        file_name = results_file(job)
        if file_name is None:
            return inline_responses(job)
        with tempfile.TemporaryDirectory(prefix="gemini-results-") as directory:
            path = os.path.join(directory, "responses.jsonl")
            with sdk_errors():
                self.client.files.download(file=file_name, destination=path)
            return read_responses(path)


__all__ = ["SyncGeminiBatchClient"]
