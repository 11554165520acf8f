"""Planners shared per traffic: a new model per request still learns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from langchain_core.messages import HumanMessage, SystemMessage

from optimization.capabilities import ProviderCapabilities
from optimization.config import OptimizationConfig
from optimization.planner_memory import MAX_TRAFFICS, shared_cache_manager

SONNET = ProviderCapabilities.detect("anthropic", "claude-sonnet-4-5")
HAIKU = ProviderCapabilities.detect("anthropic", "claude-haiku-4-5")
CONFIG = OptimizationConfig.from_dict({"optimizationEnabled": True, "cachingEnabled": True})


def test_the_same_traffic_gets_the_same_planner_and_other_traffic_another() -> None:
    planner = shared_cache_manager(SONNET, CONFIG, endpoint="https://api.anthropic.com")
    assert shared_cache_manager(SONNET, CONFIG, endpoint="https://api.anthropic.com") is planner
    assert shared_cache_manager(HAIKU, CONFIG, endpoint="https://api.anthropic.com") is not planner
    assert shared_cache_manager(SONNET, CONFIG, endpoint="http://proxy") is not planner
    hour = OptimizationConfig.from_dict({**CONFIG.to_dict(), "cacheTTL": 3600})
    assert shared_cache_manager(SONNET, hour, endpoint="https://api.anthropic.com") is not planner


def test_the_least_recently_used_traffic_is_forgotten_beyond_the_bound() -> None:
    first = shared_cache_manager(SONNET, CONFIG, endpoint="endpoint-0")
    for number in range(1, MAX_TRAFFICS + 1):
        shared_cache_manager(SONNET, CONFIG, endpoint=f"endpoint-{number}")
    assert shared_cache_manager(SONNET, CONFIG, endpoint="endpoint-0") is not first


def test_threads_share_one_planner_and_plan_side_by_side() -> None:
    system = SystemMessage("Policy clause. " * 2_000)

    def plan(number: int) -> int:
        planner = shared_cache_manager(SONNET, CONFIG, endpoint="threads")
        planned = planner.plan([system, HumanMessage(f"question {number}")])
        return id(planner) if planned.breakpoints >= 1 else 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        planners = set(pool.map(plan, range(200)))
    assert len(planners) == 1
    assert 0 not in planners  # every request marks the long system prompt
