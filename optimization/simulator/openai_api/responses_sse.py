"""A Response streamed as OpenAI's typed events, each with its `sequence_number`.

response.created → response.in_progress → per output item: response.output_item.added, then
for a message its content part (response.content_part.added, response.output_text.delta a
few words at a time, response.output_text.done, response.content_part.done), for a function
call its arguments (response.function_call_arguments.delta in two pieces, .done), then
response.output_item.done → response.completed (or response.incomplete) with the usage.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from optimization.simulator.sse import event, text_pieces


def _item_events(index: int, item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    base = {"output_index": index, "item_id": item["id"]}
    if item["type"] == "function_call":
        yield {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "arguments": "", "status": "in_progress"},
        }
        arguments = item["arguments"]
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            yield {"type": "response.function_call_arguments.delta", **base, "delta": piece}
        yield {"type": "response.function_call_arguments.done", **base, "arguments": arguments}
    else:
        text = item["content"][0]["text"]
        yield {
            "type": "response.output_item.added",
            "output_index": index,
            "item": {**item, "content": [], "status": "in_progress"},
        }
        part = {"type": "output_text", "text": "", "annotations": []}
        yield {"type": "response.content_part.added", **base, "content_index": 0, "part": part}
        for piece in text_pieces(text):
            yield {
                "type": "response.output_text.delta",
                **base,
                "content_index": 0,
                "delta": piece,
                "logprobs": [],
            }
        yield {
            "type": "response.output_text.done",
            **base,
            "content_index": 0,
            "text": text,
            "logprobs": [],
        }
        yield {
            "type": "response.content_part.done",
            **base,
            "content_index": 0,
            "part": {**part, "text": text},
        }
    yield {"type": "response.output_item.done", "output_index": index, "item": item}


def response_events(response: dict[str, Any]) -> Iterator[str]:
    """The SSE frames streaming `response` (see the module docstring)."""
    numbers = itertools.count()
    opening = {**response, "status": "in_progress", "output": [], "usage": None}

    def frame(data: dict[str, Any]) -> str:
        data = {**data, "sequence_number": next(numbers)}
        return event(data["type"], data)

    yield frame({"type": "response.created", "response": opening})
    yield frame({"type": "response.in_progress", "response": opening})
    for index, item in enumerate(response["output"]):
        for data in _item_events(index, item):
            yield frame(data)
    final = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    yield frame({"type": final, "response": response})


__all__ = ["response_events"]
