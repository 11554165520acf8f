"""Reading a request for planning: each message once, its reading reused between requests.

A request is read as units: the tools list (when tools are given), then one unit per message.
For each unit the planner needs a content fingerprint (to recognise prefixes seen before), its
tokens, whether its end can carry a breakpoint, the breakpoints the caller already placed and
the `[CACHE_BREAKPOINT]` markers to cut out. Readings are reused three ways, all keyed by
contents compared for equality (never by a hash alone):

- a conversation planned turn after turn is kept as a snapshot of its messages and contents;
  the next request whose first messages compare equal (normally the very same objects) only
  reads its new messages;
- a message with string content is read once per (class, content, tool call id), whatever
  object carries it (a backend that rebuilds its messages for every request only hashes them);
- a tool definition is read once per name and content (the same dict, or an equal one built
  for a new model); with a custom token counter, its counts are kept per text.

A block dict edited in place is not seen: replace the message or its content instead.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

from optimization._tokens import estimate_tokens
from optimization.planner.constants import IMAGE_TOKENS, MARKER, MemorySizes, ttl_of

TokenCounter = Callable[[str], int]
# A breakpoint location: (unit, block) where unit 0 is the tools list when tools are given,
# then one unit per message; block is the index in the unit's (possibly rebuilt) content.
Location = tuple[int, int]

# Block types whose `cache_control` survives langchain-anthropic's conversion and the API.
_MARKABLE_TYPES = frozenset({"text", "image", "document", "file", "tool_result", "search_result"})
_IMAGE_TYPES = frozenset({"image", "image_url", "document", "file"})


def fingerprint(value: object) -> int:
    """Content hash of a JSON-like value, ignoring `cache_control` keys."""
    if isinstance(value, str):
        return hash(value)
    if isinstance(value, Mapping):
        return hash(
            tuple(
                [(key, fingerprint(item)) for key, item in value.items() if key != "cache_control"]
            )
        )
    if isinstance(value, list | tuple):
        return hash(tuple([fingerprint(item) for item in value]))
    return hash(repr(value))


def _chars(value: object) -> int:
    """Characters of text in a JSON-like value (keys included), for token estimates."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(len(str(key)) + _chars(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return sum(_chars(item) for item in value)
    return 4


def split_marker(text: str) -> tuple[list[str], list[bool], bool]:
    """Cut `text` at each marker: (pieces, breakpoint after piece i, breakpoint before text).

    Empty or blank pieces are dropped (the API rejects blank text blocks); a marker with only
    blank text before it asks for a breakpoint before this text.
    """
    parts = text.split(MARKER)
    last = len(parts) - 1
    pieces: list[str] = []
    cuts: list[bool] = []
    cut_before = False
    for index, part in enumerate(parts):
        if part and not part.isspace():
            pieces.append(part)
            cuts.append(index != last)
        elif index != last:
            if cuts:
                cuts[-1] = True
            else:
                cut_before = True
    return pieces, cuts, cut_before


class MessageReading:
    """One message (or the tools list) as the planner sees it, whatever its position.

    Shared between requests once built, so never changed after it is built.
    """

    __slots__ = (
        "assistant",
        "blocks",
        "cut_before",
        "cuts",
        "end_markable",
        "existing",
        "fingerprint",
        "n_blocks",
        "stable_fingerprint",
        "system",
        "tokens",
        "wire_blocks",
    )

    def __init__(self) -> None:
        self.fingerprint = 0
        # The fingerprint of the content up to its last marker: a system string whose end
        # changes every turn still names the same application.
        self.stable_fingerprint = 0
        # Top-level blocks on the wire (tool calls become tool_use blocks), for the lookback.
        self.wire_blocks = 0
        self.tokens = 0
        self.n_blocks = 0
        self.end_markable = False
        self.system = False
        self.assistant = False
        # Rebuilt content blocks when markers were cut out, else None (content unchanged).
        self.blocks: list[Any] | None = None
        # Marker breakpoints: (block index, tokens of this message through that block).
        self.cuts: tuple[tuple[int, int], ...] = ()
        # A marker before any text of this message: a breakpoint on the previous message.
        self.cut_before = False
        # Breakpoints already present: (block index, ttl).
        self.existing: tuple[tuple[int, int], ...] = ()


