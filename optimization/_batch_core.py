"""What the sync and async batch clients share: their settings, every decision, their results.

`AnthropicBatchClient` (async) and `SyncAnthropicBatchClient` (sync) subclass
`BatchClientCore`; they differ only in how they talk to the provider. Submitting and polling
are written here once as flows (`optimization._batch_io`) that each client runs with its own
SDK client; results are decoded by the same `JsonlLines`, `parse_result_line` and
`item_from_raw`, and gathered by the same `Collected`. Another provider's client
(`OpenAIBatchClient`) runs the same flows with its own `CreationRules`, limits, request body
and status reading, and gathers its own result lines with the same `Collected`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic, TypeVar

import anthropic
from anthropic.types import Message
from anthropic.types.messages import MessageBatch
from langchain_core.messages import AIMessage

from optimization._batch_io import CancelBatch, Flow, RetrieveBatch, Sleep
from optimization.batch_create import ANTHROPIC_RULES, BatchCreation, CreationRules
from optimization.batch_state import BatchRecord, BatchStateStore, InMemoryBatchStateStore
from optimization.batch_wire import (
    CUSTOM_ID_PATTERN,
    BatchBody,
    BatchRequest,
    Outcome,
    RawBatchResult,
    split_requests,
)
from optimization.capabilities import ANTHROPIC_BATCH_MAX_BYTES, ANTHROPIC_BATCH_MAX_REQUESTS
from optimization.exceptions import BatchError
from optimization.messages import anthropic_message_to_ai_message
from optimization.pricing import TokenUsage

logger = logging.getLogger(__name__)

# Anthropic's per-batch limits, from the shared capability table.
MAX_REQUESTS_PER_BATCH = ANTHROPIC_BATCH_MAX_REQUESTS
MAX_BYTES_PER_BATCH = ANTHROPIC_BATCH_MAX_BYTES

ClientT = TypeVar("ClientT")
SleepT = TypeVar("SleepT")


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


def batch_status(batch: MessageBatch, *, timed_out: bool = False) -> BatchStatus:
    """The provider's view of a batch as a `BatchStatus`."""
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


