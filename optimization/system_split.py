"""Find the stable start of a system prompt that is sent as one string whose end changes.

Agent loops often send one system string: long instructions, then a part that changes every
turn (the time, the turn's tool results, a scratchpad). No prefix of such a string is ever
reused whole, so marking its end only pays writes. `StablePrefixSplitter` remembers recent
system texts by their first characters; when a text shares a long start with the previous one
of the same head, it returns where the shared part ends (at a line break, or failing that a
space, so that small edits in the changing line move the boundary as little as possible). The
planner then sends the text as two blocks and marks the first: joined, the text the model
receives is byte-identical.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

# Texts are told apart by their first HEAD characters.
HEAD = 256
_BLOCK = 4096


def common_prefix_length(a: str, b: str) -> int:
    """How many leading characters `a` and `b` share."""
    limit = min(len(a), len(b))
    start = 0
    # Whole blocks first (C-speed comparisons), then bisect inside the first differing block.
    while start < limit and a[start : start + _BLOCK] == b[start : start + _BLOCK]:
        start += _BLOCK
    if start >= limit:
        return limit
    low, high = start, min(start + _BLOCK, limit)
    while low < high:
        middle = (low + high + 1) // 2
        if a[start:middle] == b[start:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def stable_boundary(text: str, shared: int) -> int:
    """The end of the last whole line (else word) within the first `shared` characters."""
    newline = text.rfind("\n", 0, shared)
    if newline >= 0:
        return newline + 1
    return text.rfind(" ", 0, shared) + 1


class _Seen:
    __slots__ = ("boundary", "last", "stable")

    def __init__(self, text: str) -> None:
        self.last = text
        self.boundary = 0  # 0: no stable boundary known
        self.stable = ""


class StablePrefixSplitter:
    """Remembers system texts; `boundary(text)` is where to split it, or 0 for not at all.

    `count_tokens` estimates a text's tokens; a stable part shorter than `min_tokens` is not
    worth a breakpoint; `memory` distinct heads are remembered (each holds its last text).
    Not thread-safe: the planner calls it under its own lock.
    """

    def __init__(self, count_tokens: Callable[[str], int], min_tokens: int, *, memory: int) -> None:
        self._count_tokens = count_tokens
        self._min_tokens = min_tokens
        self._memory = memory
        self._seen: OrderedDict[str, _Seen] = OrderedDict()

    def boundary(self, text: str) -> int:
        """Where the stable start of `text` ends (0: do not split)."""
        if len(text) <= HEAD:
            return 0
        head = text[:HEAD]
        seen = self._seen.get(head)
        if seen is None:
            self._seen[head] = _Seen(text)
            if len(self._seen) > self._memory:
                self._seen.popitem(last=False)
            return 0
        self._seen.move_to_end(head)
        if text is not seen.last and text != seen.last:
            if not (seen.boundary and text.startswith(seen.stable)):
                self._learn(seen, text)
            seen.last = text
        boundary = seen.boundary
        if not boundary or boundary >= len(text) or text[boundary:].isspace():
            return 0
        return boundary

    def _learn(self, seen: _Seen, text: str) -> None:
        boundary = stable_boundary(text, common_prefix_length(seen.last, text))
        stable = text[:boundary]
        if boundary and not stable.isspace() and self._count_tokens(stable) >= self._min_tokens:
            seen.boundary, seen.stable = boundary, stable
        else:
            seen.boundary, seen.stable = 0, ""


__all__ = ["StablePrefixSplitter", "common_prefix_length", "stable_boundary"]
