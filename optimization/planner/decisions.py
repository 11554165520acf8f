"""Where the breakpoints go: the caller's own, explicit rules, and the automatic choice.

The automatic choice (`AutomaticPlacement`) keeps, besides what it learns, a model of what its
own breakpoints left in Anthropic's cache: for every remembered prefix, until when an entry
written or read there stays alive. A request gets up to four candidates, in this order:

- the tail (the whole request), which the next turn of a conversation extends: marked when it
  is alive already (a read), or when tails of its kind were extended within the TTL often
  enough to pay for the write premium;
- the longest prefix seen before, beyond the tools + system prompt: marked where the tail's
  breakpoint would not read it by looking back (too many blocks away, or no tail breakpoint),
  when it is alive, or shared by other requests (a few-shot block) that come in time;
- the root (tools + system prompt): marked whenever it is alive and the tail's lookback does
  not read it (a read, at no cost, that keeps it alive for every other conversation of the
  application), or when a later breakpoint writes past it anyway; otherwise written when the
  application's requests come often enough, or, for an application seen for the first time,
  unless new applications' prompts have shown they are not sent again;
- the previous request's tail as the structure shows it (the messages before the last
  assistant turn), when this planner has not seen it (another process, or this one before a
  restart, sent it) and the tail's breakpoint cannot look that far back.

What is learnt (rates in `learning`): per application ("family": tools + the stable start of
the system prompt) and kind of request (a later turn; a fresh request behind a cacheable static
prefix; any other fresh request), how often tails were extended in time, shrunk towards the
other families' rate for that kind and that towards a prior; and how often the application's next
request came in time. A request is a later turn when it extends a tail this planner saw, or
holds an assistant turn: a conversation back from a pause, or one whose earlier turns went to
another process, is never taken for fresh traffic. A planner in one of several processes sees
only a share of each conversation's turns; it learns that share from the later turns whose
previous request it saw, and a miss counts for only that share of one, so that misses which
were reuses elsewhere never price conversations out.

An exact repeat of a request within the TTL (including planning the planner's own output
again) gets the same placement.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping

from optimization.planner.constants import (
    FAMILY_WEIGHT,
    LOOKBACK_SAFE,
    PRIOR_EXTENDED_FRESH,
    PRIOR_EXTENDED_FRESH_BEHIND_STATIC,
    PRIOR_EXTENDED_LATER_TURN,
    PRIOR_STATIC_PREFIX_REUSED,
    PRIOR_WEIGHT,
)
from optimization.planner.learning import Rate, repeats_in_time, seen_share
from optimization.planner.reading import Location, RequestReading

# Kinds of request, whose tails are extended at rates learnt apart: a fresh request without a
# cacheable static prefix (a one-off document job, usually), a later turn of a conversation, and
# a fresh request behind a cacheable tools + system prompt (a chat or RAG application's first
# turn). Pooled together, one-off jobs would price the applications' first turns out of caching
# (or the reverse) for every new application.
FRESH, LATER_TURN, FRESH_BEHIND_STATIC = 0, 1, 2
_TAIL_PRIORS = (PRIOR_EXTENDED_FRESH, PRIOR_EXTENDED_LATER_TURN, PRIOR_EXTENDED_FRESH_BEHIND_STATIC)


def end_location(request: RequestReading, u: int, min_tokens: int) -> Location | None:
    """The last block of unit `u` if it can carry a breakpoint worth caching."""
    info = request.infos[u]
    if info.end_markable and request.ends[u] >= min_tokens and u not in request.late_system:
        return (u, info.n_blocks - 1)
    return None


def forced_breakpoints(
    request: RequestReading, *, limit: int, min_tokens: int, ttl: int
) -> tuple[dict[Location, int], list[Location]]:
    """Breakpoints the caller placed or asked for with markers, within the limit.

    Returns the kept ones (location → ttl) and the caller's breakpoints to remove. Above the
    limit the first and the last `limit - 1` are kept (the longest prefixes read best; the
    first usually covers the shared tools/system).
    """
    found: dict[Location, int] = dict(request.existing)
    if request.has_cuts:
        for u, info in enumerate(request.infos):
            if u in request.late_system:
                continue
            if info.cut_before:
                location = end_location(request, u - 1, min_tokens) if u > 0 else None
                if location is not None:
                    found.setdefault(location, ttl)
            before = request.before(u)
            for block, tokens in info.cuts:
                if before + tokens >= min_tokens:
                    found.setdefault((u, block), ttl)
    removed: list[Location] = []
    if len(found) > limit:
        ordered = sorted(found)
        keep = {ordered[0], *ordered[len(ordered) - limit + 1 :]}
        for location in ordered:
            if location not in keep:
                del found[location]
                removed.append(location)
    return found, removed


def rule_targets(
    request: RequestReading, rules: tuple[str, ...], min_tokens: int
) -> list[Location]:
    """The locations explicit `cacheBreakpoints` rules name (tools / system / messages:N)."""
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
        location = end_location(request, target, min_tokens) if target is not None else None
        if location is not None:
            targets.append(location)
    return targets


class _Bet:
    """A write waiting to learn whether it was read within the TTL."""

    __slots__ = ("created", "open", "rates")

    def __init__(self, created: float, rates: tuple[Rate, ...]) -> None:
        self.created = created
        self.open = True
        self.rates = rates
        for rate in rates:
            rate.open(created)

    def settle(self, reused: bool) -> None:
        self.open = False
        for rate in self.rates:
            rate.settle(reused, self.created)

    def forget(self) -> None:
        """Stop waiting without an outcome (the memory is full)."""
        self.open = False
        for rate in self.rates:
            rate.forget(self.created)


class _Prefix:
    """One remembered prefix (ending at a message boundary)."""

    __slots__ = ("alive_until", "bet", "decided", "decision", "is_tail")

    def __init__(self, is_tail: bool) -> None:
        self.is_tail = is_tail  # the whole prompt of a request: a conversation may extend it
        # Until when an entry at this prefix stays in the cache, as far as our breakpoints
        # wrote or read it (-inf: never).
        self.alive_until = -math.inf
        self.bet: _Bet | None = None
        # For a whole request: the candidates chosen for it, and when (for exact repeats).
        self.decision: tuple[Location, ...] | None = None
        self.decided = -math.inf


class _Family:
    """What is learnt about one application (tools + the stable start of its system prompt)."""

    __slots__ = ("last_seen", "repeats", "tails")

    def __init__(self) -> None:
        self.tails = (Rate(), Rate(), Rate())  # tails by kind of request (see `_TAIL_PRIORS`)
        self.repeats = Rate()  # whether the next request of the family came within the TTL
        self.last_seen = -math.inf


class _View:
    """What the memory knows about one request, and the choice as it is being made."""

    __slots__ = (
        "family",
        "kind",
        "looked_up",
        "new_family",
        "now",
        "parent",
        "picks",
        "read_to",
        "request",
        "root",
        "seen",
        "seen_record",
        "seen_written",
        "share",
        "tail",
        "writes_tail",
    )

    def __init__(
        self, request: RequestReading, now: float, family: _Family, new_family: bool
    ) -> None:
        self.request = request
        self.now = now
        self.family = family
        self.new_family = new_family
        self.picks: list[Location] = []
        self.root = -1 if request.root is None else request.root
        self.tail = request.markable[-1] if request.markable else -1
        self.seen = -1  # the longest prefix seen before (-1: none)
        self.seen_record: _Prefix | None = None
        self.kind = FRESH  # of request, for the rate of its tail
        self.parent = -1  # the previous request of the conversation, by structure
        self.share = 1.0  # of the conversations' turns this planner sees
        self.writes_tail = False
        self.looked_up = -1  # the prefix the tail's breakpoint reads by looking back
        self.read_to = -1  # the longest prefix the request reads
        self.seen_written = False


class AutomaticPlacement:
    """The automatic choice of breakpoints and the memory it learns from (see the module doc).

    Not thread-safe: the planner calls it under its own lock.
    """

    def __init__(
        self,
        *,
        ttl: int,
        threshold: float,
        min_tokens: int,
        memory: int,
        clock: Callable[[], float],
    ) -> None:
        self._ttl = float(ttl)
        self._threshold = threshold
        self._min_tokens = min_tokens
        self._memory = memory
        self._clock = clock
        self._prefixes: OrderedDict[int, _Prefix] = OrderedDict()
        self._families: OrderedDict[int, _Family] = OrderedDict()
        self._bets: deque[_Bet] = deque()
        self._tails = (Rate(), Rate(), Rate())  # over all families, by kind of request
        self._repeats = Rate()
        # Whether an application's second request came within the TTL of its first.
        self._new_families = Rate()
        # Whether later turns came after a request this planner saw (see `seen_share`).
        self._known_parents = Rate()

    def choose(self, request: RequestReading) -> tuple[Location, ...]:
        """The automatic candidates for `request`, in priority order."""
        now = self._clock()
        self._settle_expired(now)
        remembered = self._prefixes.get(request.full_hash)
        if (
            remembered is not None
            and remembered.decision is not None
            and now - remembered.decided <= self._ttl
            and _fits(request, remembered.decision)
        ):
            remembered.decided = now
            return remembered.decision
        view = self._recall(request, now)
        self._pick_tail(view)
        self._pick_seen(view)
        self._pick_root(view)
        self._pick_parent(view)
        decision = tuple(view.picks)
        self._remember(view)
        prefixes = self._prefixes
        memo = prefixes.get(request.full_hash)
        if memo is None:
            memo = prefixes[request.full_hash] = _Prefix(False)
        memo.decision, memo.decided = decision, now
        while len(prefixes) > self._memory:
            prefixes.popitem(last=False)
        return decision

    def observe(self, request: RequestReading, marks: Mapping[Location, int]) -> None:
        """Note what the request's breakpoints leave in the cache: each marked prefix is alive
        for its TTL (read or written), as is the entry its lookback reads when it is not."""
        now = self._clock()
        prefixes = self._prefixes
        infos = request.infos
        for (u, block), ttl in marks.items():
            if block != infos[u].n_blocks - 1:
                continue  # inside a message: not a prefix the memory knows
            record = prefixes.get(request.hashes[u])
            if record is None:
                continue
            if record.alive_until <= now:
                found = self._alive_before(request, u, now)
                if found >= 0:
                    prefixes[request.hashes[found]].alive_until = now + self._ttl
            record.alive_until = now + ttl

    def memory_entries(self) -> int:
        """How many prefixes are remembered (for tests of the bound)."""
        return len(self._prefixes)

    # -- the candidates -----------------------------------------------------------------

    def _recall(self, request: RequestReading, now: float) -> _View:
        """What the memory knows about `request`; counts what it shows about the traffic."""
        view = _View(request, now, *self._family(request.family, now))
        prefixes = self._prefixes
        hashes = request.hashes
        for u in reversed(request.markable):
            record = prefixes.get(hashes[u])
            if record is not None:
                view.seen, view.seen_record = u, record
                break
        # A later turn extends a tail seen before, or holds an assistant turn of its own.
        if (
            view.seen_record is not None and view.seen_record.is_tail
        ) or request.last_assistant > view.seen:
            view.kind = LATER_TURN
        elif view.root >= 0 and request.ends[view.root] >= self._min_tokens:
            view.kind = FRESH_BEHIND_STATIC
        view.parent = parent = _parent(request)
        anchor = view.root if view.root >= 0 else (request.markable[0] if request.markable else -1)
        if 0 <= anchor < parent and hashes[anchor] in prefixes:
            # A later turn of an application this planner knows: whether it saw the request
            # before tells how much of the traffic it sees.
            self._known_parents.count(hashes[parent] in prefixes)
        view.share = seen_share(self._known_parents)
        return view

    def _pick_tail(self, view: _View) -> None:
        """The whole request: read when alive, else written when the conversation likely
        goes on in time."""
        request, tail, now = view.request, view.tail, view.now
        if tail <= view.root:
            return
        location = end_location(request, tail, self._min_tokens)
        if location is None:
            return
        record = view.seen_record
        if view.seen == tail and record is not None and record.alive_until > now:
            view.picks.append(location)
            view.read_to = tail
            return
        rate = self._tail_rate(view.family, view.kind, now, view.share)
        if rate > self._threshold:
            view.picks.append(location)
            view.writes_tail = True
            view.looked_up = view.read_to = self._alive_before(request, tail, now)

    def _pick_seen(self, view: _View) -> None:
        """The longest prefix seen before, beyond the root: marked where the tail's breakpoint
        would not read it by looking back, when it is alive or shared by other requests."""
        record, seen = view.seen_record, view.seen
        if record is None or not view.root < seen < view.tail:
            return
        if record.alive_until > view.now:
            view.read_to = max(view.read_to, seen)
            mark = view.looked_up != seen
        elif record.is_tail:
            # An earlier request of this conversation whose entry is gone: the tail's write
            # covers it, and a write here alone would bet what the tail's rate refused.
            mark = False
        else:
            # A prefix other requests share (a few-shot block): written when they come.
            mark = view.writes_tail or (
                self._repeat_rate(view.family, view.now, view.share) > self._threshold
            )
            view.seen_written = mark
        location = end_location(view.request, seen, self._min_tokens) if mark else None
        if location is not None:
            view.picks.append(location)

    def _pick_root(self, view: _View) -> None:
        """The end of tools + system prompt, kept alive for every conversation of the
        application (see the module doc)."""
        request, root, now = view.request, view.root, view.now
        location = end_location(request, root, self._min_tokens) if root >= 0 else None
        if location is None:
            return
        record = self._prefixes.get(request.hashes[root])
        if record is not None and record.alive_until > now:
            # A read, or, when the request reads a longer prefix, a refresh that keeps it
            # alive a whole TTL past this request for the other conversations (refreshing only
            # every half TTL lets it expire up to half a TTL sooner: measured, it costs more).
            mark = view.looked_up != root
        elif view.read_to > root or request.infos[root].cuts:
            # A breakpoint here would write nothing; or the system string was cut at its
            # stable start, and its whole is never sent again.
            mark = False
        elif view.writes_tail or view.seen_written:
            mark = True  # written anyway up to a later breakpoint: the entry comes free
        else:
            mark = self._root_rate(view) > self._threshold
        if mark:
            view.picks.append(location)

    def _pick_parent(self, view: _View) -> None:
        """The previous request by structure, when this planner has not seen it (another
        process or its earlier life sent it) and the tail's lookback cannot reach it."""
        parent = view.parent
        if not view.writes_tail or parent <= view.seen:
            return
        if _blocks_between(view.request, parent, view.tail) <= LOOKBACK_SAFE:
            return
        location = end_location(view.request, parent, self._min_tokens)
        if location is not None:
            view.picks.append(location)

    def _alive_before(self, request: RequestReading, u: int, now: float) -> int:
        """The longest prefix before unit `u` alive in the cache within the lookback (-1: none)."""
        infos = request.infos
        hashes = request.hashes
        prefixes = self._prefixes
        blocks = 0
        for v in range(u - 1, -1, -1):
            blocks += infos[v + 1].wire_blocks
            if blocks > LOOKBACK_SAFE:
                return -1
            record = prefixes.get(hashes[v])
            if record is not None and record.alive_until > now:
                return v
        return -1

    # -- learning -----------------------------------------------------------------------

    def _tail_rate(self, family: _Family, kind: int, now: float, share: float) -> float:
        """How often tails of this kind were extended in time, by this process or another:
        the family's own outcomes, shrunk towards the other families', shrunk towards a
        prior."""
        prior = _TAIL_PRIORS[kind]
        own = family.tails[kind]
        others = self._tails[kind].estimate(
            prior, PRIOR_WEIGHT, now, self._ttl, share=share, without=own
        )
        return own.estimate(others, FAMILY_WEIGHT, now, self._ttl, share=share)

    def _repeat_rate(self, family: _Family, now: float, share: float) -> float:
        """How often the family's next request came in time, to this process or another."""
        own = family.repeats
        others = self._repeats.estimate(
            PRIOR_STATIC_PREFIX_REUSED, PRIOR_WEIGHT, now, self._ttl, without=own
        )
        return repeats_in_time(own.estimate(others, FAMILY_WEIGHT, now, self._ttl), share)

    def _root_rate(self, view: _View) -> float:
        """How likely the root written now is read in time: from the family's own requests,
        or, for an application seen for the first time, from other applications' second
        requests (unless this traffic has shown that new static prefixes do not repeat)."""
        if not view.new_family:
            return self._repeat_rate(view.family, view.now, view.share)
        rate = self._new_families.estimate(
            PRIOR_STATIC_PREFIX_REUSED, PRIOR_WEIGHT, view.now, self._ttl
        )
        return repeats_in_time(rate, view.share)

    def _family(self, key: int, now: float) -> tuple[_Family, bool]:
        """The family of a request, and whether it is new; counts whether it came in time."""
        families = self._families
        family = families.get(key)
        if family is None:
            family = families[key] = _Family()
            if len(families) > self._memory:
                families.popitem(last=False)
            family.last_seen = now
            return family, True
        families.move_to_end(key)
        reused = now - family.last_seen <= self._ttl
        family.repeats.count(reused)
        self._repeats.count(reused)
        family.last_seen = now
        return family, False

    def _remember(self, view: _View) -> None:
        """Settle the bets this request decides and remember its new prefixes."""
        request, now = view.request, view.now
        prefixes = self._prefixes
        hashes = request.hashes
        seen_record = view.seen_record
        if seen_record is not None:
            prefixes.move_to_end(hashes[view.seen])
            _won(seen_record)
        root = view.root
        if 0 <= root < view.seen:
            root_record = prefixes.get(hashes[root])
            if root_record is not None:
                prefixes.move_to_end(hashes[root])
                _won(root_record)
        tail = view.tail
        markable = request.markable
        for u in markable[bisect_right(markable, view.seen) :]:
            record = prefixes[hashes[u]] = _Prefix(u == tail)
            rates: tuple[Rate, ...]
            if u == tail:
                rates = (view.family.tails[view.kind], self._tails[view.kind])
            elif u == root and view.new_family:
                rates = (self._new_families,)
            else:
                continue
            record.bet = _Bet(now, rates)
            self._bets.append(record.bet)
        while len(self._bets) > self._memory:
            oldest = self._bets.popleft()
            if oldest.open:
                oldest.forget()

    def _settle_expired(self, now: float) -> None:
        """Bets not won within their TTL are lost."""
        bets = self._bets
        horizon = now - self._ttl
        while bets and bets[0].created <= horizon:
            bet = bets.popleft()
            if bet.open:
                bet.settle(False)


def _won(record: _Prefix) -> None:
    if record.bet is not None and record.bet.open:
        record.bet.settle(True)


def _parent(request: RequestReading) -> int:
    """The unit ending the previous request of the conversation as the structure shows it
    (the messages before the last assistant turn), or -1."""
    last_assistant = request.last_assistant
    if last_assistant <= request.system_end:
        return -1
    for u in reversed(request.markable):
        if u < last_assistant:
            return u if u > request.system_end else -1
    return -1


def _blocks_between(request: RequestReading, start: int, end: int) -> int:
    return sum([info.wire_blocks for info in request.infos[start + 1 : end + 1]])


def _fits(request: RequestReading, decision: tuple[Location, ...]) -> bool:
    """Whether every location of a remembered decision exists in `request`."""
    infos = request.infos
    return all(u < len(infos) and block < infos[u].n_blocks for u, block in decision)


__all__ = [
    "AutomaticPlacement",
    "end_location",
    "forced_breakpoints",
    "rule_targets",
]
