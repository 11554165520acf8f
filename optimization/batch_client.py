"""Anthropic's Message Batches API (50% price) over the official async SDK.

`prepare_requests` turns LangChain message lists into compact, already-serialized requests (so
100,000 of them cost little more memory than their JSON), `submit` splits them into batches the
API accepts and remembers each batch in a `BatchStateStore`, `poll` waits with exponential
backoff, `raw_results` streams the JSONL results back as plain dicts (`RawBatchResult`, for
callers that store them), `results` as LangChain messages (`BatchItemResult`, the same lines
through the same parser), and `collect` returns them in input order. A restarted process
calls `resume` with a stored batch id instead of submitting (and paying for) the same requests
again.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import anthropic
import orjson
from anthropic.types import Message
from anthropic.types.messages import MessageBatch
from langchain_core.messages import AIMessage, BaseMessage

from optimization._anthropic_adapter import streamed_batch_results
from optimization.batch_create import BatchCreator
from optimization.batch_state import BatchRecord, BatchStateStore, InMemoryBatchStateStore
from optimization.capabilities import ANTHROPIC_BATCH_MAX_BYTES, ANTHROPIC_BATCH_MAX_REQUESTS
from optimization.exceptions import BatchError
from optimization.messages import (
    anthropic_message_to_ai_message,
    format_messages,
    messages_to_anthropic_params,
)
from optimization.pricing import TokenUsage

logger = logging.getLogger(__name__)

Outcome = Literal["succeeded", "errored", "canceled", "expired"]

# Anthropic's per-batch limits, from the shared capability table.
MAX_REQUESTS_PER_BATCH = ANTHROPIC_BATCH_MAX_REQUESTS
MAX_BYTES_PER_BATCH = ANTHROPIC_BATCH_MAX_BYTES
CUSTOM_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ENVELOPE = len(b'{"requests":[]}')
_ITEM_FRAME = len(b'{"custom_id":"","params":}')
# Errors a poll survives: the SDK has already retried them (with retry-after) by now.
_TRANSIENT = (
    anthropic.RateLimitError,
    anthropic.InternalServerError,
    anthropic.APIConnectionError,
)


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One batch request: its `custom_id` and its Messages API params, serialized as JSON."""

    custom_id: str
    body: bytes

    @classmethod
    def from_params(cls, custom_id: str, params: Mapping[str, Any]) -> BatchRequest:
        """A request from a params dict (model, max_tokens, messages, ...)."""
        return cls(custom_id, _dumps(params))

    @property
    def params(self) -> dict[str, Any]:
        """The params as a dict (decoded on demand; batches keep only the bytes)."""
        result: dict[str, Any] = json.loads(self.body)
        return result


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


@dataclass(frozen=True, slots=True)
class RawBatchResult:
    """One line of a results file as the API sent it: decoded with `json.loads`, nothing more.

    `message` is the Messages API response (a dict) when the request succeeded; `error` is the
    API's error object (`{"type": "error", "error": {...}}`) when it errored; `error_text` is a
    one-line description for every outcome but success. `usage` comes straight from the
    message's usage dict.
    """

    position: int
    custom_id: str
    outcome: Outcome
    message: dict[str, Any] | None
    error: dict[str, Any] | None
    error_text: str | None
    usage: TokenUsage
    batch_id: str

    @property
    def succeeded(self) -> bool:
        """True when the request produced a message."""
        return self.outcome == "succeeded"

    @property
    def model(self) -> str | None:
        """The model that answered (None without a message)."""
        return None if self.message is None else self.message.get("model")

    @property
    def text(self) -> str:
        """The message's text blocks joined ("" without a message)."""
        if self.message is None:
            return ""
        content: list[Any] = self.message.get("content") or []
        if len(content) == 1:  # the usual answer: one text block
            block = content[0]
            return (block.get("text") or "") if block.get("type") == "text" else ""
        return "".join(block.get("text") or "" for block in content if block.get("type") == "text")

    @classmethod
    def from_message(
        cls, position: int, custom_id: str, message: dict[str, Any], *, batch_id: str = ""
    ) -> RawBatchResult:
        """A succeeded result from a Messages API response dict (also a standard-API call's)."""
        return cls(
            position,
            custom_id,
            "succeeded",
            message,
            None,
            None,
            token_usage_from_api(message.get("usage")),
            batch_id,
        )


