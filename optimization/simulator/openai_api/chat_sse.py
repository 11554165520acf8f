"""A chat completion as the `data:` chunks OpenAI streams, ending with `data: [DONE]`.

First a chunk with the assistant role, then the text a few words at a time (or the tool call:
id and name first, its arguments in two pieces), then a chunk with the finish_reason; with
`stream_options.include_usage` every chunk carries `"usage": null` and one last chunk with no
choices carries the usage. A broken stream (the `stream_error` fault) stops after the first
content chunk with an error object, as OpenAI does when a stream fails midway.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from optimization.simulator.sse import text_pieces


def _data(payload: dict[str, Any] | str) -> str:
    text = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {text}\n\n"


def _deltas(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    calls = message.get("tool_calls")
    if calls:
        for index, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            head = {"name": call["function"]["name"], "arguments": ""}
            yield {
                "tool_calls": [
                    {"index": index, "id": call["id"], "type": "function", "function": head}
                ]
            }
            for part in (arguments[:half], arguments[half:]):
                yield {"tool_calls": [{"index": index, "function": {"arguments": part}}]}
        return
    for piece in text_pieces(message.get("content") or ""):
        yield {"content": piece}


def completion_chunks(
    completion: dict[str, Any], *, include_usage: bool, broken: bool = False
) -> Iterator[str]:
    """The SSE frames streaming `completion` (see the module docstring)."""
    head = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
        "service_tier": completion["service_tier"],
        "system_fingerprint": completion["system_fingerprint"],
    }
    if include_usage:
        head["usage"] = None

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _data({**head, "choices": [choice]})

    for choice in completion["choices"]:
        index = choice["index"]
        yield chunk(
            index,
            {
                "role": "assistant",
                "content": "" if choice["message"].get("content") is not None else None,
                "refusal": None,
            },
        )
        for n, delta in enumerate(_deltas(choice["message"])):
            yield chunk(index, delta)
            if broken and n == 0:
                error = {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
                yield _data({"error": error})
                return
        yield chunk(index, {}, choice["finish_reason"])
    if include_usage:
        yield _data({**head, "choices": [], "usage": completion["usage"]})
    yield _data("[DONE]")
