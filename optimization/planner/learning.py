"""How often writes of one kind were read in time, learnt from the traffic the planner sees.

A write pays when a later request reads it within the TTL. The planner bets on two kinds of
write: a request's tail (read if the conversation goes on in time) and a static prefix (tools
+ system prompt, read if another request of the same application comes in time). Each bet is
priced by a `Rate`: outcomes counted per family (tools + system prompt), shrunk towards the
same rate over all families, itself shrunk towards a prior, so that a few outcomes of one
family, or a burst of one kind of traffic, never decide for all of it.
"""

from __future__ import annotations

from optimization.planner.constants import MIN_SHARE, RATE_HORIZON, SHARE_PRIOR_WEIGHT


class Rate:
    """Reuse outcomes of one kind: settled ones, plus bets still waiting for theirs.

    A bet still waiting counts as a partial miss in proportion to how much of its TTL has
    passed, so a burst of writes that go unread lowers the rate before they expire.
    """

    __slots__ = ("created_sum", "pending", "reused", "seen")

    def __init__(self) -> None:
        self.reused = 0.0
        self.seen = 0.0
        self.pending = 0
        self.created_sum = 0.0

    def estimate(
        self,
        prior: float,
        weight: float,
        now: float,
        ttl: float,
        *,
        share: float = 1.0,
        without: Rate | None = None,
    ) -> float:
        """The reuse rate, with `weight` outcomes' worth of `prior`.

        `share`: the part of the reuses this planner can see (see `seen_share`). A miss seen
        here may be a reuse that went to another process, so misses count for `share` of one:
        a process seeing a quarter of the turns needs four times the misses to stop betting.
        `without`: outcomes to leave out (a family's own, when this rate is the prior for it:
        counted in both, they would decide twice).
        """
        reused, seen = self.reused, self.seen
        pending, created_sum = self.pending, self.created_sum
        if without is not None:
            reused = max(0.0, reused - without.reused)
            seen = max(0.0, seen - without.seen)
            pending -= without.pending
            created_sum -= without.created_sum
        exposure = (pending * now - created_sum) / ttl
        rate = (reused + weight * prior) / (share * (seen + exposure) + weight)
        return min(1.0, rate)

    def open(self, created: float) -> None:
        """A bet made at `created` now waits for its outcome."""
        self.pending += 1
        self.created_sum += created

    def settle(self, reused: bool, created: float) -> None:
        """The outcome of a bet opened at `created`."""
        self.forget(created)
        self.count(reused)

    def forget(self, created: float) -> None:
        """A bet opened at `created` no longer waits, and has no outcome."""
        self.pending -= 1
        self.created_sum -= created

    def count(self, reused: bool) -> None:
        """An outcome known at once (no bet was waiting for it)."""
        self.seen += 1.0
        if reused:
            self.reused += 1.0
        if self.seen > RATE_HORIZON:
            self.seen /= 2.0
            self.reused /= 2.0


def seen_share(known: Rate) -> float:
    """The share of a conversation's turns this planner sees, from later turns whose previous
    request it saw (`known`): 1 for one process or sticky routing, about 1/N for N processes
    taking requests in turn, low for a while after a restart."""
    return max(MIN_SHARE, known.estimate(1.0, SHARE_PRIOR_WEIGHT, 0.0, 1.0))


def repeats_in_time(rate: float, share: float) -> float:
    """The chance that some process sends the next request in time, when this one, seeing a
    `share` of the traffic, gets one in time at `rate` (arrivals as a Poisson process)."""
    return 1.0 - float((1.0 - rate) ** (1.0 / share))


__all__ = ["Rate", "repeats_in_time", "seen_share"]