def token_usage_from_api(usage: Mapping[str, Any] | None) -> TokenUsage:
    """Tokens by kind from the Messages API's `usage` dict.

    `input_tokens` there already excludes cache reads and writes. Writes are split by TTL in
    `cache_creation` when the API reports the split; without it they count as 5-minute writes
    (Anthropic's default TTL).
    """
    if not usage:
        return _NO_USAGE
    split = usage.get("cache_creation") or {}
    write_5m = split.get("ephemeral_5m_input_tokens") or 0
    write_1h = split.get("ephemeral_1h_input_tokens") or 0
    if not write_5m and not write_1h:
        write_5m = usage.get("cache_creation_input_tokens") or 0
    key = (
        usage.get("input_tokens") or 0,
        write_5m,
        write_1h,
        usage.get("cache_read_input_tokens") or 0,
        usage.get("output_tokens") or 0,
    )
    # Results of one batch repeat the same counts a lot; TokenUsage is immutable, so equal
    # counts share one (validated) object.
    known = _USAGES.get(key)
    if known is None:
        if len(_USAGES) >= _USAGES_MAX:
            _USAGES.clear()
        known = _USAGES[key] = TokenUsage(*key)
    return known


_NO_USAGE = TokenUsage()
_USAGES: dict[tuple[Any, ...], TokenUsage] = {}
_USAGES_MAX = 4096


def parse_result_line(
    line: bytes | str, positions: Mapping[str, int], *, batch_id: str
) -> RawBatchResult | None:
    """One results-file line as a `RawBatchResult`; None (logged) for a custom_id not in
    `positions`. Raises BatchError for a line that is not a result object."""
    try:
        data = orjson.loads(line)
        custom_id = data["custom_id"]
        result = data["result"]
        outcome = result["type"]
    except (ValueError, TypeError, KeyError) as exc:
        shown = line[:200] if isinstance(line, str) else line[:200].decode(errors="replace")
        raise BatchError(
            f"batch {batch_id}: a results line is not a result object ({exc!r}): {shown}",
            batch_id=batch_id,
        ) from exc
    position = positions.get(custom_id)
    if position is None:
        logger.warning("batch %s returned unknown custom_id %r", batch_id, custom_id)
        return None
    if outcome == "succeeded":
        message = result["message"]
        return RawBatchResult(
            position,
            custom_id,
            "succeeded",
            message,
            None,
            None,
            token_usage_from_api(message.get("usage")),
            batch_id,
        )
    if outcome == "errored":
        error = result.get("error") or {}
        inner = error.get("error") or {}
        text = f"{inner.get('type', 'error')}: {inner.get('message', '')}"
        return RawBatchResult(
            position, custom_id, "errored", None, error, text, _NO_USAGE, batch_id
        )
    if outcome in ("canceled", "expired"):
        return RawBatchResult(
            position, custom_id, outcome, None, None, f"request {outcome}", _NO_USAGE, batch_id
        )
    return RawBatchResult(
        position,
        custom_id,
        "errored",
        None,
        None,
        f"unknown outcome {outcome!r}",
        _NO_USAGE,
        batch_id,
    )


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


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dumps(params: Mapping[str, Any]) -> bytes:
    return _encode(params).encode()


def default_custom_id(position: int) -> str:
    """The custom_id of input `position` (valid for the API, unique within a submit)."""
    return f"r{position}"


