"""Writing the marked request: breakpoints placed without touching the caller's objects.

Changed messages are copies with new content lists; messages left alone are passed through
as the same objects; tools are shallow-copied dicts, the marked ones copied again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage, ToolMessage
from pydantic import BaseModel

from optimization.planner.constants import TTL_1H, cache_control_for
from optimization.planner.reading import Location, RequestReading

# Messages (and tools) ready to send, and how many breakpoints the request carries.
Planned = tuple[list[BaseMessage], list[dict[str, Any]] | None, int]
_NOTHING: Mapping[Location, int] = {}


def marked_request(
    request: RequestReading,
    messages: Sequence[BaseMessage],
    tools: Sequence[Mapping[str, Any]] | None,
    marks: Mapping[Location, int],
    removed: Sequence[Location],
) -> Planned:
    """`messages` and `tools` with exactly the breakpoints `marks` (location → ttl).

    The caller's breakpoints in `removed` are taken off, markers are cut out of the text, and a
    longer TTL never follows a shorter one (later ones are shortened).
    """
    existing = dict(request.existing) if request.existing else _NOTHING
    edits: dict[int, dict[int, int | None]] = {}
    lowest = TTL_1H
    for location in sorted(marks):
        ttl = marks[location]
        if ttl > lowest:
            ttl = lowest
        lowest = ttl
        if existing.get(location) != ttl:
            unit_edits = edits.get(location[0])
            if unit_edits is None:
                unit_edits = edits[location[0]] = {}
            unit_edits[location[1]] = ttl
    for location in removed:
        edits.setdefault(location[0], {})[location[1]] = None
    tool_list: list[dict[str, Any]] | None = None
    if tools is not None:
        tool_list = [tool if isinstance(tool, dict) else dict(tool) for tool in tools]
        for block, mark in edits.get(0, {}).items() if request.offset else ():
            tool = dict(tool_list[block])
            _set_mark(tool, mark)
            tool_list[block] = tool
    result = list(messages)
    infos = request.infos
    offset = request.offset
    if request.has_cuts:
        changed = set(edits)
        changed.update(u for u, info in enumerate(infos) if info.blocks is not None)
        units = sorted(changed)
    else:
        units = sorted(edits)
    for u in units:
        if u < offset:
            continue
        info = infos[u]
        unit_edits = edits.get(u)
        message = result[u - offset]
        original = message.content
        new_content: str | list[Any]
        if info.blocks is not None:
            new_content = _marked_blocks(info.blocks, unit_edits or {})
            if not new_content and isinstance(original, str):
                new_content = ""  # the string was only markers
        elif isinstance(original, str):
            # String content is one block (the caller's own breakpoints are never on it).
            new_content = _marked_string(message, original, unit_edits or {})
        else:
            new_content = _marked_blocks(original, unit_edits or {})
        result[u - offset] = _with_content(message, new_content)
    return result, tool_list, len(marks)


def untouched_request(
    messages: Sequence[BaseMessage], tools: Sequence[Mapping[str, Any]] | None
) -> Planned:
    """The request as given (tools copied), counting the caller's own breakpoints."""
    copied = [dict(tool) for tool in tools] if tools is not None else None
    return list(messages), copied, _count_breakpoints(messages, tools)


_default_copy = BaseModel.__copy__
_setattr = object.__setattr__


def _with_content(message: BaseMessage, content: str | list[Any]) -> BaseMessage:
    """`message.model_copy(update={"content": content})`, made the same way but cheaper.

    pydantic's generic copy (through `copy.copy` per attribute) costs a few microseconds a
    message; this builds the same shallow copy directly: new field dict, extras and fields-set
    copied, `content` marked as set (measured: `cache_planner_us` 31 µs with it, 33.5 µs with
    `model_copy`; with rebuilt messages 61 against 67). Models with their own `__copy__` or
    private attributes get pydantic's copy.
    """
    cls = type(message)
    if cls.__copy__ is not _default_copy or message.__pydantic_private__ is not None:
        return message.model_copy(update={"content": content})
    copied = cls.__new__(cls)
    fields = message.__dict__.copy()
    fields["content"] = content
    fields_set = set(message.__pydantic_fields_set__)
    fields_set.add("content")
    extra = message.__pydantic_extra__
    _setattr(copied, "__dict__", fields)
    _setattr(copied, "__pydantic_extra__", None if extra is None else extra.copy())
    _setattr(copied, "__pydantic_fields_set__", fields_set)
    _setattr(copied, "__pydantic_private__", None)
    return copied


def _marked_string(message: BaseMessage, text: str, edits: dict[int, int | None]) -> list[Any]:
    """The content of a message whose string content gets a breakpoint."""
    ttl = edits.get(0)
    if ttl is not None and isinstance(message, ToolMessage):
        # A tool result keeps its string content on the wire, so the marked and the unmarked
        # request are the same prompt: mark the tool_result block itself.
        return [
            {
                "type": "tool_result",
                "content": text,
                "tool_use_id": message.tool_call_id,
                "is_error": message.status == "error",
                "cache_control": cache_control_for(ttl),
            }
        ]
    block = {"type": "text", "text": text}
    _set_mark(block, ttl)
    return [block]


def _marked_blocks(blocks: list[Any], edits: dict[int, int | None]) -> list[Any]:
    """A content list with the edited blocks copied and (un)marked, strings as text blocks."""
    content = [{"type": "text", "text": item} if isinstance(item, str) else item for item in blocks]
    for index, ttl in edits.items():
        block = dict(content[index])
        _set_mark(block, ttl)
        content[index] = block
    return content


def _set_mark(block: dict[str, Any], ttl: int | None) -> None:
    if ttl is None:
        block.pop("cache_control", None)
    else:
        block["cache_control"] = cache_control_for(ttl)


def _count_breakpoints(
    messages: Sequence[BaseMessage], tools: Sequence[Mapping[str, Any]] | None
) -> int:
    count = sum(1 for tool in tools or () if "cache_control" in tool)
    for message in messages:
        if isinstance(message.content, list):
            count += sum(
                1
                for block in message.content
                if isinstance(block, dict) and "cache_control" in block
            )
    return count


__all__ = ["Planned", "marked_request", "untouched_request"]
