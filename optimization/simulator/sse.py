"""Server-sent events for `stream: true`, in the order Anthropic sends them.

message_start → for each content block: content_block_start, (ping after the first),
content_block_delta…, content_block_stop → message_delta (stop_reason, usage) → message_stop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

WORDS_PER_DELTA = 3


def event(name: str, data: dict[str, Any]) -> str:
    """One SSE frame."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def text_pieces(text: str) -> list[str]:
    """`text` in deltas of a few words that concatenate back to it."""
    words = text.split(" ")
    pieces = [
        " ".join(words[i : i + WORDS_PER_DELTA]) for i in range(0, len(words), WORDS_PER_DELTA)
    ]
    # Re-attach the separating spaces so the pieces concatenate back to the text.
    return [piece if i == 0 else " " + piece for i, piece in enumerate(pieces)]


def _block_events(index: int, block: dict[str, Any]) -> Iterator[str]:
    if block["type"] == "tool_use":
        start = {**block, "input": {}}
        yield event(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
        arguments = json.dumps(block["input"])
        half = len(arguments) // 2
        for part in (arguments[:half], arguments[half:]):
            delta = {"type": "input_json_delta", "partial_json": part}
            yield event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
    else:
        yield event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "text", "text": ""},
            },
        )
        for piece in text_pieces(block["text"]):
            delta = {"type": "text_delta", "text": piece}
            yield event(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
            )
    yield event("content_block_stop", {"type": "content_block_stop", "index": index})


def message_events(
    message: dict[str, Any], *, fail_after_first_block: bool = False
) -> Iterator[str]:
    """The SSE frames streaming `message`; optionally an overloaded `error` event midway."""
    usage = message["usage"]
    start_usage = {**usage, "output_tokens": 1}
    yield event(
        "message_start",
        {
            "type": "message_start",
            "message": {
                **message,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": start_usage,
            },
        },
    )
    for index, block in enumerate(message["content"]):
        frames = _block_events(index, block)
        yield next(frames)
        if index == 0:
            yield event("ping", {"type": "ping"})
            if fail_after_first_block:
                yield event(
                    "error",
                    {
                        "type": "error",
                        "error": {"type": "overloaded_error", "message": "Overloaded"},
                    },
                )
                return
        yield from frames
    final_usage = {
        key: usage[key]
        for key in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
        )
    }
    yield event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": message["stop_reason"],
                "stop_sequence": message["stop_sequence"],
            },
            "usage": final_usage,
        },
    )
    yield event("message_stop", {"type": "message_stop"})
