"""Where to put Anthropic `cache_control` breakpoints so that caching pays, request by request.

`CacheManager(capabilities, config).add_cache_markers(messages)` returns a new message list with
at most `capabilities.max_cache_breakpoints` breakpoints (counting the caller's own), never on a
prefix shorter than the model's minimum cacheable length, with 1-hour entries never after
5-minute ones, and with every `[CACHE_BREAKPOINT]` marker cut out of the text and turned into a
breakpoint. The caller's messages, content lists and tool dicts are never modified: changed
messages are `model_copy`s with new content lists; messages the planner leaves alone are passed
through as the same objects (still never mutated by the planner).

How Anthropic's cache works (platform.claude.com, "Prompt caching"): the prompt is the ordered
blocks tools → system → messages; a breakpoint on a block writes the prefix ending there (1.25x
the input price for 5 minutes, 2x for 1 hour) unless it is already cached; a later request whose
prefix matches reads it at 0.1x, found by looking back about 20 blocks from each breakpoint; a
read refreshes the entry's lifetime; at most 4 breakpoints per request. Writes are billed from
the prefix read up to the last breakpoint, so extra breakpoints before that one cost nothing.

So a write pays only if a later request reads it in time. The planner cannot see the future,
but it sees every request that passes: the parts, in `optimization.planner`, are

- `reading`: each request read as units (tools, then one per message), reusing what was read;
- `decisions`: the caller's own breakpoints and markers, explicit `cacheBreakpoints` rules
  (tools / system / messages:N, see optimization.config) or, by default, the automatic choice:
  the tail when the conversation likely goes on, the longest prefix seen before where the
  tail's lookback would miss it, the shared tools + system prompt kept alive;
- `learning`: how often those bets paid, per application and over all of them;
- `writing`: the marked request.

A leading system message sent as one string whose end changes every turn is cut at its stable
start (`optimization.system_split`) and the stable part marked. "off", automatic-caching and
non-caching providers get the messages back untouched. The process keeps one planner per
traffic (`optimization.planner_memory`), so what it learns outlives the model objects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, SystemMessage

from optimization.capabilities import ProviderCapabilities
from optimization.config import OptimizationConfig
from optimization.planner.constants import (
    DEFAULT_MEMORY_SIZE,
    MARKER,
    TTL_1H,
    TTL_5M,
    MemorySizes,
    cache_control_for,
    ttl_of,
)
from optimization.planner.decisions import AutomaticPlacement, forced_breakpoints, rule_targets
from optimization.planner.reading import Location, Reader, TokenCounter
from optimization.planner.writing import Planned, marked_request, untouched_request
from optimization.system_split import StablePrefixSplitter

Clock = Callable[[], float]


@dataclass(frozen=True)
class CachePlan:
    """Messages (and tools) ready to send, and how many breakpoints the request carries."""

    messages: list[BaseMessage]
    tools: list[dict[str, Any]] | None
    breakpoints: int


class CacheManager:
    """Plans Anthropic prompt-cache breakpoints for LangChain messages (see the module doc).

    `token_counter(text) -> int` replaces the fast 4-characters-a-token estimate (e.g. with
    Anthropic's count_tokens); its results are kept per text. `clock` (seconds, monotonic) is
    for replays and tests; `memory_size` bounds the remembered prefixes and, in proportion,
    the readings kept (see `optimization.planner.constants.MemorySizes`). Safe to share between
    threads and asyncio tasks: planning never awaits and holds a lock while it reads or updates
    its memory.
    """

    def __init__(
        self,
        capabilities: ProviderCapabilities,
        config: OptimizationConfig,
        *,
        token_counter: TokenCounter | None = None,
        clock: Clock | None = None,
        memory_size: int = DEFAULT_MEMORY_SIZE,
    ) -> None:
        self.capabilities = capabilities
        self.config = config
        sizes = MemorySizes.for_memory(memory_size)
        self._enabled = (
            capabilities.cache_marker_type == "explicit"
            and capabilities.max_cache_breakpoints > 0
            and config.wants_caching(capabilities)
        )
        self._limit = capabilities.max_cache_breakpoints
        self._min_tokens = capabilities.min_cacheable_tokens
        self._ttl = TTL_1H if config.cache_ttl >= TTL_1H else TTL_5M
        write = float(
            capabilities.cache_write_multipliers.get(self._ttl, 1.25 if self._ttl == TTL_5M else 2)
        )
        read = float(capabilities.cache_read_multiplier)
        # A write of premium `write - 1` saves `write - read` when the next request reads
        # instead of writing: it pays when P(read in time) > premium / saving.
        threshold = (write - 1.0) / (write - read) if write > read else 1.0
        rules = config.cache_breakpoints
        self._rules: tuple[str, ...] | None = None if isinstance(rules, str) else tuple(rules)
        self._lock = threading.Lock()
        self._reader = Reader(sizes, token_counter)
        self._placement = AutomaticPlacement(
            ttl=self._ttl,
            threshold=threshold,
            min_tokens=self._min_tokens,
            memory=sizes.prefixes,
            clock=clock or time.monotonic,
        )
        self._splitter = StablePrefixSplitter(
            self._reader.count_tokens, self._min_tokens, memory=sizes.system_texts
        )

    @property
    def enabled(self) -> bool:
        """True when this provider/model/config gets breakpoints at all."""
        return self._enabled

    def add_cache_markers(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[BaseMessage]:
        """A new message list with breakpoints placed; `tools` count in the prefix only.

        Tools are never marked here (the caller would not receive them back); use `plan` to
        get marked tools too.
        """
        return self._plan(messages, tools, tools_markable=False)[0]

    def plan(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> CachePlan:
        """New messages and tools (Anthropic tool dicts) with breakpoints placed."""
        return CachePlan(*self._plan(messages, tools, tools_markable=True))

    def _plan(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[Mapping[str, Any]] | None,
        *,
        tools_markable: bool,
    ) -> Planned:
        if not self._enabled:
            return untouched_request(messages, tools)
        with self._lock:
            messages = self._split_system(messages)
            request = self._reader.read(messages, tools, tools_markable)
            marks, removed = forced_breakpoints(
                request, limit=self._limit, min_tokens=self._min_tokens, ttl=self._ttl
            )
            picks: Sequence[Location]
            if self._rules is None:
                picks = self._placement.choose(request)
            else:
                picks = rule_targets(request, self._rules, self._min_tokens)
            slots = self._limit - len(marks)
            for location in picks:
                if slots <= 0:
                    break
                if location not in marks:
                    marks[location] = self._ttl
                    slots -= 1
            if self._rules is None:
                self._placement.observe(request, marks)
        return marked_request(request, messages, tools, marks, removed)

    def _split_system(self, messages: Sequence[BaseMessage]) -> Sequence[BaseMessage]:
        """Messages whose leading system string, if its end changes, is cut where it is stable.

        The cut is a marker (a forced breakpoint) between the stable start and the rest, so the
        stable part is read from the cache while the rest changes; the text stays the same.
        """
        if not messages or self._rules is not None:
            return messages
        first = messages[0]
        content = first.content
        if type(content) is not str or not isinstance(first, SystemMessage):
            return messages
        boundary = self._splitter.boundary(content)
        if not boundary or MARKER in content:
            return messages
        marked = content[:boundary] + MARKER + content[boundary:]
        return [first.model_copy(update={"content": marked}), *messages[1:]]


__all__ = ["MARKER", "CacheManager", "CachePlan", "cache_control_for", "ttl_of"]
