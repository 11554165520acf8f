"""OpenAI's Batch API wire format: the JSONL input file and the output/error file lines.

Requests are the same `BatchRequest`s as for Anthropic (`custom_id` + the serialized body the
chat model would send); `JsonlBody` writes a group of them as the input file, one line each:
`{"custom_id": ..., "method": "POST", "url": <endpoint>, "body": ...}`. `read_raw_result_line`
turns an output or error file line into a `RawBatchResult` (the body as sent, for storing), and
`read_result_line` into a `BatchItemResult`: a 200 response is `succeeded`
(an AIMessage built by langchain-openai's own conversion, of a chat completion or of a
Response), any other response `errored`,
`error.code` `batch_expired` / `batch_cancelled` `expired` / `canceled`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
from langchain_core.messages import AIMessage

from optimization._batch_core import BatchItemResult, item_from_raw
from optimization._openai_adapter import ai_message_from_completion, ai_message_from_response
from optimization.batch_wire import (
    BatchRequest,
    Outcome,
    RawBatchResult,
    not_a_result,
    position_of,
)
from optimization.pricing import TokenUsage

# The line around a request's custom_id, url and body, newline included.
LINE_FRAME = len(b'{"custom_id":"","method":"POST","url":"","body":}\n')
_NOT_RUN: dict[str, Outcome] = {"batch_expired": "expired", "batch_cancelled": "canceled"}


class JsonlBody:
    """The input file of one batch: `positions` of `requests` as JSONL lines for `url`.

    `file_id` is set once the file is uploaded, so a create sent again reuses it.
    """

    CHUNK = 256 * 1024

    def __init__(self, requests: Sequence[BatchRequest], positions: range, url: str) -> None:
        self._requests = requests
        self._positions = positions
        self.url = url
        self.file_id: str | None = None
        self.size = sum(
            len(requests[i].body) + len(requests[i].custom_id) + len(url) + LINE_FRAME
            for i in positions
        )

    def __bytes__(self) -> bytes:
        return b"".join(self._pieces())

    def _pieces(self) -> Iterator[bytes]:
        head = b'","method":"POST","url":"' + self.url.encode() + b'","body":'
        buffer = bytearray()
        for i in self._positions:
            request = self._requests[i]
            buffer += b'{"custom_id":"' + request.custom_id.encode() + head
            buffer += request.body
            buffer += b"}\n"
            if len(buffer) >= self.CHUNK:
                yield bytes(buffer)
                buffer.clear()
        yield bytes(buffer)


def token_usage_from_openai(usage: Mapping[str, Any] | None) -> TokenUsage:
    """Tokens by kind from a chat completion's or a Response's `usage` (cached tokens apart
    from the rest)."""
    if not usage:
        return TokenUsage()
    if "input_tokens" in usage:  # the Responses API's names
        prompt, details, output = "input_tokens", "input_tokens_details", "output_tokens"
    else:
        prompt, details, output = "prompt_tokens", "prompt_tokens_details", "completion_tokens"
    cached = (usage.get(details) or {}).get("cached_tokens") or 0
    return TokenUsage(
        input_tokens=max(0, (usage.get(prompt) or 0) - cached),
        cache_read_tokens=cached,
        output_tokens=usage.get(output) or 0,
    )


def _error_text(body: Any, status: int) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        kind = error.get("type") or error.get("code") or "error"
        return f"{status} {kind}: {error.get('message', '')}"
    return f"{status}: {body!r}"[:500]


def read_raw_result_line(
    line: bytes, positions: Mapping[str, int], *, batch_id: str
) -> RawBatchResult | None:
    """One output/error file line as a `RawBatchResult` (the response body as the API sent
    it, for callers that store results); None (logged) for a custom_id not in `positions`.
    Raises BatchError for a line that is not a result object."""
    try:
        data = orjson.loads(line)
        custom_id = data["custom_id"]
        response = data.get("response")
        error = data.get("error")
    except (ValueError, TypeError, KeyError) as exc:
        raise not_a_result(line, batch_id, exc) from exc
    position = position_of(custom_id, positions, batch_id)
    if position is None:
        return None
    if isinstance(response, dict) and response.get("status_code") == 200:
        return raw_from_openai(position, custom_id, response["body"], batch_id=batch_id)
    if isinstance(response, dict):
        body = response.get("body")
        text = _error_text(body, response.get("status_code") or 0)
        details = body if isinstance(body, dict) else None
        return RawBatchResult(
            position, custom_id, "errored", None, details, text, TokenUsage(), batch_id
        )
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code"))
    text = f"{code}: {error.get('message', '')}"
    outcome = _NOT_RUN.get(code, "errored")
    return RawBatchResult(position, custom_id, outcome, None, error, text, TokenUsage(), batch_id)


def raw_from_openai(
    position: int, custom_id: str, body: dict[str, Any], *, batch_id: str = ""
) -> RawBatchResult:
    """A succeeded result from a chat completion's or a Response's body (also a standard-API
    call's), its usage read with the cached tokens apart."""
    usage = token_usage_from_openai(body.get("usage"))
    return RawBatchResult(position, custom_id, "succeeded", body, None, None, usage, batch_id)


def openai_ai_message(body: dict[str, Any], metadata: dict[str, Any]) -> AIMessage:
    """A chat completion's or a Response's body as the AIMessage langchain-openai builds."""
    to_message = (
        ai_message_from_response if body.get("object") == "response" else ai_message_from_completion
    )
    return to_message(body, response_metadata=metadata)


def item_from_openai_raw(raw: RawBatchResult) -> BatchItemResult:
    """The LangChain view of a raw OpenAI result (see `openai_ai_message`)."""
    return item_from_raw(raw, openai_ai_message)


def read_result_line(
    line: bytes, positions: Mapping[str, int], *, batch_id: str
) -> BatchItemResult | None:
    """One output/error file line as a `BatchItemResult`; None (logged) for a custom_id not
    in `positions`. Raises BatchError for a line that is not a result object."""
    raw = read_raw_result_line(line, positions, batch_id=batch_id)
    return None if raw is None else item_from_openai_raw(raw)


__all__ = [
    "LINE_FRAME",
    "JsonlBody",
    "item_from_openai_raw",
    "openai_ai_message",
    "raw_from_openai",
    "read_raw_result_line",
    "read_result_line",
    "token_usage_from_openai",
]
