"""What every sync batch client does the same way, whatever its provider.

`SyncBatchClient` is the twin of `optimization._batch_async.AsyncBatchClient`: it runs the
shared flows (`optimization._batch_core`) with a sync SDK client and adds submit, poll
(canceling the batch when the caller interrupts the wait), run, resume and resume_open; a
provider's client (`SyncAnthropicBatchClient`, `SyncOpenAIBatchClient`,
`SyncGeminiBatchClient`) adds how one batch's status is read, how it is canceled and how its
results are collected, and, for a provider other than Anthropic, its `_performer`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from optimization._batch_core import BatchClientCore, BatchItemResult, BatchStatus, SubmittedBatch
from optimization._batch_io import SyncPerform, run_flow
from optimization.batch_wire import BatchRequest

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]
ClientT = TypeVar("ClientT")


class SyncBatchClient(BatchClientCore[ClientT, Sleep]):
    """The sync half every provider's batch client shares (see the module docstring)."""

    def _default_sleep(self) -> Sleep:
        return time.sleep

    def _performer(self) -> SyncPerform[ClientT] | None:
        """How this client carries out one effect of a flow (None: the Anthropic SDK's calls)."""
        return None

    def submit(
        self,
        requests: Sequence[BatchRequest],
        *,
        meta: Mapping[str, Any] | None = None,
        reconcile_open: bool = False,
    ) -> list[SubmittedBatch]:
        """Submit `requests` as one or more batches; position i is `requests[i]`.

        As the async twin's `submit` (splitting, create-at-most-once, `reconcile_open`, the
        errors raised).
        """
        flow = self._submit(requests, meta, reconcile_open)
        return run_flow(flow, self.client, self._create_sleep, self._performer())

    def poll(self, batch_id: str) -> BatchStatus:
        """Wait until `batch_id` has ended, backing off from `poll_initial` to `poll_max`.

        After `timeout` seconds the batch is canceled and polled until it ends (at most
        `cancel_grace` more seconds); the returned status then has `timed_out=True` and its
        succeeded results are still collectible. When the caller interrupts the wait
        (KeyboardInterrupt, the sync form of canceling) the batch is canceled too.
        """
        try:
            return run_flow(self._poll(batch_id), self.client, self._sleep, self._performer())
        except KeyboardInterrupt:
            self._cancel_quietly(batch_id)
            raise

    def _cancel_quietly(self, batch_id: str) -> None:
        try:
            self.cancel(batch_id)
        except self.rules.api_error as exc:
            logger.warning("canceling batch %s failed: %s", batch_id, exc)

    def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        raise NotImplementedError

    def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their results."""
        raise NotImplementedError

    def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position."""
        raise NotImplementedError

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


__all__ = ["Sleep", "SyncBatchClient"]
