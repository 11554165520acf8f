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
read refreshes the entry's lifetime; at most 4 breakpoints per request.

So a write pays only if a later request reuses it, and the planner cannot see the future, but it
sees every request that passes. It remembers (bounded, LRU) a hash of every prefix ending at a
message boundary and uses three candidate breakpoints per request ("auto" mode):

- the longest previously seen prefix (LSP) of this request: it is proven to be shared, so it is
  marked (a read when the entry is live, a write that later requests read otherwise). Marking it
  exactly also keeps the read independent of the 20-block lookback (agent turns with many
  parallel tool calls add more than 20 blocks);
- the tail (the whole request), which the next turn of a conversation extends. It is marked only
  when the observed rate at which tails are extended pays for the write premium: a write of
  premium `w - 1` saves `w - r` when the next request reads instead of writing, so the tail is
  marked when P(extended within the TTL) > (w - 1) / (w - r) (0.22 for 5 minutes, 0.53 for
  1 hour). The rate is learned per family (hash of tools + system) and per kind of request
  (whether it extends an earlier request's tail, i.e. is a later turn, or starts fresh), shrunk
  towards the same rate over all families and, before any evidence, towards a prior: later turns
  are usually extended (0.9), fresh requests usually not (0.1). Tails still waiting for a reuse
  count as partial misses in proportion to how much of their TTL has passed;
- the family root (end of tools + system) once it has been seen before, to keep the shared
  system prompt's entry alive for other conversations while this one reads a longer prefix.

Decisions are deterministic given what was seen, and an exact repeat of a request (including
planning the planner's own output again) gets the placement it got the first time.

Explicit rules (`cacheBreakpoints` = tools / system / messages:N, see optimization.config) replace
the automatic choice; "off", automatic-caching and non-caching providers get the messages back
untouched.
"""

from __future__ import annotations

import math
import operator
import threading
import time
import weakref
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from pydantic import BaseModel

from optimization._tokens import estimate_tokens
from optimization.capabilities import ProviderCapabilities
from optimization.config import OptimizationConfig
from optimization.system_split import StablePrefixSplitter

MARKER = "[CACHE_BREAKPOINT]"
# Anthropic bills an image by its size (width x height / 750); one at the default maximum size
# is about 1,600 tokens. Without decoding the image we assume that, for images and binary
# documents alike.
IMAGE_TOKENS = 1600
TTL_5M = 300
TTL_1H = 3600
# Prior probability that a request's tail is extended by a later request: for later turns of a
# conversation (the request extends an earlier request's tail) and for fresh requests.
PRIOR_EXTENDED_LATER_TURN = 0.9
PRIOR_EXTENDED_FRESH = 0.1
# Prior probability that a static prefix (tools + system prompt) seen for the first time is sent
# again within the TTL: system prompts are written to be reused.
PRIOR_STATIC_PREFIX_REUSED = 0.9
# Weight (in requests) of the prior against the global rate, and of the global rate against a
# family's own observations.
PRIOR_WEIGHT = 4.0
FAMILY_WEIGHT = 4.0
# Observation counts decay (halve) past this many outcomes, so the rates follow changing traffic.
RATE_HORIZON = 200.0
DEFAULT_MEMORY_SIZE = 8192
# Anthropic looks back about 20 blocks from a breakpoint for a cached prefix; rely on that only
# well within the window (our block count of a request is an estimate).
LOOKBACK_SAFE = 15
# Text shorter than this is scanned directly; longer text has its token count and marker
# presence cached by (hash, length), since Python caches a str's hash on the object.
_TEXT_CACHE_MIN_CHARS = 256
# Block types whose `cache_control` survives langchain-anthropic's conversion and the API.
_MARKABLE_TYPES = frozenset({"text", "image", "document", "file", "tool_result", "search_result"})
_IMAGE_TYPES = frozenset({"image", "image_url", "document", "file"})

TokenCounter = Callable[[str], int]
Clock = Callable[[], float]
# A breakpoint location: (unit, block) where unit 0 is the tools list when tools are given,
# then one unit per message; block is the index in the unit's (possibly rebuilt) content.
Location = tuple[int, int]
# What `CachePlan` holds, as a plain tuple (add_cache_markers needs only the messages).
_Planned = tuple[list[BaseMessage], list[dict[str, Any]] | None, int]
# Snapshots are found by (id of message 0, id of message 1, tools hash, tools markable).
_SnapshotKey = tuple[int, int, int, bool]


@dataclass(frozen=True)
class CachePlan:
    """Messages (and tools) ready to send, and how many breakpoints the request carries."""

    messages: list[BaseMessage]
    tools: list[dict[str, Any]] | None
    breakpoints: int


def cache_control_for(ttl: int) -> dict[str, str]:
    """Anthropic's `cache_control` value for a TTL in seconds (300 or 3600)."""
    if ttl >= TTL_1H:
        return {"type": "ephemeral", "ttl": "1h"}
    return {"type": "ephemeral"}


def ttl_of(cache_control: object) -> int:
    """TTL in seconds of a `cache_control` value (5 minutes unless it says "1h")."""
    if isinstance(cache_control, Mapping) and cache_control.get("ttl") == "1h":
        return TTL_1H
    return TTL_5M


def _fingerprint(value: object) -> int:
    """Content hash of a JSON-like value, ignoring `cache_control` keys."""
    if isinstance(value, str):
        return hash(value)
    if isinstance(value, Mapping):
        return hash(
            tuple(
                [(key, _fingerprint(item)) for key, item in value.items() if key != "cache_control"]
            )
        )
    if isinstance(value, list | tuple):
        return hash(tuple([_fingerprint(item) for item in value]))
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


def _split_marker(text: str) -> tuple[list[str], list[bool], bool]:
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


class _Info:
    """One message (or the tools list) as the planner sees it, whatever its position.

    Shared between requests once built (cached by content for string content, the common
    case), so never changed after it is built.
    """

    __slots__ = (
        "blocks",
        "cut_before",
        "cuts",
        "end_markable",
        "existing",
        "fingerprint",
        "n_blocks",
        "system",
        "tokens",
        "wire_blocks",
    )

    def __init__(self) -> None:
        self.fingerprint = 0
        # Top-level blocks on the wire (tool calls become tool_use blocks), for the lookback.
        self.wire_blocks = 0
        self.tokens = 0
        self.n_blocks = 0
        self.end_markable = False
        self.system = False
        # Rebuilt content blocks when markers were cut out, else None (content unchanged).
        self.blocks: list[Any] | None = None
        # Marker breakpoints: (block index, tokens of this message through that block).
        self.cuts: tuple[tuple[int, int], ...] = ()
        # A marker before any text of this message: a breakpoint on the previous message.
        self.cut_before = False
        # Breakpoints already present: (block index, ttl).
        self.existing: tuple[tuple[int, int], ...] = ()


class _Request:
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
        "late_system",
        "markable",
        "offset",
        "root",
        "system_end",
    )

    def __init__(self) -> None:
        self.infos: list[_Info] = []
        self.hashes: list[int] = []  # hash of the prefix ending with each unit
        self.ends: list[int] = []  # tokens of the prefix ending with each unit
        self.markable: list[int] = []  # units whose end can carry a breakpoint, in order
        self.existing: list[tuple[Location, int]] = []
        self.late_system: set[int] = set()
        self.has_cuts = False
        self.in_system = True  # no conversation message read yet
        self.system_end = -1  # unit of the last leading system message
        self.offset = 0  # 1 when unit 0 is the tools list
        self.root: int | None = None  # unit ending the tools + system prefix, if markable
        self.family = 0
        self.full_hash = 0

    def before(self, u: int) -> int:
        """Tokens before unit `u`."""
        return self.ends[u - 1] if u > 0 else 0

    def copy(self) -> _Request:
        """A copy that can read more messages without changing this one."""
        new = _Request.__new__(_Request)
        new.infos = self.infos.copy()
        new.hashes = self.hashes.copy()
        new.ends = self.ends.copy()
        new.markable = self.markable.copy()
        new.existing = self.existing.copy()
        new.late_system = self.late_system.copy()
        new.has_cuts = self.has_cuts
        new.in_system = self.in_system
        new.system_end = self.system_end
        new.offset = self.offset
        new.root = self.root
        new.family = self.family
        new.full_hash = self.full_hash
        return new


_content_of = operator.attrgetter("content")


class _Snapshot:
    """The reading of one request, reusable while its messages and contents stay the same.

    Holds the messages and (shallow copies of) their contents; a later request reuses the
    reading when its first messages compare equal to them, which for the very same objects is
    an identity check. A block dict edited in place is not detected: replace the message or its
    content instead.
    """

    __slots__ = ("contents", "count", "messages", "request")

    def __init__(
        self,
        messages: tuple[BaseMessage, ...],
        contents: tuple[object, ...],
        request: _Request,
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


class _Rate:
    """How often tails of one kind were extended: outcomes plus tails still pending."""

    __slots__ = ("created_sum", "pending", "reused", "seen")

    def __init__(self) -> None:
        self.reused = 0.0
        self.seen = 0.0
        self.pending = 0
        self.created_sum = 0.0

    def estimate(self, prior: float, weight: float, now: float, ttl: float) -> float:
        exposure = (self.pending * now - self.created_sum) / ttl
        return (self.reused + weight * prior) / (self.seen + weight + exposure)

    def record(self, reused: bool, created: float) -> None:
        self.pending -= 1
        self.created_sum -= created
        self.seen += 1.0
        if reused:
            self.reused += 1.0
        if self.seen > RATE_HORIZON:
            self.seen /= 2.0
            self.reused /= 2.0


class _Prefix:
    """One remembered prefix (ending at a message boundary)."""

    __slots__ = ("created", "is_tail", "pending", "rates", "refreshed")

    def __init__(self, now: float, is_tail: bool, rates: tuple[_Rate, ...] | None) -> None:
        self.created = now
        # When a breakpoint of ours last wrote or read this prefix (-inf: never).
        self.refreshed = -math.inf
        self.is_tail = is_tail
        self.pending = rates is not None
        self.rates = rates


class CacheManager:
    """Plans Anthropic prompt-cache breakpoints for LangChain messages (see the module doc).

    `token_counter(text) -> int` replaces the fast 4-characters-a-token estimate (e.g. with
    Anthropic's count_tokens); results are cached per text. `clock` (seconds, monotonic) is for
    replays and tests; `memory_size` bounds the remembered prefixes and, in proportion, the
    caches of what was read: readings of message contents, and the messages of up to
    memory_size / 8 recent conversations, kept referenced so that the next turn of a
    conversation passed as the same message objects only reads what is new (a request joins
    them once a later request reused its messages; until then only the last memory_size / 64
    are kept). Safe to share between threads and asyncio tasks: planning never awaits and holds
    a lock while it reads or updates its memory.
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
        self._counter = token_counter
        self._clock: Clock = clock or time.monotonic
        self._memory_size = max(16, memory_size)
        # The reading caches scale with the memory: snapshots hold whole conversations (their
        # messages stay referenced while cached), the others hold small entries.
        self._snapshot_cache_size = max(4, self._memory_size // 8)
        self._trial_snapshot_cache_size = max(4, self._memory_size // 64)
        self._content_cache_size = self._memory_size * 2
        self._message_cache_size = max(16, self._memory_size // 2)
        self._text_cache_size = max(16, self._memory_size // 2)
        self._tool_cache_size = max(16, self._memory_size // 32)
        self._enabled = (
            capabilities.cache_marker_type == "explicit"
            and capabilities.max_cache_breakpoints > 0
            and config.wants_caching(capabilities)
        )
        self._limit = capabilities.max_cache_breakpoints
        self._min_tokens = capabilities.min_cacheable_tokens
        self._ttl = TTL_1H if config.cache_ttl >= TTL_1H else TTL_5M
        self._ttl_seconds = float(self._ttl)
        write = float(
            capabilities.cache_write_multipliers.get(self._ttl, 1.25 if self._ttl == TTL_5M else 2)
        )
        read = float(capabilities.cache_read_multiplier)
        # Mark a tail when P(extended) exceeds premium / (premium + what a read saves over a
        # write the next request would otherwise make).
        self._threshold = (write - 1.0) / (write - read) if write > read else 1.0
        rules = config.cache_breakpoints
        self._rules: tuple[str, ...] | None = None if isinstance(rules, str) else tuple(rules)
        self._lock = threading.Lock()
        self._text_cache: OrderedDict[tuple[int, int], tuple[int, bool]] = OrderedDict()
        self._tool_cache: OrderedDict[int, tuple[object, int, int]] = OrderedDict()
        self._content_cache: OrderedDict[tuple[type, int, int, object], _Info] = OrderedDict()
        self._message_cache: OrderedDict[int, tuple[weakref.ref[BaseMessage], object, _Info]] = (
            OrderedDict()
        )
        self._snapshots: OrderedDict[_SnapshotKey, _Snapshot] = OrderedDict()
        self._trial_snapshots: OrderedDict[_SnapshotKey, _Snapshot] = OrderedDict()
        self._prefixes: OrderedDict[int, _Prefix] = OrderedDict()
        self._pending: deque[_Prefix] = deque()
        # Recent requests (full-content hash) → (last seen, automatic choice): an exact repeat,
        # or the planner's own output planned again, gets the same placement.
        self._decisions: OrderedDict[int, tuple[float, tuple[Location, ...]]] = OrderedDict()
        self._family_rates: OrderedDict[tuple[int, bool], _Rate] = OrderedDict()
        self._global_rates = {True: _Rate(), False: _Rate()}
        # How often a static prefix (tools + system) written on its first request was read.
        self._root_rate = _Rate()
        self._splitter = StablePrefixSplitter(self._count_tokens, self._min_tokens)

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

    # -- planning -------------------------------------------------------------------------

    def _plan(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[Mapping[str, Any]] | None,
        *,
        tools_markable: bool,
    ) -> _Planned:
        if not self._enabled:
            copied = [dict(tool) for tool in tools] if tools is not None else None
            return list(messages), copied, _count_breakpoints(messages, tools)
        with self._lock:
            messages = self._split_system(messages)
            request = self._read(messages, tools, tools_markable)
            marks, removed = self._forced(request)
            slots = self._limit - len(marks)
            if slots > 0:
                picks: Sequence[Location]
                if self._rules is None:
                    picks = self._choose(request)
                else:
                    picks = self._rule_targets(request, self._rules)
                for location in picks:
                    if slots == 0:
                        break
                    if location not in marks:
                        marks[location] = self._ttl
                        slots -= 1
        return self._build(request, messages, tools, marks, removed)

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

    def _forced(self, request: _Request) -> tuple[dict[Location, int], list[Location]]:
        """Breakpoints the caller placed or asked for with markers, within the limit.

        Returns the kept ones (location → ttl) and the caller's breakpoints to remove. Above the
        limit the first and the last `limit - 1` are kept (the longest prefixes read best; the
        first usually covers the shared tools/system).
        """
        found: dict[Location, int] = dict(request.existing)
        if request.has_cuts:
            min_tokens = self._min_tokens
            for u, info in enumerate(request.infos):
                if u in request.late_system:
                    continue
                if info.cut_before:
                    location = self._end(request, u - 1) if u > 0 else None
                    if location is not None:
                        found.setdefault(location, self._ttl)
                before = request.before(u)
                for block, tokens in info.cuts:
                    if before + tokens >= min_tokens:
                        found.setdefault((u, block), self._ttl)
        removed: list[Location] = []
        if len(found) > self._limit:
            ordered = sorted(found)
            keep = {ordered[0], *ordered[len(ordered) - self._limit + 1 :]}
            for location in ordered:
                if location not in keep:
                    del found[location]
                    removed.append(location)
        return found, removed

    def _end(self, request: _Request, u: int) -> Location | None:
        """The last block of unit `u` if it can carry a breakpoint worth caching."""
        info = request.infos[u]
        if (
            info.end_markable
            and request.ends[u] >= self._min_tokens
            and u not in request.late_system
        ):
            return (u, info.n_blocks - 1)
        return None

    def _rule_targets(self, request: _Request, rules: tuple[str, ...]) -> list[Location]:
        system_end: int | None = None
        conversation: list[int] = []
        for u in range(request.offset, len(request.infos)):
            if request.infos[u].system and not conversation:
                system_end = u
            else:
                conversation.append(u)
        targets: list[Location] = []
        for rule in rules:
            target: int | None = None
            if rule == "tools":
                target = 0 if request.offset else None
            elif rule == "system":
                target = system_end
            elif rule.startswith("messages:"):
                index = int(rule.split(":", 1)[1])
                if -len(conversation) <= index < len(conversation):
                    target = conversation[index]
            location = self._end(request, target) if target is not None else None
            if location is not None:
                targets.append(location)
        return targets

    def _choose(self, request: _Request) -> tuple[Location, ...]:
        """The automatic choice, in priority order: tail, longest seen prefix, family root."""
        now = self._clock()
        ttl = self._ttl_seconds
        pending = self._pending
        if pending and pending[0].created + ttl <= now:
            self._mature(now, ttl)
        prefixes = self._prefixes
        decisions = self._decisions
        remembered = decisions.get(request.full_hash)
        if remembered is not None and now - remembered[0] <= ttl:
            decisions[request.full_hash] = (now, remembered[1])
            decisions.move_to_end(request.full_hash)
            return remembered[1]
        hashes = request.hashes
        markable = request.markable
        lsp = -1
        lsp_record: _Prefix | None = None
        for u in reversed(markable):
            record = prefixes.get(hashes[u])
            if record is not None:
                lsp, lsp_record = u, record
                break
        extension = lsp_record is not None and lsp_record.is_tail
        tail = markable[-1] if markable else -1
        picks: list[Location] = []
        tail_marked = False
        if tail >= 0 and tail != lsp:
            location = self._end(request, tail)
            if (
                location is not None
                and self._reuse_rate(request.family, extension, now) > self._threshold
            ):
                picks.append(location)
                tail_marked = True
        if lsp_record is not None:
            location = self._end(request, lsp)
            # The tail breakpoint finds the longest seen prefix by looking back when it is a
            # few blocks away; otherwise mark it exactly.
            if location is not None and (
                not tail_marked or self._blocks_between(request, lsp, tail) > LOOKBACK_SAFE
            ):
                picks.append(location)
            if location is not None:
                lsp_record.refreshed = now
            prefixes.move_to_end(hashes[lsp])
            if lsp_record.pending:
                self._resolve(lsp_record, reused=True)
        root = request.root
        new_root = False
        if root is not None and root != lsp and root != tail:
            root_record = prefixes.get(hashes[root])
            location = self._end(request, root)
            if root_record is not None:
                # Refresh the shared tools + system entry for other conversations before it
                # can expire, while this one reads a longer prefix.
                if location is not None and now - root_record.refreshed >= ttl / 2:
                    picks.append(location)
                    root_record.refreshed = now
                if root_record.pending:
                    self._resolve(root_record, reused=True)
                prefixes.move_to_end(hashes[root])
            elif location is not None and self._writes_new_root(request, root, now):
                # A long static prefix seen for the first time: write it now so that the next
                # request (often on a new model object) reads it.
                picks.append(location)
                new_root = True
        decision = tuple(picks)
        # Remember the new prefixes: the markable units after the longest seen one.
        for u in markable[bisect_right(markable, lsp) :]:
            if u == root and new_root:
                record = _Prefix(now, False, (self._root_rate,))
                record.refreshed = now
                prefixes[hashes[u]] = record
                self._root_rate.pending += 1
                self._root_rate.created_sum += now
                self._pending.append(record)
                continue
            if u != tail:
                prefixes[hashes[u]] = _Prefix(now, False, None)
                continue
            rates = (self._family_rate(request.family, extension), self._global_rates[extension])
            record = _Prefix(now, True, rates)
            prefixes[hashes[u]] = record
            for rate in rates:
                rate.pending += 1
                rate.created_sum += now
            self._pending.append(record)
        while len(prefixes) > self._memory_size:
            prefixes.popitem(last=False)
        decisions[request.full_hash] = (now, decision)
        if len(decisions) > self._memory_size:
            decisions.popitem(last=False)
        return decision

    def _writes_new_root(self, request: _Request, root: int, now: float) -> bool:
        """Whether to write a static prefix on its first request.

        Not when its system text is one whose end changes (it was cut at its stable part),
        nor once this traffic has shown that its new static prefixes are not sent again.
        """
        if request.infos[root].cuts:
            return False
        rate = self._root_rate.estimate(
            PRIOR_STATIC_PREFIX_REUSED, PRIOR_WEIGHT, now, self._ttl_seconds
        )
        return rate > self._threshold

    @staticmethod
    def _blocks_between(request: _Request, start: int, end: int) -> int:
        infos = request.infos
        return sum([info.wire_blocks for info in infos[start + 1 : end + 1]])

    def _reuse_rate(self, family: int, extension: bool, now: float) -> float:
        ttl = self._ttl_seconds
        prior = PRIOR_EXTENDED_LATER_TURN if extension else PRIOR_EXTENDED_FRESH
        overall = self._global_rates[extension].estimate(prior, PRIOR_WEIGHT, now, ttl)
        rate = self._family_rates.get((family, extension))
        if rate is None:
            return overall
        return rate.estimate(overall, FAMILY_WEIGHT, now, ttl)

    def _family_rate(self, family: int, extension: bool) -> _Rate:
        key = (family, extension)
        rate = self._family_rates.get(key)
        if rate is None:
            rate = self._family_rates[key] = _Rate()
            if len(self._family_rates) > self._memory_size:
                self._family_rates.popitem(last=False)
        else:
            self._family_rates.move_to_end(key)
        return rate

    def _mature(self, now: float, ttl: float) -> None:
        """Tails not extended within their TTL count as not reused."""
        pending = self._pending
        while pending and pending[0].created + ttl <= now:
            record = pending.popleft()
            if record.pending:
                self._resolve(record, reused=False)

    @staticmethod
    def _resolve(record: _Prefix, *, reused: bool) -> None:
        record.pending = False
        for rate in record.rates or ():
            rate.record(reused, record.created)

    # -- reading the request --------------------------------------------------------------

    def _read(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[Mapping[str, Any]] | None,
        tools_markable: bool,
    ) -> _Request:
        tools_info: _Info | None = None
        chain = 0
        if tools:
            tools_info = self._tools_info(tools, tools_markable)
            chain = hash((chain, tools_info.fingerprint))
        if len(messages) < 2 or (tools_info is not None and tools_info.existing):
            request = self._new_request(tools_info, chain)
            self._read_messages(request, messages, 0)
            return request
        # A conversation replanned turn after turn: reuse the reading of the messages that are
        # the same (normally the very same objects) as last time. A new reading is kept on
        # trial until a later request reuses it, so that a backend rebuilding its messages for
        # every request does not keep many dead requests referenced.
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
                # The same request again: its reading is never changed, so share it.
                _put_bounded(snapshots, key, snapshot, self._snapshot_cache_size)
                return snapshot.request
            request = snapshot.request.copy()
            self._read_messages(request, listed, count)
            kept = snapshot.contents + _own_contents(contents[count:])
        else:
            request = self._new_request(tools_info, chain)
            self._read_messages(request, listed, 0)
            kept = _own_contents(contents)
        snapshot = _Snapshot(listed, kept, request)
        if proven:
            _put_bounded(snapshots, key, snapshot, self._snapshot_cache_size)
        else:
            _put_bounded(self._trial_snapshots, key, snapshot, self._trial_snapshot_cache_size)
        return request

    @staticmethod
    def _new_request(tools_info: _Info | None, chain: int) -> _Request:
        request = _Request()
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

    def _read_messages(
        self, request: _Request, messages: Sequence[BaseMessage], start: int
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
            chain = hash((chain, info.fingerprint))
            tokens += info.tokens
            infos.append(info)
            hashes.append(chain)
            ends.append(tokens)
            if info.blocks is not None or info.cut_before:
                request.has_cuts = True
            if info.system:
                if request.in_system:
                    request.family = chain
                    request.system_end = u
                else:
                    # A system message later in the list is hoisted or sent in place depending
                    # on the model: its position in the prompt is uncertain, so never marked.
                    request.late_system.add(u)
                    continue
            else:
                request.in_system = False
            if info.end_markable:
                markable.append(u)
            if info.existing:
                existing.extend(((u, block), ttl) for block, ttl in info.existing)
        if request.system_end >= 0:
            system_end = request.system_end
            request.root = system_end if infos[system_end].end_markable else None
        request.full_hash = chain

    def _tools_info(self, tools: Sequence[Mapping[str, Any]], markable: bool) -> _Info:
        info = _Info()
        fingerprints = []
        existing = []
        tokens = 0
        cache = self._tool_cache
        for index, tool in enumerate(tools):
            entry = cache.get(id(tool))
            if entry is None or entry[0] is not tool:
                entry = (tool, _fingerprint(tool), _chars(tool) // 4)
                _put_bounded(cache, id(tool), entry, self._tool_cache_size)
            fingerprints.append(entry[1])
            tokens += entry[2]
            if "cache_control" in tool:
                existing.append((index, ttl_of(tool["cache_control"])))
        info.n_blocks = info.wire_blocks = len(tools)
        info.fingerprint = hash(tuple(fingerprints))
        info.tokens = tokens
        info.end_markable = markable
        info.existing = tuple(existing)
        return info

    def _count_tokens(self, text: str) -> int:
        counter = self._counter
        return counter(text) if counter is not None else estimate_tokens(text)

    def _text_info(self, text: str) -> tuple[int, bool]:
        """(tokens, contains a marker) for one text, cached for long texts."""
        if len(text) < _TEXT_CACHE_MIN_CHARS and self._counter is None:
            return estimate_tokens(text), MARKER in text
        key = (hash(text), len(text))
        info = self._text_cache.get(key)
        if info is None:
            info = (self._count_tokens(text), MARKER in text)
            _put_bounded(self._text_cache, key, info, self._text_cache_size)
        return info

    def _message_info(self, message: BaseMessage) -> _Info:
        """The `_Info` of one message, from a cache for string content.

        A message with string content reads the same whatever object carries it, so its reading
        is cached by content (a backend that rebuilds its messages for every request still only
        hashes them). An assistant turn with tool calls also depends on the calls: its reading
        is cached per message object instead.
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
            return self._assistant_info(message, content)
        key = (cls, hash(content), len(content), extra)
        cache = self._content_cache
        info = cache.get(key)
        if info is not None:
            return info
        has_marker = MARKER in content
        if has_marker:
            info = self._inspect(message)
        else:
            info = _Info()
            info.system = kind == _SYSTEM
            info.fingerprint = hash((message.type, (hash(content),), extra))
            info.tokens = self._count_tokens(content)
            info.n_blocks = info.wire_blocks = 1
            info.end_markable = bool(content) and not content.isspace()
        _put_bounded(cache, key, info, self._content_cache_size)
        return info

    def _assistant_info(self, message: BaseMessage, content: str) -> _Info:
        """The `_Info` of an assistant turn with tool calls, cached per message object."""
        calls = message.tool_calls  # type: ignore[attr-defined]
        check = (hash(content), id(calls), len(calls), len(message.invalid_tool_calls))  # type: ignore[attr-defined]
        key = id(message)
        cache = self._message_cache
        entry = cache.get(key)
        if entry is not None and entry[1] == check and entry[0]() is message:
            return entry[2]
        info = self._inspect(message)
        _put_bounded(cache, key, (weakref.ref(message), check, info), self._message_cache_size)
        return info

    def _inspect(self, message: BaseMessage) -> _Info:
        """Read one message: fingerprint, tokens, markers, existing breakpoints."""
        info = _Info()
        info.system = isinstance(message, SystemMessage)
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
                            (call.get("id"), call.get("name"), _fingerprint(call.get("args")))
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
                # The form `_build` gives a marked tool result: the same prompt as its text.
                text = block["content"]
                splittable = False
            if text is not None:
                count, has_marker = self._text_info(text)
                if has_marker and splittable:
                    if rebuilt is None:
                        rebuilt = list(blocks[:index])
                    pieces, piece_cuts, cut_before = _split_marker(text)
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
                        tokens += self._text_info(piece)[0]
                        if piece_cuts[number]:
                            cuts.append((len(rebuilt), tokens))
                        fingerprints.append(hash(piece))
                        rebuilt.append(piece_block)
                        last_markable = True
                    continue
                tokens += count
                fingerprints.append(hash(text))
                last_markable = bool(text) and not text.isspace()
            else:
                # LangChain content lists hold strings and dicts only.
                kind = block.get("type")
                fingerprints.append(_fingerprint(block))
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
            # `_build` sends a string that was only markers as "": read it as that output
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
        return info

    # -- writing the result ---------------------------------------------------------------

    def _build(
        self,
        request: _Request,
        messages: Sequence[BaseMessage],
        tools: Sequence[Mapping[str, Any]] | None,
        marks: dict[Location, int],
        removed: list[Location],
    ) -> _Planned:
        existing = dict(request.existing) if request.existing else _NOTHING
        edits: dict[int, dict[int, int | None]] = {}
        lowest = TTL_1H
        # A longer TTL must not follow a shorter one: downgrade any that would.
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


_NOTHING: Mapping[Location, int] = {}
_K = TypeVar("_K")
_V = TypeVar("_V")


def _put_bounded(cache: OrderedDict[_K, _V], key: _K, value: _V, size: int) -> None:
    """Store `key` as the newest entry of `cache`, dropping the oldest beyond `size` entries."""
    cache.pop(key, None)
    if len(cache) >= size:
        cache.popitem(last=False)
    cache[key] = value


_default_copy = BaseModel.__copy__
_setattr = object.__setattr__


def _with_content(message: BaseMessage, content: str | list[Any]) -> BaseMessage:
    """`message.model_copy(update={"content": content})`, made the same way but cheaper.

    pydantic's generic copy (through `copy.copy` per attribute) costs several microseconds a
    message; this builds the same shallow copy directly: new field dict, extras and fields-set
    copied, `content` marked as set. Models with their own `__copy__` or private attributes get
    pydantic's copy.
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


__all__ = ["MARKER", "CacheManager", "CachePlan", "cache_control_for", "ttl_of"]