class RequestReading:
    """A request read for planning: one unit per message, after the tools unit if any."""

    __slots__ = (
        "ends",
        "existing",
        "family",
        "full_hash",
        "has_cuts",
        "hashes",
        "in_system",
        "infos",
        "last_assistant",
        "late_system",
        "markable",
        "offset",
        "root",
        "system_end",
    )

    def __init__(self) -> None:
        self.infos: list[MessageReading] = []
        self.hashes: list[int] = []  # hash of the prefix ending with each unit
        self.ends: list[int] = []  # tokens of the prefix ending with each unit
        self.markable: list[int] = []  # units whose end can carry a breakpoint, in order
        self.existing: list[tuple[Location, int]] = []
        self.late_system: set[int] = set()
        self.has_cuts = False
        self.in_system = True  # no conversation message read yet
        self.system_end = -1  # unit of the last leading system message
        self.last_assistant = -1  # unit of the last assistant message
        self.offset = 0  # 1 when unit 0 is the tools list
        self.root: int | None = None  # unit ending the tools + system prefix, if markable
        self.family = 0  # tools + (the stable start of) the system prompt
        self.full_hash = 0

    def before(self, u: int) -> int:
        """Tokens before unit `u`."""
        return self.ends[u - 1] if u > 0 else 0

    def copy(self) -> RequestReading:
        """A copy that can read more messages without changing this one."""
        new = RequestReading.__new__(RequestReading)
        new.infos = self.infos.copy()
        new.hashes = self.hashes.copy()
        new.ends = self.ends.copy()
        new.markable = self.markable.copy()
        new.existing = self.existing.copy()
        new.late_system = self.late_system.copy()
        new.has_cuts = self.has_cuts
        new.in_system = self.in_system
        new.system_end = self.system_end
        new.last_assistant = self.last_assistant
        new.offset = self.offset
        new.root = self.root
        new.family = self.family
        new.full_hash = self.full_hash
        return new


_content_of = operator.attrgetter("content")
# Snapshots are found by (id of message 0, id of message 1, tools hash, tools markable).
_SnapshotKey = tuple[int, int, int, bool]


class _Snapshot:
    """The reading of one request, reusable while its messages and contents stay the same.

    Holds the messages and (shallow copies of) their contents; a later request reuses the
    reading when its first messages compare equal to them, which for the very same objects is
    an identity check.
    """

    __slots__ = ("contents", "count", "messages", "request")

    def __init__(
        self,
        messages: tuple[BaseMessage, ...],
        contents: tuple[object, ...],
        request: RequestReading,
    ) -> None:
        self.messages = messages
        self.contents = contents  # see _own_contents
        self.count = len(messages)
        self.request = request  # never changed once stored

    def matches(self, messages: tuple[BaseMessage, ...], contents: tuple[object, ...]) -> bool:
        count = self.count
        return (
            len(messages) >= count
            and messages[:count] == self.messages
            and contents[:count] == self.contents
        )


def _own_contents(contents: tuple[object, ...]) -> tuple[object, ...]:
    """Contents to keep for comparison: content lists copied, so edits to them are seen."""
    return tuple([list(content) if type(content) is list else content for content in contents])


_PLAIN, _SYSTEM, _ASSISTANT, _TOOL = 1, 2, 3, 4
# Message class → kind, filled on first sight (isinstance on LangChain's ABCs is slow).
_KINDS: dict[type, int] = {}


def _kind_of(message: BaseMessage) -> int:
    kind = (
        _ASSISTANT
        if isinstance(message, AIMessage)
        else _TOOL
        if isinstance(message, ToolMessage)
        else _SYSTEM
        if isinstance(message, SystemMessage)
        else _PLAIN
    )
    _KINDS[type(message)] = kind
    return kind


_K = TypeVar("_K")
_V = TypeVar("_V")


