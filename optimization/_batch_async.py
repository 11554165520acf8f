"""What every async batch client does the same way, whatever its provider.

`AsyncBatchClient` runs the shared flows (`optimization._batch_core`) with its SDK client and
adds submit, poll (canceling the batch when the caller gives up), run, resume and
resume_open; a provider's client (`AnthropicBatchClient`, `OpenAIBatchClient`,
`GeminiBatchClient`) adds how one batch's status is read, how it is canceled and how its
results are collected, and, for a provider other than Anthropic, its `_performer`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from optimization._batch_core import BatchClientCore, BatchItemResult, BatchStatus, SubmittedBatch
from optimization._batch_io import AsyncPerform, arun_flow
from optimization.batch_wire import BatchRequest

logger = logging.getLogger(__name__)

AsyncSleep = Callable[[float], Awaitable[None]]
ClientT = TypeVar("ClientT")


class AsyncBatchClient(BatchClientCore[ClientT, AsyncSleep]):
    """The async half every provider's batch client shares (see the module docstring)."""

    def _default_sleep(self) -> AsyncSleep:
        return asyncio.sleep

    def _performer(self) -> AsyncPerform[ClientT] | None:
        """How this client carries out one effect of a flow (None: the Anthropic SDK's calls)."""
        return None

    async def submit(
        self,
        requests: Sequence[BatchRequest],
        *,
        meta: Mapping[str, Any] | None = None,
        reconcile_open: bool = False,
    ) -> list[SubmittedBatch]:
        """Submit `requests` as one or more batches; position i is `requests[i]`.

        Splits above `max_requests` requests or `max_bytes` serialized bytes. Each group is
        created at most once (see `optimization.batch_create`) and saved in the state store
        before the next is sent. With `reconcile_open` (a store that belongs to these requests
        alone, such as one job's), intents an earlier crashed attempt left open are settled
        first and requests already in an adopted batch are not sent again; BatchInFlight when
        that cannot be told yet. Raises BatchError for invalid or duplicate custom_ids, or when
        nothing could be submitted; BatchSubmitError when a later batch was not.
        """
        flow = self._submit(requests, meta, reconcile_open)
        return await arun_flow(flow, self.client, self._create_sleep, self._performer())

    async def poll(self, batch_id: str) -> BatchStatus:
        """Wait until `batch_id` has ended, backing off from `poll_initial` to `poll_max`.

        After `timeout` seconds the batch is canceled and polled until it ends (at most
        `cancel_grace` more seconds); the returned status then has `timed_out=True` and its
        succeeded results are still collectible. When the caller cancels this coroutine the
        batch is canceled too.
        """
        try:
            return await arun_flow(
                self._poll(batch_id), self.client, self._sleep, self._performer()
            )
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel_quietly(batch_id))
            raise

    async def _cancel_quietly(self, batch_id: str) -> None:
        try:
            await self.cancel(batch_id)
        except self.rules.api_error as exc:
            logger.warning("canceling batch %s failed: %s", batch_id, exc)

    async def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        raise NotImplementedError

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their results."""
        raise NotImplementedError

    async def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position."""
        raise NotImplementedError

    async def run(
        self, requests: Sequence[BatchRequest], *, meta: Mapping[str, Any] | None = None
    ) -> list[BatchItemResult]:
        """Submit, wait for every batch and return the results in input order."""
        submitted = await self.submit(requests, meta=meta)
        await asyncio.gather(*(self.poll(batch.batch_id) for batch in submitted))
        return await self.collect(submitted)

    async def resume(self, batch_id: str) -> list[BatchItemResult]:
        """Finish a batch a previous process submitted: poll it, then collect its results."""
        batch = self._stored(batch_id)
        await self.poll(batch_id)
        return await self.collect([batch])

    async def resume_open(self) -> dict[str, list[BatchItemResult]]:
        """Resume every batch the state store still lists as open."""
        return {
            record.batch_id: await self.resume(record.batch_id)
            for record in self.state_store.list_open()
        }


__all__ = ["AsyncBatchClient", "AsyncSleep"]
