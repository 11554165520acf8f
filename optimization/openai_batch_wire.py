"""OpenAI's Batch API wire format: the JSONL input file and the output/error file lines.

Requests are the same `BatchRequest`s as for Anthropic (`custom_id` + the serialized body the
chat model would send); `JsonlBody` writes a group of them as the input file, one line each:
`{"custom_id": ..., "method": "POST", "url": <endpoint>, "body": ...}`. `read_result_line`
turns an output or error file line into a `BatchItemResult`: a 200 response is `succeeded`
(an AIMessage built by langchain-openai's own conversion, of a chat completion or of a
Response), any other response `errored`,
`error.code` `batch_expired` / `batch_cancelled` `expired` / `canceled`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson

from optimization._batch_core import BatchItemResult
from optimization._openai_adapter import ai_message_from_completion, ai_message_from_response
from optimization.batch_wire import BatchRequest, Outcome, not_a_result, position_of
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


def read_result_line(
    line: bytes, positions: Mapping[str, int], *, batch_id: str
) -> BatchItemResult | None:
    """One output/error file line as a `BatchItemResult`; None (logged) for a custom_id not
    in `positions`. Raises BatchError for a line that is not a result object."""
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
        body = response["body"]
        to_message = (
            ai_message_from_response
            if body.get("object") == "response"
            else ai_message_from_completion
        )
        message = to_message(body, response_metadata={"batch_id": batch_id, "custom_id": custom_id})
        usage = token_usage_from_openai(body.get("usage"))
        return BatchItemResult(
            position, custom_id, "succeeded", message=message, usage=usage, batch_id=batch_id
        )
    if isinstance(response, dict):
        text = _error_text(response.get("body"), response.get("status_code") or 0)
        return BatchItemResult(position, custom_id, "errored", error=text, batch_id=batch_id)
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code"))
    text = f"{code}: {error.get('message', '')}"
    return BatchItemResult(
        position, custom_id, _NOT_RUN.get(code, "errored"), error=text, batch_id=batch_id
    )


__all__ = ["LINE_FRAME", "JsonlBody", "read_result_line", "token_usage_from_openai"]