def put_bounded(cache: OrderedDict[_K, _V], key: _K, value: _V, size: int) -> None:
    """Store `key` as the newest entry of `cache`, dropping the oldest beyond `size` entries."""
    cache.pop(key, None)
    if len(cache) >= size:
        cache.popitem(last=False)
    cache[key] = value


class Reader:
    """Reads requests into `RequestReading`s, reusing what it read before (see the module doc).

    Not thread-safe: the planner calls it under its own lock.
    """

    def __init__(self, sizes: MemorySizes, token_counter: TokenCounter | None) -> None:
        self._sizes = sizes
        self._counter = token_counter
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._tools: OrderedDict[object, tuple[Mapping[str, Any], int, int]] = OrderedDict()
        self._contents: OrderedDict[tuple[type, str, object], MessageReading] = OrderedDict()
        self._snapshots: OrderedDict[_SnapshotKey, _Snapshot] = OrderedDict()
        self._trial_snapshots: OrderedDict[_SnapshotKey, _Snapshot] = OrderedDict()

    def count_tokens(self, text: str) -> int:
        """Tokens of `text`: the fast estimate, or the custom counter's (kept per text)."""
        counter = self._counter
        if counter is None:
            return estimate_tokens(text)
        count = self._counts.get(text)
        if count is None:
            count = counter(text)
            put_bounded(self._counts, text, count, self._sizes.texts)
        return count

    def read(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[Mapping[str, Any]] | None,
        tools_markable: bool,
    ) -> RequestReading:
        """The reading of a request; shared with earlier calls, so never to be changed."""
        tools_info: MessageReading | None = None
        chain = 0
        if tools:
            tools_info = self._tools_info(tools, tools_markable)
            chain = hash((chain, tools_info.fingerprint))
        if len(messages) < 2 or (tools_info is not None and tools_info.existing):
            request = _new_request(tools_info, chain)
            self._read_messages(request, messages, 0)
            return request
        # A new reading is kept on trial until a later request reuses it.
        listed = tuple(messages)
        contents = tuple(map(_content_of, listed))
        key = (id(listed[0]), id(listed[1]), chain, tools_markable)
        snapshots = self._snapshots
        snapshot = snapshots.get(key)
        proven = snapshot is not None  # an earlier reading of it was reused
        if snapshot is None:
            snapshot = self._trial_snapshots.pop(key, None)
        if snapshot is not None and snapshot.matches(listed, contents):
            proven = True
            count = snapshot.count
            if count == len(listed):
                put_bounded(snapshots, key, snapshot, self._sizes.snapshots)
                return snapshot.request
            request = snapshot.request.copy()
            self._read_messages(request, listed, count)
            kept = snapshot.contents + _own_contents(contents[count:])
        else:
            request = _new_request(tools_info, chain)
            self._read_messages(request, listed, 0)
            kept = _own_contents(contents)
        snapshot = _Snapshot(listed, kept, request)
        if proven:
            put_bounded(snapshots, key, snapshot, self._sizes.snapshots)
        else:
            put_bounded(self._trial_snapshots, key, snapshot, self._sizes.trial_snapshots)
        return request

    def _read_messages(
        self, request: RequestReading, messages: Sequence[BaseMessage], start: int
    ) -> None:
        infos = request.infos
        hashes = request.hashes
        ends = request.ends
        markable = request.markable
        existing = request.existing
        chain = request.full_hash
        tokens = ends[-1] if ends else 0
        message_info = self._message_info
        for index in range(start, len(messages)):
            info = message_info(messages[index])
            u = len(infos)
            family = hash((chain, info.stable_fingerprint))
            chain = hash((chain, info.fingerprint))
            tokens += info.tokens
            infos.append(info)
            hashes.append(chain)
            ends.append(tokens)
            if info.blocks is not None or info.cut_before:
                request.has_cuts = True
            if info.system:
                if request.in_system:
                    request.family = family
                    request.system_end = u
                else:
                    # A system message later in the list is hoisted or sent in place depending
                    # on the model: its position in the prompt is uncertain, so never marked.
                    request.late_system.add(u)
                    continue
            else:
                request.in_system = False
                if info.assistant:
                    request.last_assistant = u
            if info.end_markable:
                markable.append(u)
            if info.existing:
                existing.extend(((u, block), ttl) for block, ttl in info.existing)
        if request.system_end >= 0:
            system_end = request.system_end
            request.root = system_end if infos[system_end].end_markable else None
        request.full_hash = chain

    def _tools_info(self, tools: Sequence[Mapping[str, Any]], markable: bool) -> MessageReading:
        info = MessageReading()
        fingerprints = []
        existing = []
        tokens = 0
        cache = self._tools
        for index, tool in enumerate(tools):
            name = tool.get("name")
            key = name if isinstance(name, str) else id(tool)
            entry = cache.get(key)
            if entry is None or (entry[0] is not tool and entry[0] != tool):
                entry = (tool, fingerprint(tool), _chars(tool) // 4)
                put_bounded(cache, key, entry, self._sizes.tools)
            fingerprints.append(entry[1])
            tokens += entry[2]
            if "cache_control" in tool:
                existing.append((index, ttl_of(tool["cache_control"])))
        info.n_blocks = info.wire_blocks = len(tools)
        info.fingerprint = info.stable_fingerprint = hash(tuple(fingerprints))
        info.tokens = tokens
        info.end_markable = markable
        info.existing = tuple(existing)
        return info

    def _message_info(self, message: BaseMessage) -> MessageReading:
        """The reading of one message, from a cache by content for string content.

        An assistant turn with tool calls also depends on the calls: it is read every time
        (a conversation planned turn by turn reads each message once through its snapshot).
        """
        content = message.content
        if type(content) is not str:
            return self._inspect(message)
        cls = type(message)
        kind = _KINDS.get(cls) or _kind_of(message)
        extra: object = None
        if kind == _TOOL:
            extra = message.tool_call_id  # type: ignore[attr-defined]
        elif kind == _ASSISTANT and (
            message.tool_calls or message.invalid_tool_calls  # type: ignore[attr-defined]
        ):
            return self._inspect(message)
        key = (cls, content, extra)
        cache = self._contents
        info = cache.get(key)
        if info is not None:
            return info
        if MARKER in content:
            info = self._inspect(message)
        else:
            info = MessageReading()
            info.system = kind == _SYSTEM
            info.assistant = kind == _ASSISTANT
            info.fingerprint = info.stable_fingerprint = hash(
                (message.type, (hash(content),), extra)
            )
            info.tokens = self.count_tokens(content)
            info.n_blocks = info.wire_blocks = 1
            info.end_markable = bool(content) and not content.isspace()
        put_bounded(cache, key, info, self._sizes.contents)
        return info

    def _inspect(self, message: BaseMessage) -> MessageReading:
        """Read one message: fingerprint, tokens, markers, existing breakpoints."""
        info = MessageReading()
        info.system = isinstance(message, SystemMessage)
        info.assistant = isinstance(message, AIMessage)
        content = message.content
        extra: object = None
        tokens = 0
        calls_block_end = False
        if isinstance(message, AIMessage):
            calls = message.tool_calls
            if calls or message.invalid_tool_calls:
                # langchain-anthropic rebuilds tool_use blocks from tool_calls (dropping any
                # cache_control), so an assistant turn with tool calls cannot end a breakpoint.
                calls_block_end = True
                extra = hash(
                    tuple(
                        [
                            (call.get("id"), call.get("name"), fingerprint(call.get("args")))
                            for call in calls
                        ]
                    )
                )
                tokens += sum(_chars(call.get("args")) // 4 + 8 for call in calls)
        elif isinstance(message, ToolMessage):
            extra = message.tool_call_id
        is_tool = isinstance(message, ToolMessage)
        blocks: list[Any] = [content] if isinstance(content, str) else content
        fingerprints: list[int] = []
        rebuilt: list[Any] | None = None
        cuts: list[tuple[int, int]] = []
        existing: list[tuple[int, int]] = []
        last_markable = False
        for index, block in enumerate(blocks):
            text: str | None = None
            carried: dict[str, Any] | None = None
            splittable = True
            if isinstance(block, str):
                text = block
            elif isinstance(block, dict) and block.get("type") == "text":
                value = block.get("text")
                text = value if isinstance(value, str) else ""
                carried = block
            elif (
                is_tool
                and isinstance(block, dict)
                and block.get("type") == "tool_result"
                and isinstance(block.get("content"), str)
            ):
                # The form the writer gives a marked tool result: the same prompt as its text.
                text = block["content"]
                splittable = False
            if text is not None:
                if splittable and MARKER in text:
                    if rebuilt is None:
                        rebuilt = list(blocks[:index])
                    pieces, piece_cuts, cut_before = split_marker(text)
                    if cut_before:
                        if not rebuilt:
                            info.cut_before = True
                        elif last_markable:
                            cuts.append((len(rebuilt) - 1, tokens))
                    for number, piece in enumerate(pieces):
                        piece_block: dict[str, Any] = {"type": "text", "text": piece}
                        if number == len(pieces) - 1 and carried is not None:
                            piece_block = {**carried, "text": piece}
                            if "cache_control" in carried:
                                existing.append((len(rebuilt), ttl_of(carried["cache_control"])))
                        tokens += self.count_tokens(piece)
                        if piece_cuts[number]:
                            cuts.append((len(rebuilt), tokens))
                        fingerprints.append(hash(piece))
                        rebuilt.append(piece_block)
                        last_markable = True
                    continue
                tokens += self.count_tokens(text)
                fingerprints.append(hash(text))
                last_markable = bool(text) and not text.isspace()
            else:
                # LangChain content lists hold strings and dicts only.
                kind = block.get("type")
                fingerprints.append(fingerprint(block))
                if kind in _IMAGE_TYPES and not isinstance(block.get("text"), str):
                    tokens += IMAGE_TOKENS
                else:
                    tokens += _chars(block) // 4
                last_markable = kind in _MARKABLE_TYPES
            if carried is not None or isinstance(block, dict):
                cache_control = block.get("cache_control")
                if cache_control is not None:
                    position = index if rebuilt is None else len(rebuilt)
                    existing.append((position, ttl_of(cache_control)))
            if rebuilt is not None:
                rebuilt.append(block)
        info.blocks = rebuilt
        info.n_blocks = len(rebuilt) if rebuilt is not None else len(blocks)
        info.wire_blocks = 1 if extra is not None and not calls_block_end else info.n_blocks
        if rebuilt == [] and isinstance(content, str):
            # The writer sends a string that was only markers as "": read it as that output
            # reads, so that planning the output again is an exact repeat.
            fingerprints.append(hash(""))
            if extra is None or calls_block_end:
                info.wire_blocks += 1
        if calls_block_end:
            info.wire_blocks += len(message.tool_calls)  # type: ignore[attr-defined]
        info.tokens = tokens
        info.end_markable = last_markable and not calls_block_end and info.n_blocks > 0
        info.cuts = tuple(cuts)
        info.existing = tuple(existing)
        info.fingerprint = hash((message.type, tuple(fingerprints), extra))
        stable = fingerprints[: cuts[-1][0] + 1] if cuts else fingerprints
        info.stable_fingerprint = hash((message.type, tuple(stable), extra))
        return info


def _new_request(tools_info: MessageReading | None, chain: int) -> RequestReading:
    request = RequestReading()
    if tools_info is not None:
        request.infos.append(tools_info)
        request.hashes.append(chain)
        request.ends.append(tools_info.tokens)
        request.offset = 1
        if tools_info.end_markable:
            request.markable.append(0)
            request.root = 0
        request.existing.extend(((0, block), ttl) for block, ttl in tools_info.existing)
    request.family = request.full_hash = chain
    return request


__all__ = [
    "Location",
    "MessageReading",
    "Reader",
    "RequestReading",
    "TokenCounter",
    "fingerprint",
    "put_bounded",
    "split_marker",
]
