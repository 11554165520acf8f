"""The Message Batches wire format: requests encoded once, result lines decoded once.

`prepare_requests` turns LangChain message lists into compact, already-serialized requests (so
100,000 of them cost little more memory than their JSON); `split_requests` cuts them into
batches within the API's request and byte limits, each sent as a `BatchBody` streamed from the
encoded pieces; `JsonlLines` cuts a results file into lines as it streams in, and
`parse_result_line` reads each into a `RawBatchResult`. Shared by every client that sends or
reads batches, sync or async.
"""

from __future__ import annotations

import gc
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from langchain_core.messages import BaseMessage

from optimization.exceptions import BatchError
from optimization.messages import format_messages, messages_to_anthropic_params
from optimization.pricing import TokenUsage

logger = logging.getLogger(__name__)

Outcome = Literal["succeeded", "errored", "canceled", "expired"]

CUSTOM_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


_ENVELOPE = len(b'{"requests":[]}')


_ITEM_FRAME = len(b'{"custom_id":"","params":}')


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
        """The message's text blocks joined ("" without a message); for an OpenAI chat
        completion its first choice's content, for a Response its output text."""
        if self.message is None:
            return ""
        if "choices" in self.message or self.message.get("object") == "response":
            return openai_text(self.message)
        if "candidates" in self.message:
            return gemini_text(self.message)
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


def gemini_text(body: Mapping[str, Any]) -> str:
    """The answer's text in a Gemini `GenerateContentResponse` body (its first candidate's
    text parts, thoughts left out)."""
    candidates = body.get("candidates") or []
    content = (candidates[0].get("content") or {}) if candidates else {}
    return "".join(
        part.get("text") or ""
        for part in content.get("parts") or []
        if isinstance(part, dict) and not part.get("thought")
    )


def openai_text(body: Mapping[str, Any]) -> str:
    """The answer's text in a chat completion body (its first choice) or a Response body
    (its `output_text` parts)."""
    choices = body.get("choices")
    if choices is not None:
        message = (choices[0].get("message") or {}) if choices else {}
        content = message.get("content")
        return content if isinstance(content, str) else ""
    return "".join(
        part.get("text") or ""
        for item in body.get("output") or []
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
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


_USAGES_MAX = 4096
_USAGES: dict[tuple[Any, ...], TokenUsage] = {}


def not_a_result(line: bytes | str, batch_id: str, exc: Exception) -> BatchError:
    """The error for a results line that could not be read as a result object."""
    shown = line[:200] if isinstance(line, str) else line[:200].decode(errors="replace")
    return BatchError(
        f"batch {batch_id}: a results line is not a result object ({exc!r}): {shown}",
        batch_id=batch_id,
    )


def position_of(custom_id: str, positions: Mapping[str, int], batch_id: str) -> int | None:
    """The input position of a result's custom_id; None (logged) when the batch never had it."""
    position = positions.get(custom_id)
    if position is None:
        logger.warning("batch %s returned unknown custom_id %r", batch_id, custom_id)
    return position


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
        raise not_a_result(line, batch_id, exc) from exc
    position = position_of(custom_id, positions, batch_id)
    if position is None:
        return None
    if outcome == "succeeded":
        return RawBatchResult.from_message(
            position, custom_id, result["message"], batch_id=batch_id
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


def split_requests(
    requests: Sequence[BatchRequest],
    max_requests: int,
    max_bytes: int,
    *,
    frame: int = _ITEM_FRAME + 1,
    envelope: int = _ENVELOPE,
) -> list[range]:
    """Consecutive position ranges, each within the request-count and byte limits.

    A request takes its body and custom_id plus `frame` bytes, a batch `envelope` more: by
    default a Message Batches JSON body (`{"custom_id":"...","params":...}` and a comma in
    `{"requests":[...]}`); another wire format passes its own.
    """
    chunks: list[range] = []
    start, size = 0, envelope
    for position, request in enumerate(requests):
        item = len(request.body) + len(request.custom_id) + frame
        if item + envelope > max_bytes:
            raise BatchError(
                f"request {request.custom_id} is {item} bytes, above the {max_bytes}-byte "
                "batch limit",
                positions=[position],
                custom_ids=[request.custom_id],
            )
        if position > start and (position - start >= max_requests or size + item > max_bytes):
            chunks.append(range(start, position))
            start, size = position, envelope
        size += item
    if start < len(requests):
        chunks.append(range(start, len(requests)))
    return chunks


class BatchBody:
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

    def for_sync_client(self) -> Iterable[bytes]:
        """The same body for a sync HTTP client (also re-iterable).

        Not `__iter__` on the body itself: httpx takes any iterable as a sync body before it
        looks for `__aiter__`, so the async client would then read it synchronously.
        """
        return _SyncPieces(self)


class _SyncPieces:
    __slots__ = ("_body",)

    def __init__(self, body: BatchBody) -> None:
        self._body = body

    def __iter__(self) -> Iterator[bytes]:
        return self._body._pieces()


class JsonlLines:
    """Cuts a results file, as its byte chunks arrive, into its non-empty lines (a line may
    span chunks). Feed every chunk, then take the last line from `end`."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines `chunk` completes."""
        lines = (self._tail + chunk).split(b"\n") if self._tail else chunk.split(b"\n")
        self._tail = lines.pop()
        return [line for line in lines if line and not line.isspace()]

    def end(self) -> list[bytes]:
        """The last line, when the file does not end with a newline."""
        tail, self._tail = self._tail, b""
        return [tail] if tail and not tail.isspace() else []


__all__ = [
    "CUSTOM_ID_PATTERN",
    "BatchBody",
    "BatchRequest",
    "JsonlLines",
    "Outcome",
    "RawBatchResult",
    "default_custom_id",
    "gemini_text",
    "not_a_result",
    "openai_text",
    "parse_result_line",
    "position_of",
    "prepare_requests",
    "split_requests",
    "token_usage_from_api",
]
