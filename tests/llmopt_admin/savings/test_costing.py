"""Cost arithmetic per event: cost, baseline and the saving split by mechanism."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmopt_admin.savings.costing import quantize, rates_for, units_text
from llmopt_admin.savings.pipeline import event_price
from optimization.pricing import PriceNotFound, TokenUsage, cost_at_price, cost_of, price_for
from optimization.telemetry import UsageEvent

AT = datetime(2026, 1, 15, 10, tzinfo=UTC)


def event(**fields: object) -> UsageEvent:
    values: dict[str, object] = {
        "request_id": "r",
        "timestamp": AT,
        "provider": "anthropic",
        "model": "claude-sonnet-4-5",
        "mode": "cached",
    }
    values.update(fields)
    return UsageEvent(**values)  # type: ignore[arg-type]


def test_a_cache_read_call_costs_reads_at_a_tenth_and_saves_the_difference() -> None:
    # Sonnet 4.5: $3 in, $0.30 cache read, $15 out per million tokens.
    priced = event_price(event(input_tokens=1_000, cache_read_tokens=6_000, output_tokens=500))
    assert priced.costs.cost == Decimal("0.0123")  # 0.003 + 0.0018 + 0.0075
    assert priced.costs.baseline_cost == Decimal("0.0285")  # 7,000 x $3 + 500 x $15
    assert priced.costs.cache_read_saved == Decimal("0.0162")  # 6,000 x ($3 - $0.30)
    assert priced.costs.cache_write_premium == 0
    assert priced.costs.batch_discount == 0
    assert priced.cost_source == "price_table"


def test_a_batched_cache_write_pays_the_premium_and_gets_the_batch_discount() -> None:
    priced = event_price(
        event(mode="batch+cache", input_tokens=200, cache_write_1h_tokens=6_000, output_tokens=100)
    )
    c = priced.costs
    assert c.cost == Decimal("0.01905")  # (200x3 + 6,000x6 + 100x15) / 1e6, halved
    assert c.baseline_cost == Decimal("0.0201")  # 6,200 x $3 + 100 x $15
    assert c.cache_write_premium == Decimal("0.018")  # 6,000 x ($6 - $3)
    assert c.batch_discount == Decimal("0.01905")
    assert c.baseline_cost - c.cost == c.cache_read_saved - c.cache_write_premium + c.batch_discount


def test_an_old_event_keeps_the_price_valid_at_its_time() -> None:
    # o3 cost $10/$40 until its June 2025 cut to $2/$8.
    before = event_price(
        event(
            model="o3",
            mode="standard",
            input_tokens=1_000_000,
            timestamp=datetime(2025, 5, 1, tzinfo=UTC),
        )
    )
    after = event_price(
        event(
            model="o3",
            mode="standard",
            input_tokens=1_000_000,
            timestamp=datetime(2025, 7, 1, tzinfo=UTC),
        )
    )
    assert before.costs.cost == Decimal(10)
    assert after.costs.cost == Decimal(2)


def test_a_reported_cost_that_disagrees_with_the_price_table_is_kept_beside_it() -> None:
    priced = event_price(event(input_tokens=1_000, cost=Decimal("0.5")), cost_given=True)
    assert priced.costs.cost == Decimal("0.003")
    assert priced.reported_cost == Decimal("0.5")
    agreeing = event_price(event(input_tokens=1_000, cost=Decimal("0.003")), cost_given=True)
    assert agreeing.reported_cost is None


def test_an_unpriced_model_keeps_the_reported_cost_or_is_refused_without_one() -> None:
    unknown = event(model="llama-9-local", cost=Decimal("0.2"), baseline_cost=Decimal("0.3"))
    priced = event_price(unknown, cost_given=True)
    assert priced.cost_source == "reported"
    assert (priced.costs.cost, priced.costs.baseline_cost) == (Decimal("0.2"), Decimal("0.3"))
    with pytest.raises(PriceNotFound):
        event_price(unknown, cost_given=False)


tokens = st.integers(min_value=0, max_value=5_000_000)


@given(
    usage=st.builds(TokenUsage, tokens, tokens, tokens, tokens, tokens),
    model=st.sampled_from(
        [
            "claude-sonnet-4-5",
            "claude-3-haiku",
            "claude-haiku-5-5",
            "gpt-4.1",
            "o3",
            "gemini-2.5-pro",
        ]
    ),
    mode=st.sampled_from(["standard", "cached", "batch", "batch+cache", "fallback"]),
    day=st.dates(min_value=datetime(2025, 1, 1).date(), max_value=datetime(2026, 11, 1).date()),
)
def test_every_figure_is_exactly_what_cost_of_gives_for_the_same_tokens(
    usage: TokenUsage, model: str, mode: str, day: object
) -> None:
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC)  # type: ignore[call-overload]
    batch = mode.startswith("batch")
    costs = event_price(event(model=model, mode=mode, timestamp=at, **vars(usage))).costs
    charged = cost_of(usage, model, batch=batch, at=at)
    standard = cost_of(usage, model, at=at)
    # The split is priced at the tier of the whole call (prompt-length pricing).
    tier = price_for(model, at=at).for_prompt(usage.total_input)
    reads = cost_at_price(TokenUsage(cache_read_tokens=usage.cache_read_tokens), tier)
    writes = cost_at_price(
        TokenUsage(
            cache_write_5m_tokens=usage.cache_write_5m_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
        ),
        tier,
    )
    assert costs.cost == quantize(charged.cost)
    assert costs.baseline_cost == quantize(charged.baseline)
    assert costs.cache_read_saved == quantize(reads.baseline - reads.cost)
    assert costs.cache_write_premium == quantize(writes.cost - writes.baseline)
    assert costs.batch_discount == quantize(standard.cost - charged.cost)


@given(
    usage=st.builds(TokenUsage, tokens, tokens, tokens, tokens, tokens),
    model=st.sampled_from(
        ["claude-sonnet-4-5", "claude-3-haiku", "claude-haiku-5-5", "gpt-4.1", "gemini-2.5-pro"]
    ),
    batch=st.booleans(),
)
def test_whole_ledger_unit_figures_equal_the_decimal_ones(
    usage: TokenUsage, model: str, batch: bool
) -> None:
    tokens = tuple(vars(usage).values())
    rates = rates_for(model, AT).for_prompt(tokens)  # type: ignore[arg-type]
    units = rates.price_units(tokens, batch=batch)  # type: ignore[arg-type]
    costs = rates.price(tokens, batch=batch)  # type: ignore[arg-type]
    assert units is not None  # list prices have at most 4 decimals per million tokens
    expected = (
        costs.cost,
        costs.baseline_cost,
        costs.cache_read_saved,
        costs.cache_write_premium,
        costs.batch_discount,
    )
    assert tuple(Decimal(units_text(value)) for value in units) == expected


def test_a_haiku_5_5_call_over_100k_prompt_tokens_pays_the_long_tier_on_every_token() -> None:
    late = datetime(2026, 11, 20, tzinfo=UTC)
    short = event_price(
        event(model="claude-haiku-5-5", timestamp=late, input_tokens=100_000, output_tokens=1_000)
    )
    long = event_price(
        event(
            model="claude-haiku-5-5",
            timestamp=late,
            input_tokens=1,
            cache_read_tokens=100_000,
            output_tokens=1_000,
        )
    )
    assert short.costs.cost == Decimal("0.0105")  # 100,000 x $0.10 + 1,000 x $0.50
    # 1 x $0.50 + 100,000 x $0.05 + 1,000 x $2.50, against 100,001 x $0.50 + 1,000 x $2.50
    assert long.costs.cost == Decimal("0.0075005")
    assert long.costs.baseline_cost == Decimal("0.0525005")
    assert long.costs.cache_read_saved == Decimal("0.045")


def test_ledger_units_print_as_usd_with_ten_places() -> None:
    assert units_text(12_345) == "0.0000012345"
    assert units_text(30_000_000_000) == "3.0000000000"
    assert units_text(0) == "0"
    assert units_text(-5) == "-0.0000000005"
