"""A cost model of Anthropic's prompt cache, to replay traffic and price where breakpoints went.

The prompt of a request is the ordered blocks tools → system → message content blocks
(as the Messages API receives them). The model follows Anthropic's documented rules
(platform.claude.com, "Prompt caching"):

- A block carrying `cache_control` is a breakpoint; at most 4 per request, and a 1-hour
  breakpoint may not follow a 5-minute one (the API rejects such a request: so does `process`).
- For each breakpoint the cache is searched at that block and up to `lookback - 1` blocks
  before it for a live entry with the same prefix; the request reads the longest prefix found
  (0.1x the input price), and every entry found is refreshed for its own TTL.
- Each breakpoint after the read prefix whose prefix reaches the model's minimum cacheable
  length writes an entry: the tokens from the read point up to the last such breakpoint are
  billed as cache writes (1.25x for 5 minutes, 2x for 1 hour, each stretch at the TTL of the
  breakpoint that closes it); a breakpoint at or before the read point writes nothing.
- Everything else is plain input (1x).
- An entry can be read only once the response of the request that wrote it has begun
  (Anthropic's docs, on concurrent requests; anthropics/anthropic-sdk-python#1451 measures a
  second request sent right after the first missing its entry ~40% of the time, and none
  after 2 seconds): entries become readable `AVAILABLE_AFTER` seconds after their write.

`hindsight_usage` prices the same trace for an oracle that knows the future: it reads the
longest live prefix it has written (at any block, with no breakpoint limit or lookback) and
writes a prefix only as far as some later request can read it within the TTL (at least
`AVAILABLE_AFTER` seconds later); like any breakpoint at or before the prefix read, its
breakpoints there refresh live entries but never bring back expired ones. Costs are in units
of "input tokens at the plain price", so ratios between policies are price-independent.

`skipping_balance` estimates, per class of requests, what not writing would have saved: how a
rule deciding by class (say: kind of traffic, turn number, back from a pause) would fare.

`simple_rule` marks a request as the rules everybody starts with do (end of the system prompt,
and the last one or two user turns): the planner's baselines, priced by the same model.

This module is self-contained (it does not import the simulator or the planner) so it can be
shared by benchmarks and tests.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optimization._tokens import estimate_tokens

LOOKBACK_BLOCKS = 20
MAX_BREAKPOINTS = 4
READ_MULTIPLIER = 0.1
WRITE_MULTIPLIERS: Mapping[int, float] = {300: 1.25, 3600: 2.0}
IMAGE_TOKENS = 1600
# Seconds from sending a request until the entries it writes can be read (its response begins).
AVAILABLE_AFTER = 2.0


@dataclass(frozen=True)
class Block:
    """One prompt block: a hash of its content (cache_control excluded), tokens, breakpoint."""

    key: int
    tokens: int
    ttl: int | None = None


@dataclass
class Usage:
    """How one request's input tokens split by price."""

    uncached: int = 0
    read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def total(self) -> int:
        return self.uncached + self.read + self.write_5m + self.write_1h

    def cost(self) -> float:
        """Cost in plain-input-token units."""
        return (
            self.uncached
            + READ_MULTIPLIER * self.read
            + WRITE_MULTIPLIERS[300] * self.write_5m
            + WRITE_MULTIPLIERS[3600] * self.write_1h
        )


def _key(value: object) -> int:
    if isinstance(value, str):
        return hash(value)
    if isinstance(value, Mapping):
        return hash(tuple((k, _key(v)) for k, v in value.items() if k != "cache_control"))
    if isinstance(value, list | tuple):
        return hash(tuple(_key(v) for v in value))
    return hash(repr(value))


def _tokens(value: object) -> int:
    if isinstance(value, str):
        return estimate_tokens(value)
    if isinstance(value, Mapping):
        if value.get("type") in ("image", "document") and isinstance(value.get("source"), Mapping):
            source = value["source"]
            if source.get("type") != "text":
                return IMAGE_TOKENS
        return sum(_tokens(v) for k, v in value.items() if k not in ("cache_control", "type"))
    if isinstance(value, list | tuple):
        return sum(_tokens(v) for v in value)
    return 1


