"""Anthropic's Message Batches API (50% price) over the official async SDK.

Requests come encoded from `optimization.batch_wire.prepare_requests`. `submit` splits them
into batches the API accepts and remembers each batch in a `BatchStateStore`; `poll` waits
with exponential backoff; `raw_results` streams the JSONL results back as plain dicts
(`RawBatchResult`, for callers that store them), `results` as LangChain messages
(`BatchItemResult`, the same lines through the same parser), and `collect` returns them in
input order. A restarted process calls `resume` with a stored batch id instead of submitting
(and paying for) the same requests again."""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import anthropic
from anthropic.types import Message
from anthropic.types.messages import MessageBatch
from langchain_core.messages import AIMessage

from optimization._anthropic_adapter import streamed_batch_results
from optimization.batch_create import BatchCreator
from optimization.batch_state import BatchRecord, BatchStateStore, InMemoryBatchStateStore
from optimization.batch_wire import (
    CUSTOM_ID_PATTERN,
    BatchBody,
    BatchRequest,
    Outcome,
    RawBatchResult,
    parse_result_line,
    split_requests,
)
from optimization.capabilities import ANTHROPIC_BATCH_MAX_BYTES, ANTHROPIC_BATCH_MAX_REQUESTS
from optimization.exceptions import BatchError
from optimization.messages import (
    anthropic_message_to_ai_message,
)
from optimization.pricing import TokenUsage

logger = logging.getLogger(__name__)


# Anthropic's per-batch limits, from the shared capability table.
MAX_REQUESTS_PER_BATCH = ANTHROPIC_BATCH_MAX_REQUESTS
MAX_BYTES_PER_BATCH = ANTHROPIC_BATCH_MAX_BYTES
# Errors a poll survives: the SDK has already retried them (with retry-after) by now.
_TRANSIENT = (
    anthropic.RateLimitError,
    anthropic.InternalServerError,
    anthropic.APIConnectionError,
)


@dataclass(frozen=True)
class SubmittedBatch:
    """A batch the API accepted: its id and which input position each custom_id stands for."""

    batch_id: str
    custom_ids: Mapping[str, int]
    request_count: int


@dataclass(frozen=True)
class BatchStatus:
    """A batch's processing state and request tallies at the last poll."""

    batch_id: str
    processing_status: str
    succeeded: int = 0
    errored: int = 0
    canceled: int = 0
    expired: int = 0
    processing: int = 0
    timed_out: bool = False

    @property
    def ended(self) -> bool:
        """True once every request has an outcome and results can be fetched."""
        return self.processing_status == "ended"


@dataclass(frozen=True)
class BatchItemResult:
    """The outcome of one input position: a message when it succeeded, an error otherwise."""

    position: int
    custom_id: str
    outcome: Outcome
    message: AIMessage | None = None
    error: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    batch_id: str | None = None

    @property
    def succeeded(self) -> bool:
        """True when the request produced a message."""
        return self.outcome == "succeeded"


class BatchSubmitError(BatchError):
    """Submitting failed part way: `submitted` holds the batches the API did accept.

    `positions` are the inputs that were NOT submitted; the accepted ones must be polled, not
    resent, or they would be paid for twice.
    """

    def __init__(
        self, message: str, *, submitted: Sequence[SubmittedBatch], positions: Sequence[int]
    ) -> None:
        super().__init__(message, positions=positions)
        self.submitted = list(submitted)


def _transport_errors() -> tuple[type[Exception], ...]:
    """The HTTP library's transport errors (httpx2 in SDK 2.x, httpx before it)."""
    errors: list[type[Exception]] = []
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except ImportError:
            continue
    return tuple(errors)


_TRANSPORT_ERRORS = _transport_errors()


def _status(batch: MessageBatch, *, timed_out: bool = False) -> BatchStatus:
    counts = batch.request_counts
    return BatchStatus(
        batch_id=batch.id,
        processing_status=batch.processing_status,
        succeeded=counts.succeeded,
        errored=counts.errored,
        canceled=counts.canceled,
        expired=counts.expired,
        processing=counts.processing,
        timed_out=timed_out,
    )