def prepare_requests(
    conversations: Sequence[Sequence[BaseMessage]],
    template: Mapping[str, Any],
    *,
    plan: Callable[[Sequence[BaseMessage], list[dict[str, Any]] | None], Any] | None = None,
) -> list[BatchRequest]:
    """Serialized batch requests for `conversations`, custom_id `r<position>` each.

    `template` holds the non-message params (see `messages.request_template`). `plan` is a
    `CacheManager.plan`, applied per conversation so caching and batching stack; it gets the
    template's tools and its planned tools replace them.
    """
    fixed = {
        key: value
        for key, value in template.items()
        if value is not None and key not in ("messages", "system")
    }
    model = fixed.get("model")
    # The template's JSON is encoded once; each request adds its own messages and system.
    # Key order matches messages_to_anthropic_params, so the bytes are the same.
    head = _encode(fixed)[:-1] + ("," if fixed else "") + '"messages":'
    tools = template.get("tools")
    requests: list[BatchRequest] = []
    with _collector_paused():
        for position, messages in enumerate(conversations):
            custom_id = f"r{position}"  # default_custom_id, inlined: this loop is hot
            if plan is not None:
                cache_plan = plan(messages, tools)
                messages = cache_plan.messages
                if cache_plan.tools is not None:  # tools with breakpoints: this request's own
                    params = messages_to_anthropic_params(
                        messages, **{**template, "tools": cache_plan.tools}
                    )
                    requests.append(BatchRequest(custom_id, _dumps(params)))
                    continue
            system, formatted = format_messages(messages, model=model)
            text = head + _encode(formatted)
            if system:
                text += ',"system":' + _encode(system)
            requests.append(BatchRequest(custom_id, (text + "}").encode()))
    return requests


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Preparing 100,000 requests allocates millions of dicts and lists that reference counting
    frees; the collector would otherwise rescan every live conversation many times over
    (about 30% of the time). Restored on exit, whatever happens.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _chunks(requests: Sequence[BatchRequest], max_requests: int, max_bytes: int) -> list[range]:
    """Consecutive position ranges, each within the request-count and byte limits."""
    chunks: list[range] = []
    start, size = 0, _ENVELOPE
    for position, request in enumerate(requests):
        # {"custom_id":"...","params":...}, plus a separating comma
        item = len(request.body) + len(request.custom_id) + _ITEM_FRAME + 1
        if item + _ENVELOPE > max_bytes:
            raise BatchError(
                f"request {request.custom_id} is {item} bytes, above the {max_bytes}-byte "
                "batch limit",
                positions=[position],
                custom_ids=[request.custom_id],
            )
        if position > start and (position - start >= max_requests or size + item > max_bytes):
            chunks.append(range(start, position))
            start, size = position, _ENVELOPE
        size += item
    if start < len(requests):
        chunks.append(range(start, len(requests)))
    return chunks


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


class _BatchBody:
    """The JSON body of one batch create, produced in pieces instead of one more full copy.

    Re-iterable (each iteration starts over), so the SDK can resend it on a retry; `size` is
    its exact length, sent as Content-Length.
    """

    CHUNK = 256 * 1024

    def __init__(self, requests: Sequence[BatchRequest], positions: range) -> None:
        self._requests = requests
        self._positions = positions
        self.size = _ENVELOPE + sum(
            len(requests[i].body) + len(requests[i].custom_id) + _ITEM_FRAME for i in positions
        )
        self.size += max(len(positions) - 1, 0)  # commas

    def __bytes__(self) -> bytes:
        return b"".join(self._pieces())

    def _pieces(self) -> Iterator[bytes]:
        buffer = bytearray(b'{"requests":[')
        for n, i in enumerate(self._positions):
            request = self._requests[i]
            if n:
                buffer += b","
            buffer += b'{"custom_id":"'
            buffer += request.custom_id.encode()
            buffer += b'","params":'
            buffer += request.body
            buffer += b"}"
            if len(buffer) >= self.CHUNK:
                yield bytes(buffer)
                buffer.clear()
        buffer += b"]}"
        yield bytes(buffer)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self._pieces():
            yield piece


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
        for positions in _chunks(requests, self.max_requests, self.max_bytes):
            custom_ids = {
                requests[i].custom_id: positions_of[requests[i].custom_id] for i in positions
            }
            group_meta = {"model": self.model, "request_count": len(positions), **(meta or {})}
            try:
                body = _BatchBody(requests, positions)
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
    "BatchRequest",
    "BatchStatus",
    "BatchSubmitError",
    "RawBatchResult",
    "SubmittedBatch",
    "default_custom_id",
    "item_from_raw",
    "parse_result_line",
    "prepare_requests",
    "token_usage_from_api",
]