def _ttl(cache_control: object) -> int | None:
    if not isinstance(cache_control, Mapping):
        return None
    return 3600 if cache_control.get("ttl") == "1h" else 300


def blocks_of(params: Mapping[str, Any]) -> list[Block]:
    """The prompt blocks of a Messages API request (`tools`, `system`, `messages`)."""
    blocks: list[Block] = []
    for tool in params.get("tools") or ():
        blocks.append(Block(_key(tool), _tokens(tool), _ttl(tool.get("cache_control"))))
    system = params.get("system")
    parts: list[Any] = [system] if isinstance(system, str) else list(system or ())
    for message in params.get("messages", ()):
        content = message["content"]
        role = message["role"]
        items = [content] if isinstance(content, str) else content
        for item in items:
            parts.append((role, item))
    for part in parts:
        role, item = part if isinstance(part, tuple) else ("system", part)
        if isinstance(item, str):
            # A string is the same prompt as one text block holding it.
            item = {"type": "text", "text": item}
        blocks.append(
            Block(hash((role, _key(item))), _tokens(item), _ttl(item.get("cache_control")))
        )
    return blocks


def _prefix_keys(blocks: Sequence[Block]) -> tuple[list[int], list[int]]:
    keys, ends = [], []
    chain, tokens = 0, 0
    for block in blocks:
        chain = hash((chain, block.key))
        tokens += block.tokens
        keys.append(chain)
        ends.append(tokens)
    return keys, ends


class AnthropicCache:
    """The prompt cache of one model, replayed request by request at given times."""

    def __init__(
        self,
        *,
        min_tokens: int,
        lookback: int = LOOKBACK_BLOCKS,
        available_after: float = AVAILABLE_AFTER,
    ) -> None:
        self.min_tokens = min_tokens
        self.lookback = lookback
        self.available_after = available_after
        # prefix key → (expires at, ttl, readable from)
        self._entries: dict[int, tuple[float, int, float]] = {}

    def process(self, blocks: Sequence[Block], now: float) -> Usage:
        """Read and write the cache for one request at time `now` (seconds)."""
        breakpoints = [index for index, block in enumerate(blocks) if block.ttl is not None]
        if len(breakpoints) > MAX_BREAKPOINTS:
            raise ValueError(f"{len(breakpoints)} cache breakpoints: at most 4 are allowed")
        ttls = [blocks[index].ttl or 0 for index in breakpoints]
        if any(later > earlier for earlier, later in itertools.pairwise(ttls)):
            raise ValueError("a 1h cache breakpoint follows a 5m one")
        keys, ends = _prefix_keys(blocks)
        total = ends[-1] if ends else 0
        entries = self._entries
        read_at = -1
        for breakpoint in breakpoints:
            for index in range(breakpoint, max(-1, breakpoint - self.lookback), -1):
                entry = entries.get(keys[index])
                if entry is not None and entry[0] > now and entry[2] <= now:
                    entries[keys[index]] = (now + entry[1], entry[1], entry[2])
                    read_at = max(read_at, index)
                    break
        read = ends[read_at] if read_at >= 0 else 0
        usage = Usage(read=read)
        start = read
        for breakpoint in breakpoints:
            if breakpoint <= read_at or ends[breakpoint] < self.min_tokens:
                continue
            ttl = blocks[breakpoint].ttl or 300
            written = ends[breakpoint] - start
            if ttl == 3600:
                usage.write_1h += written
            else:
                usage.write_5m += written
            start = ends[breakpoint]
            readable = now + self.available_after
            earlier = entries.get(keys[breakpoint])
            if earlier is not None and earlier[0] > now:
                readable = min(readable, earlier[2])  # still being written by another request
            entries[keys[breakpoint]] = (now + ttl, ttl, readable)
        usage.uncached = total - read - usage.write_5m - usage.write_1h
        return usage