class BatchClientCore(Generic[ClientT, SleepT]):
    """Settings and decisions of a batch client; subclasses add the I/O (see the module doc).

    `client` is the SDK client (`anthropic.Anthropic` or `anthropic.AsyncAnthropic`; another
    provider's client sets its own `rules`, limits, body, split and status). A batch is
    created at most once per group of requests (`optimization.batch_create`: no blind retries
    of the create). Other calls let the SDK retry 429/529/5xx with the server's retry-after;
    polls additionally ride out those errors until `timeout`, then cancel the batch. `sleep`
    (default: `time.sleep` or `asyncio.sleep`) and `clock` are injectable so tests control time.
    """

    rules: ClassVar[CreationRules] = ANTHROPIC_RULES
    provider_max_requests: ClassVar[int] = MAX_REQUESTS_PER_BATCH
    provider_max_bytes: ClassVar[int] = MAX_BYTES_PER_BATCH

    def __init__(
        self,
        client: ClientT,
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
        sleep: SleepT | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_initial <= 0 or poll_max < poll_initial:
            raise ValueError("poll_initial must be > 0 and poll_max >= poll_initial")
        self.client: ClientT = client
        self.model = model
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.timeout = timeout
        self.cancel_grace = cancel_grace
        self.max_requests = max(1, min(max_requests, self.provider_max_requests))
        self.max_bytes = max(1, min(max_bytes, self.provider_max_bytes))
        self.state_store: BatchStateStore = state_store or InMemoryBatchStateStore()
        # BatchCreation's knobs (attempts, reconcile_delays, in_flight_grace, wall_clock) and
        # the create's own `sleep`, for tests mostly.
        self.create_options = dict(create_options or {})
        self._sleep: SleepT = sleep if sleep is not None else self._default_sleep()
        self._clock = clock

    def _default_sleep(self) -> SleepT:
        raise NotImplementedError

    @property
    def _create_sleep(self) -> SleepT:
        sleep: SleepT = self.create_options.get("sleep", self._sleep)
        return sleep

    def _submit(
        self,
        requests: Sequence[BatchRequest],
        meta: Mapping[str, Any] | None,
        reconcile_open: bool,
    ) -> Flow[list[SubmittedBatch]]:
        """`submit` as a flow (see the clients' `submit`)."""
        self._check_custom_ids(requests)
        knobs = {key: value for key, value in self.create_options.items() if key != "sleep"}
        creation = BatchCreation(self.state_store, rules=self.rules, **knobs)
        positions_of = {request.custom_id: i for i, request in enumerate(requests)}
        submitted: list[SubmittedBatch] = []
        if reconcile_open:
            for batch in (yield from creation.reconcile_open()):
                record = self.state_store.load(batch.id)
                if record is not None:
                    mine = {
                        cid: positions_of[cid] for cid in record.custom_ids if cid in positions_of
                    }
                    submitted.append(SubmittedBatch(batch.id, mine, len(record.custom_ids)))
            already = {cid for batch in submitted for cid in batch.custom_ids}
            requests = [request for request in requests if request.custom_id not in already]
        for positions in self._split(requests):
            custom_ids = {
                requests[i].custom_id: positions_of[requests[i].custom_id] for i in positions
            }
            group_meta = {"model": self.model, "request_count": len(positions), **(meta or {})}
            try:
                body = self._body(requests, positions)
                batch = yield from creation.create(body, custom_ids, group_meta)
            except (BatchError, self.rules.api_error) as exc:
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

    def _split(self, requests: Sequence[BatchRequest]) -> list[range]:
        """Consecutive position ranges, each one batch within the limits."""
        return split_requests(requests, self.max_requests, self.max_bytes)

    def _body(self, requests: Sequence[BatchRequest], positions: range) -> Any:
        """What `CreateBatch` sends for `positions`."""
        return BatchBody(requests, positions)

    def _status_of(self, batch: Any) -> BatchStatus:
        """The provider's batch object as a `BatchStatus`."""
        return batch_status(batch)

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

    def _poll(self, batch_id: str) -> Flow[BatchStatus]:
        """`poll` as a flow (see the clients' `poll`)."""
        started = self._clock()
        deadline = started + self.timeout
        interval = self.poll_initial
        timed_out = False
        while True:
            try:
                status = self._status_of((yield RetrieveBatch(batch_id)))
            except self.rules.api_error as exc:
                # A poll survives what the SDK's retry rule calls worth sending again: the SDK
                # has already retried it (with the server's retry-after) by now.
                if not self.rules.should_retry(exc):
                    raise
                logger.warning("polling batch %s failed, will retry: %s", batch_id, exc)
            else:
                if status.ended:
                    return replace(status, timed_out=True) if timed_out else status
            now = self._clock()
            if not timed_out and now >= deadline:
                logger.warning(
                    "batch %s still running after %.0f s: canceling", batch_id, self.timeout
                )
                yield CancelBatch(batch_id)
                timed_out = True
                deadline = now + self.cancel_grace
                interval = self.poll_initial  # a cancel usually ends soon: look again soon
            elif timed_out and now >= deadline:
                raise BatchError(
                    f"batch {batch_id} did not end within {self.cancel_grace:.0f} s of "
                    "being canceled",
                    batch_id=batch_id,
                )
            yield Sleep(min(interval, max(deadline - now, 0.0)))
            interval = min(interval * 2, self.poll_max)

    def _custom_id_map(self, batch_id: str) -> Mapping[str, int]:
        record = self.state_store.load(batch_id)
        if record is None:
            raise BatchError(
                f"batch {batch_id} is not in the state store: its custom_id map is unknown",
                batch_id=batch_id,
            )
        return record.custom_ids

    def _stored(self, batch_id: str) -> SubmittedBatch:
        """The batch as a previous process submitted it (BatchError when unknown)."""
        record = self.state_store.load(batch_id)
        if record is None:
            raise BatchError(f"batch {batch_id} is not in the state store", batch_id=batch_id)
        return _submitted(record)


class Collected:
    """What `collect` gathers: one result per submitted position, in input order.

    A position the results file does not mention is reported as `errored`, never dropped.
    """

    def __init__(self, state_store: BatchStateStore) -> None:
        self._state_store = state_store
        self._slots: dict[int, BatchItemResult] = {}

    def add(self, item: BatchItemResult) -> None:
        self._slots[item.position] = item

    def batch_read(
        self,
        batch: SubmittedBatch,
        *,
        missing: Outcome = "errored",
        error: str = "missing from the batch results",
    ) -> None:
        """Every line of `batch` was added: fill its missing positions (as `missing`, with
        `error`), mark it done."""
        for custom_id, position in batch.custom_ids.items():
            if position not in self._slots:
                self._slots[position] = BatchItemResult(
                    position, custom_id, missing, error=error, batch_id=batch.batch_id
                )
        self._state_store.mark_done(batch.batch_id)

    def in_order(self) -> list[BatchItemResult]:
        return [self._slots[position] for position in sorted(self._slots)]


def results_broke_off(batch_id: str, request: Any, exc: Exception) -> anthropic.APIConnectionError:
    """A connection lost in the middle of a results body, raised like one lost before it."""
    return anthropic.APIConnectionError(
        message=f"the results of batch {batch_id} broke off: {exc}", request=request
    )


def _submitted(record: BatchRecord) -> SubmittedBatch:
    return SubmittedBatch(record.batch_id, record.custom_ids, len(record.custom_ids))


MessageBuilder = Callable[[dict[str, Any], dict[str, Any]], AIMessage]


def anthropic_ai_message(message: dict[str, Any], metadata: dict[str, Any]) -> AIMessage:
    """A Messages API response dict as the AIMessage ChatAnthropic builds of it."""
    return anthropic_message_to_ai_message(Message.construct(**message), response_metadata=metadata)


def item_from_raw(
    raw: RawBatchResult, to_message: MessageBuilder = anthropic_ai_message
) -> BatchItemResult:
    """The LangChain view of a raw result: an AIMessage built by `to_message` from the
    response dict and its batch metadata (by default as ChatAnthropic builds one)."""
    if raw.message is None:
        return BatchItemResult(
            raw.position, raw.custom_id, raw.outcome, error=raw.error_text, batch_id=raw.batch_id
        )
    message = to_message(raw.message, {"batch_id": raw.batch_id, "custom_id": raw.custom_id})
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
    "BatchClientCore",
    "BatchItemResult",
    "BatchStatus",
    "BatchSubmitError",
    "Collected",
    "MessageBuilder",
    "SubmittedBatch",
    "anthropic_ai_message",
    "batch_status",
    "item_from_raw",
    "results_broke_off",
]
