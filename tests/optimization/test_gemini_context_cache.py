"""explicit_cache_case weighs an explicit Gemini cache entry; the calls work on the simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from optimization.gemini_context_cache import (
    create_context_cache,
    delete_context_cache,
    explicit_cache_case,
    refresh_context_cache,
)
from optimization.simulator import Clock
from tests.optimization.simulators import FAST, MakeSimulator
from tests.optimization.test_gemini_batch_client import LONG_SYSTEM, chat

# gemini-2.5-flash in the price table, per million tokens: input $0.30, cached read $0.03,
# storage $1.00 an hour.
FLASH = "gemini-2.5-flash"


def test_a_busy_prefix_pays_for_its_storage() -> None:
    # 100k tokens read 10 times an hour: saves 10 x 0.1 x 0.27 = $0.27, stores for $0.10.
    case = explicit_cache_case(FLASH, reuses_per_hour=10, prefix_tokens=100_000, hours_in_use=8)
    assert case.saving_per_hour == Decimal("0.27")
    assert case.storage_per_hour == Decimal("0.1")
    assert case.creation_per_hour == Decimal("0.00375")
    assert case.net_per_hour == Decimal("0.16625")
    assert case.pays


def test_a_prefix_read_three_times_an_hour_does_not_pay_on_flash() -> None:
    # Saving 3 x 0.27 = $0.81 per million tokens an hour, storage alone $1.00.
    case = explicit_cache_case(FLASH, reuses_per_hour=3, prefix_tokens=50_000, hours_in_use=24)
    assert case.net_per_hour < 0
    assert not case.pays


def test_what_implicit_caching_already_saves_is_not_counted() -> None:
    busy: dict[str, Any] = {"reuses_per_hour": 10, "prefix_tokens": 100_000, "hours_in_use": 8}
    assert explicit_cache_case(FLASH, **busy).pays
    mostly_hit = explicit_cache_case(FLASH, **busy, implicit_hit_rate=0.8)
    assert mostly_hit.saving_per_hour == Decimal("0.054")
    assert not mostly_hit.pays


def test_a_short_lived_prefix_does_not_repay_its_creation() -> None:
    figures: dict[str, Any] = {"reuses_per_hour": 5, "prefix_tokens": 100_000}
    assert explicit_cache_case(FLASH, **figures, hours_in_use=10).pays
    assert not explicit_cache_case(FLASH, **figures, hours_in_use=0.25).pays


def test_a_prefix_below_the_minimum_never_pays() -> None:
    case = explicit_cache_case(FLASH, reuses_per_hour=1000, prefix_tokens=1000)
    assert case.net_per_hour > 0
    assert not case.pays  # gemini-2.5-flash caches from 2,048 tokens


def test_a_pro_model_stores_at_its_own_price() -> None:
    pro = explicit_cache_case("gemini-2.5-pro", reuses_per_hour=10, prefix_tokens=100_000)
    assert pro.storage_per_hour == Decimal("0.45")


@pytest.mark.parametrize(
    "bad",
    [{"reuses_per_hour": -1}, {"implicit_hit_rate": 1.5}, {"hours_in_use": 0}],
)
def test_impossible_figures_are_refused(bad: dict[str, float]) -> None:
    figures: dict[str, Any] = {"reuses_per_hour": 1.0, "prefix_tokens": 10, **bad}
    with pytest.raises(ValueError, match="must be"):
        explicit_cache_case(FLASH, **figures)


async def test_an_entry_is_created_read_refreshed_and_deleted(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(FAST, clock=Clock(speed=0))
    model = chat(simulator.url)
    entry = await create_context_cache(
        model, [SystemMessage(LONG_SYSTEM)], ttl_seconds=600, display_name="handbook"
    )
    assert entry.name
    assert entry.usage_metadata is not None
    stored = entry.usage_metadata.total_token_count
    reply = await model.ainvoke([HumanMessage("What is clause 3?")], cached_content=entry.name)
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_token_details"]["cache_read"] == stored
    simulator.clock.advance(500)
    refreshed = await refresh_context_cache(model, entry.name, ttl_seconds=600)
    assert refreshed.expire_time is not None
    assert entry.expire_time is not None
    assert (refreshed.expire_time - entry.expire_time).total_seconds() == 500
    await delete_context_cache(model, entry.name)
    assert simulator.state.gemini.cached_contents.list(now=simulator.clock.now()) == []