def hindsight_usage(
    trace: Sequence[tuple[float, Sequence[Block]]],
    *,
    min_tokens: int,
    ttl: int = 300,
    available_after: float = AVAILABLE_AFTER,
) -> list[Usage]:
    """What an oracle that knows the whole trace pays per request (see the module doc)."""
    prefixes = [_prefix_keys(blocks) for _, blocks in trace]
    uses: dict[int, list[float]] = {}  # prefix key → times of the requests holding it
    for (now, _), (keys, _) in zip(trace, prefixes, strict=True):
        for key in keys:
            uses.setdefault(key, []).append(now)
    live: dict[int, tuple[float, float]] = {}  # prefix key → (expires at, readable from)
    usages = []
    for position, (now, _) in enumerate(trace):
        keys, ends = prefixes[position]
        read_at = write_to = -1
        for index in range(len(keys) - 1, -1, -1):
            if ends[index] < min_tokens:
                break
            if read_at < 0:
                entry = live.get(keys[index])
                if entry is not None and entry[0] > now and entry[1] <= now:
                    read_at = index
            if write_to < 0 and _read_later(uses[keys[index]], now, available_after, ttl):
                write_to = index
            if read_at >= 0 and write_to >= 0:
                break
        read = ends[read_at] if read_at >= 0 else 0
        written = ends[write_to] - read if write_to > read_at else 0
        total = ends[-1] if ends else 0
        usage = Usage(uncached=total - read - written, read=read)
        if ttl == 3600:
            usage.write_1h = written
        else:
            usage.write_5m = written
        usages.append(usage)
        for index in range(max(read_at, write_to) + 1):
            if ends[index] < min_tokens:
                continue
            entry = live.get(keys[index])
            if entry is not None and entry[0] > now:
                live[keys[index]] = (now + ttl, entry[1])  # a read (or a write under way)
            elif index > read_at and index <= write_to:
                live[keys[index]] = (now + ttl, now + available_after)
    return usages


def _read_later(times: list[float], now: float, available_after: float, ttl: int) -> bool:
    """Whether a request holding a prefix comes when an entry written now is readable."""
    index = bisect.bisect_left(times, now + available_after, bisect.bisect_right(times, now))
    return index < len(times) and times[index] - now <= ttl


def skipping_balance(
    classes: Sequence[Hashable], written: Sequence[int], followed: Sequence[bool]
) -> dict[Hashable, float]:
    """Per class of requests: what not writing at all would have saved (negative: cost).

    `written`: tokens each request wrote; `followed`: whether a later request of its
    conversation came within the TTL. Skipping a write saves its premium when nothing followed,
    and forgoes the read discount when something did (the next request writes those tokens
    instead of reading them): to first order, for requests that each write what is new.
    """
    premium = WRITE_MULTIPLIERS[300] - 1.0
    forgone = WRITE_MULTIPLIERS[300] - READ_MULTIPLIER
    balance: dict[Hashable, float] = {}
    for key, tokens, read in zip(classes, written, followed, strict=True):
        change = -forgone * tokens if read else premium * tokens
        balance[key] = balance.get(key, 0.0) + change
    return balance


# -- the simple rules the planner is compared with ----------------------------------------

_MARK = {"type": "ephemeral"}


def _marked_last_block(content: Any) -> list[Any]:
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content)
    last = blocks[-1]
    blocks[-1] = {**({"type": "text", "text": last} if isinstance(last, str) else last)}
    blocks[-1]["cache_control"] = _MARK
    return blocks


def simple_rule(params: Mapping[str, Any], user_turns: int) -> dict[str, Any]:
    """`params` with breakpoints at the end of the system prompt (else of the tools) and at
    the end of the last `user_turns` user messages: the two rules everybody starts with."""
    marked = dict(params)
    if marked.get("system"):
        marked["system"] = _marked_last_block(marked["system"])
    elif marked.get("tools"):
        tools = list(marked["tools"])
        tools[-1] = {**tools[-1], "cache_control": _MARK}
        marked["tools"] = tools
    messages = list(marked["messages"])
    users = [index for index, message in enumerate(messages) if message["role"] == "user"]
    for index in users[-user_turns:]:
        if messages[index]["content"]:
            messages[index] = {**messages[index]}
            messages[index]["content"] = _marked_last_block(messages[index]["content"])
    marked["messages"] = messages
    return marked


RULES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "system_last": lambda params: simple_rule(params, 1),
    "system_last2": lambda params: simple_rule(params, 2),
}


__all__ = [
    "RULES",
    "AnthropicCache",
    "Block",
    "Usage",
    "blocks_of",
    "hindsight_usage",
    "simple_rule",
    "skipping_balance",
]