class AnthropicBatchClient:
    """Submit, poll, stream results of and cancel Message Batches.

    `client` is an `anthropic.AsyncAnthropic` (ChatAnthropic's own `_async_client` works, so the
    base URL and key come from the chat model). A batch is created at most once per group of
    requests (`optimization.batch_create`: no blind retries of the create). Other calls let the
    SDK retry 429/529/5xx with the server's retry-after; polls additionally ride out those
    errors until `timeout`, then cancel the batch. `sleep` and `clock` are injectable so tests
    control time.
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        *,
        model: str,
        poll_initial: float = 1.0,
        poll_max: float = 60.0,
        timeout: float = 86_400.0,
        cancel_grace: float = 600.0,
        max_requests: int = MAX_REQUESTS_PER_BATCH,
        max_bytes: int = MAX_BYTES_PER_BATCH,
        state_store: BatchStateStore | None = None,
        create_options: Mapping[str, Any] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_initial <= 0 or poll_max < poll_initial:
            raise ValueError("poll_initial must be > 0 and poll_max >= poll_initial")
        self.client = client
        self.model = model
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.timeout = timeout
        self.cancel_grace = cancel_grace
        self.max_requests = max(1, min(max_requests, MAX_REQUESTS_PER_BATCH))
        self.max_bytes = max(1, min(max_bytes, MAX_BYTES_PER_BATCH))
        self.state_store: BatchStateStore = state_store or InMemoryBatchStateStore()
        # BatchCreator's knobs (attempts, reconcile_delays, in_flight_grace), for tests mostly.
        self.create_options = dict(create_options or {})
        self._sleep = sleep
        self._clock = clock

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
        self._check_custom_ids(requests)
        creator = BatchCreator(
            self.client, self.state_store, **{"sleep": self._sleep, **self.create_options}
        )
        positions_of = {request.custom_id: i for i, request in enumerate(requests)}
        submitted: list[SubmittedBatch] = []
        if reconcile_open:
            for batch in await creator.reconcile_open():
                record = self.state_store.load(batch.id)
                if record is not None:
                    mine = {
                        cid: positions_of[cid] for cid in record.custom_ids if cid in positions_of
                    }
                    submitted.append(SubmittedBatch(batch.id, mine, len(record.custom_ids)))
            already = {cid for batch in submitted for cid in batch.custom_ids}
            requests = [request for request in requests if request.custom_id not in already]
        for positions in split_requests(requests, self.max_requests, self.max_bytes):
            custom_ids = {
                requests[i].custom_id: positions_of[requests[i].custom_id] for i in positions
            }
            group_meta = {"model": self.model, "request_count": len(positions), **(meta or {})}
            try:
                body = BatchBody(requests, positions)
                batch = await creator.create(body, body.size, custom_ids, group_meta)
            except (BatchError, anthropic.APIError) as exc:
                cause = exc.__cause__ if isinstance(exc, BatchError) else exc
                not_sent = sorted(positions_of[r.custom_id] for r in requests[positions.start :])
                if not submitted:
                    raise BatchError(
                        f"submitting a batch of {len(positions)} requests failed: {exc}",
                        positions=not_sent,
                    ) from cause
                raise BatchSubmitError(
                    f"submitting batch {len(submitted) + 1} failed after "
                    f"{len(submitted)} were accepted: {exc}",
                    submitted=submitted,
                    positions=not_sent,
                ) from cause
            logger.info("submitted message batch %s with %d requests", batch.id, len(positions))
            submitted.append(SubmittedBatch(batch.id, custom_ids, len(positions)))
        return submitted

    @staticmethod
    def _check_custom_ids(requests: Sequence[BatchRequest]) -> None:
        seen: set[str] = set()
        for position, request in enumerate(requests):
            if not CUSTOM_ID_PATTERN.match(request.custom_id):
                raise BatchError(
                    f"custom_id {request.custom_id!r} must match {CUSTOM_ID_PATTERN.pattern}",
                    positions=[position],
                    custom_ids=[request.custom_id],
                )
            if request.custom_id in seen:
                raise BatchError(
                    f"custom_id {request.custom_id!r} is used twice",
                    positions=[position],
                    custom_ids=[request.custom_id],
                )
            seen.add(request.custom_id)

    async def status(self, batch_id: str) -> BatchStatus:
        """The batch's state right now (one API call)."""
        return _status(await self.client.messages.batches.retrieve(batch_id))

    async def poll(self, batch_id: str) -> BatchStatus:
        """Wait until `batch_id` has ended, backing off from `poll_initial` to `poll_max`.

        After `timeout` seconds the batch is canceled and polled until it ends (at most
        `cancel_grace` more seconds); the returned status then has `timed_out=True` and its
        succeeded results are still collectible. When the caller cancels this coroutine the
        batch is canceled too.
        """
        started = self._clock()
        deadline = started + self.timeout
        interval = self.poll_initial
        timed_out = False
        try:
            while True:
                try:
                    status = await self.status(batch_id)
                except _TRANSIENT as exc:
                    logger.warning("polling batch %s failed, will retry: %s", batch_id, exc)
                else:
                    if status.ended:
                        return replace(status, timed_out=True) if timed_out else status
                now = self._clock()
                if not timed_out and now >= deadline:
                    logger.warning(
                        "batch %s still running after %.0f s: canceling", batch_id, self.timeout
                    )
                    await self.cancel(batch_id)
                    timed_out = True
                    deadline = now + self.cancel_grace
                    interval = self.poll_initial  # a cancel usually ends soon: look again soon
                elif timed_out and now >= deadline:
                    raise BatchError(
                        f"batch {batch_id} did not end within {self.cancel_grace:.0f} s of "
                        "being canceled",
                        batch_id=batch_id,
                    )
                await self._sleep(min(interval, max(deadline - now, 0.0)))
                interval = min(interval * 2, self.poll_max)
        except asyncio.CancelledError:
            await asyncio.shield(self._cancel_quietly(batch_id))
            raise

    async def _cancel_quietly(self, batch_id: str) -> None:
        try:
            await self.cancel(batch_id)
        except anthropic.APIError as exc:
            logger.warning("canceling batch %s failed: %s", batch_id, exc)

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Ask the API to cancel `batch_id`; requests already done keep their results."""
        return _status(await self.client.messages.batches.cancel(batch_id))

    def _custom_id_map(self, batch_id: str) -> Mapping[str, int]:
        record = self.state_store.load(batch_id)
        if record is None:
            raise BatchError(
                f"batch {batch_id} is not in the state store: its custom_id map is unknown",
                batch_id=batch_id,
            )
        return record.custom_ids

    async def result_lines(self, batch_id: str) -> AsyncIterator[bytes]:
        """The non-empty lines of `batch_id`'s results file, as bytes, as they arrive.

        Fetched by the SDK (its results_url, auth, headers and retries of the request); the
        body is streamed, never held whole. A connection lost mid-body is raised as
        `anthropic.APIConnectionError`, like one lost before it.
        """
        async with streamed_batch_results(self.client, batch_id) as (body, request):
            tail = b""
            try:
                async for chunk in body:
                    lines = (tail + chunk).split(b"\n") if tail else chunk.split(b"\n")
                    tail = lines.pop()
                    for line in lines:
                        if line and not line.isspace():
                            yield line
            except _TRANSPORT_ERRORS as exc:
                raise anthropic.APIConnectionError(
                    message=f"the results of batch {batch_id} broke off: {exc}",
                    request=request,
                ) from exc
            if tail and not tail.isspace():
                yield tail

    async def raw_results(self, batch_id: str) -> AsyncIterator[RawBatchResult]:
        """Stream `batch_id`'s results in file order as plain dicts, one `json.loads` per line.

        For callers that store results rather than hand them to LangChain (no AIMessage is
        built). Lines whose custom_id the state store does not map are logged and skipped.
        """
        positions = self._custom_id_map(batch_id)
        async for line in self.result_lines(batch_id):
            item = parse_result_line(line, positions, batch_id=batch_id)
            if item is not None:
                yield item

    async def results(self, batch_id: str) -> AsyncIterator[BatchItemResult]:
        """Stream `batch_id`'s results as they are read from the JSONL file (file order).

        Each line is decoded and converted on its own, so the file is never held in memory.
        """
        async for raw in self.raw_results(batch_id):
            yield item_from_raw(raw)

    async def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Results of ended `batches`, in input order, one per submitted position.

        A position the results file does not mention is reported as `errored`, never dropped.
        """
        slots: dict[int, BatchItemResult] = {}
        for batch in batches:
            async for item in self.results(batch.batch_id):
                slots[item.position] = item
            for custom_id, position in batch.custom_ids.items():
                if position not in slots:
                    slots[position] = BatchItemResult(
                        position,
                        custom_id,
                        "errored",
                        error="missing from the batch results",
                        batch_id=batch.batch_id,
                    )
            self.state_store.mark_done(batch.batch_id)
        return [slots[position] for position in sorted(slots)]

    async def run(
        self, requests: Sequence[BatchRequest], *, meta: Mapping[str, Any] | None = None
    ) -> list[BatchItemResult]:
        """Submit, wait for every batch and return the results in input order."""
        submitted = await self.submit(requests, meta=meta)
        await asyncio.gather(*(self.poll(batch.batch_id) for batch in submitted))
        return await self.collect(submitted)

    async def resume(self, batch_id: str) -> list[BatchItemResult]:
        """Finish a batch a previous process submitted: poll it, then collect its results."""
        record = self.state_store.load(batch_id)
        if record is None:
            raise BatchError(f"batch {batch_id} is not in the state store", batch_id=batch_id)
        await self.poll(batch_id)
        return await self.collect([_submitted(record)])

    async def resume_open(self) -> dict[str, list[BatchItemResult]]:
        """Resume every batch the state store still lists as open."""
        return {
            record.batch_id: await self.resume(record.batch_id)
            for record in self.state_store.list_open()
        }


def _submitted(record: BatchRecord) -> SubmittedBatch:
    return SubmittedBatch(record.batch_id, record.custom_ids, len(record.custom_ids))


def item_from_raw(raw: RawBatchResult) -> BatchItemResult:
    """The LangChain view of a raw result: an AIMessage built as ChatAnthropic builds one."""
    if raw.message is None:
        return BatchItemResult(
            raw.position, raw.custom_id, raw.outcome, error=raw.error_text, batch_id=raw.batch_id
        )
    message = anthropic_message_to_ai_message(
        Message.construct(**raw.message),
        response_metadata={"batch_id": raw.batch_id, "custom_id": raw.custom_id},
    )
    return BatchItemResult(
        raw.position,
        raw.custom_id,
        "succeeded",
        message=message,
        usage=raw.usage,
        batch_id=raw.batch_id,
    )


__all__ = [
    "MAX_BYTES_PER_BATCH",
    "MAX_REQUESTS_PER_BATCH",
    "AnthropicBatchClient",
    "BatchItemResult",
    "BatchStatus",
    "BatchSubmitError",
    "SubmittedBatch",
    "item_from_raw",
]
