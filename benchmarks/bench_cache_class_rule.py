"""How close to the hindsight bound a rule could come that tells requests apart by class.

The planner's distance to the oracle (`benchmarks.bench_cache_planner`) is mostly writes on a
conversation's last request, or its last before a pause. This asks whether the traffic lets any
rule see those coming: a rule that decides, per class of request (the workload, the kind of
traffic within it, which the planner never sees, the turn number, and whether the request comes
back from a pause), whether writing pays, from the outcomes of the same workloads generated
from other seeds, applied to the planner's writes on the benchmark's own traffic. Its classes
include what the planner cannot know (the kind of traffic) and artefacts of the generators it
should not learn (their longest conversations), so it flatters the rule: a bound on what
telling requests apart this way can gain, not a rule to adopt.

`cache_cost_<workload>_class_rule_vs_hindsight` and `cache_cost_overall_class_rule_vs_hindsight`:
the planner with its writes re-decided by that rule, over the hindsight bound (to first order:
see `benchmarks.cache_cost_model.skipping_balance`).
"""

from __future__ import annotations

from collections.abc import Hashable

from benchmarks.bench_cache_planner import SEED, replay_workload
from benchmarks.cache_cost_model import skipping_balance
from benchmarks.cache_workloads import WORKLOADS

TRAINING_SEEDS = 3


def _classes(name: str, bets: list[tuple[Hashable, int, bool]]) -> list[Hashable]:
    return [(name, key) for key, _, _ in bets]


def main() -> None:
    learnt: dict[Hashable, float] = {}
    for number in range(TRAINING_SEEDS):
        for name in WORKLOADS:
            bets = replay_workload(name, f"{SEED}-training{number}").bets
            written = [tokens for _, tokens, _ in bets]
            followed = [read for _, _, read in bets]
            for key, value in skipping_balance(_classes(name, bets), written, followed).items():
                learnt[key] = learnt.get(key, 0.0) + value
    planner = hindsight = rule = 0.0
    for name in WORKLOADS:
        costs = replay_workload(name, SEED)
        written = [tokens for _, tokens, _ in costs.bets]
        followed = [read for _, _, read in costs.bets]
        balance = skipping_balance(_classes(name, costs.bets), written, followed)
        # The classes where skipping paid on the training traffic skip on this traffic too.
        saved = sum(value for key, value in balance.items() if learnt.get(key, 0.0) > 0)
        print(
            f"BENCH cache_cost_{name}_class_rule_vs_hindsight "
            f"{(costs.planner - saved) / costs.hindsight:.4f} x"
        )
        planner += costs.planner
        hindsight += costs.hindsight
        rule += costs.planner - saved
    print(f"   (overall: planner {planner / hindsight:.4f} x the hindsight bound)")
    print(f"BENCH cache_cost_overall_class_rule_vs_hindsight {rule / hindsight:.4f} x")


if __name__ == "__main__":
    main()


__all__ = ["main"]
