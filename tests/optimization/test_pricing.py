from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimization.exceptions import OptimizationError
from optimization.price_table import CLAUDE_CHECKED_ON
from optimization.pricing import (
    CallCost,
    ModelPrice,
    NoStoragePrice,
    PriceFileError,
    PriceNotFound,
    TokenUsage,
    cache_storage_cost,
    canonical_model,
    cost_of,
    explicit_cache_saving,
    known_models,
    monthly_cost,
    price_for,
    register_price,
    reload_prices,
)

SONNET = "claude-sonnet-4-5-20250929"


@pytest.fixture(autouse=True)
def fresh_prices(monkeypatch):
    monkeypatch.delenv("LLMOPT_PRICES_FILE", raising=False)
    reload_prices()
    yield
    monkeypatch.delenv("LLMOPT_PRICES_FILE", raising=False)
    reload_prices()


def appendix_d(**kwargs):
    return monthly_cost(
        requests=1_000_000, input_tokens=2000, output_tokens=500, model=SONNET, **kwargs
    )


# --- Appendix D of the Phase 1 plan ---------------------------------------------------------


def test_appendix_d_baseline_is_13500():
    plan = appendix_d()
    assert plan.total == Decimal("13500")
    assert plan.baseline == Decimal("13500")
    assert plan.uncached_input == Decimal("6000")
    assert plan.output == Decimal("7500")
    assert plan.saved == 0


def test_appendix_d_batch_is_6750():
    plan = appendix_d(batch=True)
    assert plan.total == Decimal("6750")
    assert plan.saved_fraction == Decimal("0.5")


def test_appendix_d_caching_at_90_percent_is_8640_as_the_plan_counts_it():
    plan = appendix_d(cache_hit_rate=Decimal("0.9"), count_write_premium=False)
    assert plan.cache_reads == Decimal("540")
    assert plan.uncached_input == Decimal("600")
    assert plan.cache_writes == 0
    assert plan.total == Decimal("8640")


def test_appendix_d_combined_is_4320_as_the_plan_counts_it():
    plan = appendix_d(cache_hit_rate=Decimal("0.9"), batch=True, count_write_premium=False)
    assert plan.total == Decimal("4320")
    assert plan.saved == Decimal("9180")


def test_appendix_d_caching_is_8790_once_the_write_premium_is_counted():
    plan = appendix_d(cache_hit_rate=Decimal("0.9"))
    assert plan.cache_writes == Decimal("750")
    assert plan.uncached_input == 0
    assert plan.total == Decimal("8790")


def test_appendix_d_combined_is_4395_once_the_write_premium_is_counted():
    plan = appendix_d(cache_hit_rate="0.9", batch=True)
    assert plan.total == Decimal("4395")


def test_a_one_hour_ttl_writes_at_twice_the_input_price():
    plan = appendix_d(cache_hit_rate=Decimal("0.9"), cache_ttl=3600)
    assert plan.cache_writes == Decimal("1200")


def test_monthly_cost_takes_a_float_hit_rate_by_its_decimal_spelling():
    assert appendix_d(cache_hit_rate=0.9).total == Decimal("8790")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cache_hit_rate": Decimal("1.5")}, "cache_hit_rate must be between 0 and 1"),
        ({"cache_hit_rate": -1}, "cache_hit_rate must be between 0 and 1"),
        ({"cache_ttl": 600}, "cache_ttl must be 300 or 3600"),
    ],
)
def test_monthly_cost_rejects_impossible_assumptions(kwargs, message):
    with pytest.raises(ValueError, match=message):
        appendix_d(**kwargs)


@pytest.mark.parametrize("field", ["requests", "input_tokens", "output_tokens"])
@pytest.mark.parametrize("value", [-1, 2.5, True])
def test_monthly_cost_rejects_counts_that_are_not_whole_numbers(field, value):
    arguments = {"requests": 10, "input_tokens": 10, "output_tokens": 10, field: value}
    with pytest.raises(ValueError, match=f"{field} must be a whole number"):
        monthly_cost(model=SONNET, **arguments)


def test_monthly_cost_records_its_assumptions():
    plan = appendix_d(cache_hit_rate=Decimal("0.9"))
    assert plan.assumptions["cache_hit_rate"] == Decimal("0.9")
    assert plan.assumptions["price_effective_from"] == date(2025, 9, 29)
    assert plan.requests == 1_000_000


def test_saved_fraction_of_nothing_is_zero():
    plan = monthly_cost(requests=0, input_tokens=10, output_tokens=10, model=SONNET)
    assert plan.saved_fraction == 0


# --- one call --------------------------------------------------------------------------------


def test_cost_of_prices_every_kind_of_token_exactly():
    usage = TokenUsage(
        input_tokens=1000,
        cache_write_5m_tokens=2000,
        cache_write_1h_tokens=3000,
        cache_read_tokens=4000,
        output_tokens=500,
    )
    call = cost_of(usage, SONNET)
    # 1000*3 + 2000*3.75 + 3000*6 + 4000*0.30 + 500*15 = 37200 millionths of a dollar.
    assert call.cost == Decimal("0.0372")
    # 10000 input tokens at $3 and 500 output at $15.
    assert call.baseline == Decimal("0.0375")
    assert call.saved == Decimal("0.0003")
    assert usage.total_input == 10000


def test_batch_halves_every_kind_of_token_but_not_the_baseline():
    usage = TokenUsage(input_tokens=100, cache_read_tokens=900, output_tokens=50)
    plain = cost_of(usage, SONNET)
    batched = cost_of(usage, SONNET, batch=True)
    assert batched.cost * 2 == plain.cost
    assert batched.baseline == plain.baseline


def test_a_write_that_is_never_read_costs_more_than_no_caching():
    call = cost_of(TokenUsage(cache_write_5m_tokens=10_000, output_tokens=10), SONNET)
    assert call.saved < 0


def test_claude_3_haiku_uses_the_table_not_a_multiplier():
    price = price_for("claude-3-haiku-20240307")
    assert price.cache_write_5m == Decimal("0.30")
    assert price.cache_read == Decimal("0.03")


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_token_usage_rejects_impossible_counts(bad):
    with pytest.raises(ValueError, match="input_tokens must be a whole number of tokens"):
        TokenUsage(input_tokens=bad)


@settings(max_examples=200, deadline=None)
@given(
    counts=st.tuples(*[st.integers(min_value=0, max_value=10**12)] * 5),
    model=st.sampled_from(["claude-haiku-4-5", "claude-opus-4-1", "gpt-4o-mini", "gemini-2.5-pro"]),
    batch=st.booleans(),
)
def test_cost_arithmetic_is_exact(counts, model, batch):
    usage = TokenUsage(*counts)
    price = price_for(model).for_prompt(usage.total_input)
    call = cost_of(usage, model, batch=batch)
    # The batch discount of each kind: cache reads have their own (1 on Gemini, where cached
    # tokens keep their price in a batch; the same 0.5 elsewhere).
    m = price.batch_multiplier if batch else 1
    read_m = price.cache_read_batch_multiplier if batch else 1
    kinds = (
        price.input * m,
        price.cache_write_5m * m,
        price.cache_write_1h * m,
        price.cache_read * read_m,
        price.output * m,
    )
    micro = sum((count * kind for count, kind in zip(counts, kinds, strict=True)), Decimal(0))
    assert call.cost == micro / 1_000_000
    # Exact means no rounding happened: scaling back gives whole micro-dollars of the products.
    assert call.cost * 1_000_000 == micro
    assert call.baseline >= 0


# --- the table -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "input_price", "output_price", "write_5m", "write_1h", "read"),
    [
        ("claude-opus-4-5-20251101", "5", "25", "6.25", "10", "0.50"),
        ("claude-opus-4-1-20250805", "15", "75", "18.75", "30", "1.50"),
        ("claude-opus-4-20250514", "15", "75", "18.75", "30", "1.50"),
        ("claude-sonnet-4-5", "3", "15", "3.75", "6", "0.30"),
        ("claude-sonnet-4-0", "3", "15", "3.75", "6", "0.30"),
        ("claude-3-7-sonnet-latest", "3", "15", "3.75", "6", "0.30"),
        ("claude-haiku-4-5-20251001", "1", "5", "1.25", "2", "0.10"),
        ("claude-3-5-haiku-20241022", "0.80", "4", "1", "1.6", "0.08"),
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "1", "5", "1.25", "2", "0.10"),
        ("claude-sonnet-4-5@20250929", "3", "15", "3.75", "6", "0.30"),
        ("anthropic/claude-sonnet-4.5", "3", "15", "3.75", "6", "0.30"),
    ],
)
def test_claude_prices_match_anthropics_table(
    model, input_price, output_price, write_5m, write_1h, read
):
    price = price_for(model)
    assert price.input == Decimal(input_price)
    assert price.output == Decimal(output_price)
    assert price.cache_write_5m == Decimal(write_5m)
    assert price.cache_write_1h == Decimal(write_1h)
    assert price.cache_read == Decimal(read)
    assert price.batch_multiplier == Decimal("0.5")
    assert price.checked_on == CLAUDE_CHECKED_ON


# Cache hits below the usual 0.1x of input, as Anthropic's pricing page lists them.
CHEAP_READS = {
    "claude-opus-5-5": Decimal("0.05"),
    "claude-sonnet-5-5": Decimal("0.05"),  # since the 2026-10-07 cut
    "claude-fable-5-1": Decimal("0.025"),
    "claude-mythos-5-1": Decimal("0.025"),
}


def test_claude_write_and_read_multipliers_hold_for_every_current_model():
    checked = set()
    for model in known_models():
        if not model.startswith("claude-") or model == "claude-3-haiku":
            continue
        price = price_for(model, at=datetime(2026, 11, 25, tzinfo=UTC))
        assert price.cache_write_5m == price.input * Decimal("1.25"), model
        assert price.cache_write_1h == price.input * 2, model
        assert price.cache_read == price.input * CHEAP_READS.get(model, Decimal("0.1")), model
        checked.add(model)
    assert set(CHEAP_READS) <= checked


LATE_2026 = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.mark.parametrize(
    ("model", "input_price", "output_price", "write_5m", "write_1h", "read"),
    [
        ("claude-sonnet-5-5", "2", "10", "2.50", "4", "0.10"),
        ("claude-sonnet-5", "2", "10", "2.50", "4", "0.20"),
        ("claude-opus-5-5", "4", "20", "5", "8", "0.20"),
        ("claude-opus-5", "5", "25", "6.25", "10", "0.50"),
        ("claude-opus-4-8", "5", "25", "6.25", "10", "0.50"),
        ("claude-opus-4-7", "5", "25", "6.25", "10", "0.50"),
        ("claude-fable-5-1", "10", "50", "12.50", "20", "0.25"),
        ("claude-mythos-5-1", "10", "50", "12.50", "20", "0.25"),
        ("claude-fable-5", "10", "50", "12.50", "20", "1"),
        ("claude-mythos-5", "10", "50", "12.50", "20", "1"),
        ("claude-haiku-5-5", "0.10", "0.50", "0.125", "0.20", "0.01"),
    ],
)
def test_current_claude_prices_match_the_model_pages(
    model, input_price, output_price, write_5m, write_1h, read
):
    price = price_for(model, at=LATE_2026)
    assert (price.input, price.output) == (Decimal(input_price), Decimal(output_price))
    assert (price.cache_write_5m, price.cache_write_1h) == (Decimal(write_5m), Decimal(write_1h))
    assert price.cache_read == Decimal(read)
    assert price.batch_multiplier == Decimal("0.5")


@pytest.mark.parametrize(
    "spelling",
    [
        "claude-sonnet-5-5",
        "anthropic.claude-sonnet-5-5",
        "us.anthropic.claude-sonnet-5-5-20260928-v1:0",
        "claude-sonnet-5-5@20260928",
        "anthropic/claude-sonnet-5.5",
        "Claude-Sonnet-5-5",
    ],
)
def test_every_platform_spelling_of_sonnet_5_5_resolves_to_one_price(spelling):
    assert canonical_model(spelling) == "claude-sonnet-5-5"
    assert price_for(spelling, at=LATE_2026) == price_for("claude-sonnet-5-5", at=LATE_2026)


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("anthropic.claude-haiku-5-5", "claude-haiku-5-5"),
        ("claude-opus-5-5@20260922", "claude-opus-5-5"),
        ("anthropic/claude-opus-5.5", "claude-opus-5-5"),
        ("global.anthropic.claude-opus-5", "claude-opus-5"),
        ("anthropic/claude-fable-5.1", "claude-fable-5-1"),
        ("anthropic.claude-mythos-5-1", "claude-mythos-5-1"),
        ("claude-opus-4-8@20260501", "claude-opus-4-8"),
        ("anthropic.claude-mythos-preview", "claude-mythos-preview"),
        ("openai/gpt-6.2-sol", "gpt-6.2-sol"),
    ],
)
def test_new_families_resolve_from_every_platform_spelling(spelling, canonical):
    assert canonical_model(spelling) == canonical


def test_sonnet_5_5_cache_reads_keep_their_launch_price_before_the_cut():
    usage = TokenUsage(cache_read_tokens=1_000_000)
    assert cost_of(usage, "claude-sonnet-5-5", at=datetime(2026, 10, 6, tzinfo=UTC)).cost == (
        Decimal("0.20")
    )
    assert cost_of(usage, "claude-sonnet-5-5", at=datetime(2026, 10, 7, tzinfo=UTC)).cost == (
        Decimal("0.10")
    )


def test_sonnet_5_5_prices_writes_reads_and_batch_exactly():
    usage = TokenUsage(
        input_tokens=1_234,
        cache_write_5m_tokens=2_800,
        cache_write_1h_tokens=500,
        cache_read_tokens=56_000,
        output_tokens=789,
    )
    call = cost_of(usage, "anthropic.claude-sonnet-5-5", at=LATE_2026)
    # 1234*2 + 2800*2.50 + 500*4 + 56000*0.10 + 789*10 = 24,958 micro-dollars per token-price
    assert call.cost == Decimal("0.024958")
    assert call.baseline == Decimal("0.128958")  # 60,534 input at $2 + 789 output at $10
    batched = cost_of(usage, "claude-sonnet-5-5", batch=True, at=LATE_2026)
    assert batched.cost == Decimal("0.012479")
    assert batched.baseline == call.baseline


def test_fable_5_1_reads_at_a_fortieth_of_input_and_stacks_with_batch():
    usage = TokenUsage(cache_write_1h_tokens=100_000, cache_read_tokens=1_000_000)
    call = cost_of(usage, "claude-fable-5-1", batch=True, at=LATE_2026)
    # (100,000 * $20 + 1,000,000 * $0.25) / 1M = $2.25, halved by the batch discount.
    assert call.cost == Decimal("1.125")
    assert call.baseline == Decimal("11")


def test_haiku_5_5_holds_both_prompt_length_tiers():
    price = price_for("claude-haiku-5-5", at=LATE_2026)
    assert price.for_prompt(100_000) is price
    long = price.for_prompt(100_001)
    assert (long.input, long.output, long.cache_read) == (
        Decimal("0.50"),
        Decimal("2.50"),
        Decimal("0.05"),
    )
    assert (long.cache_write_5m, long.cache_write_1h) == (Decimal("0.625"), Decimal("1"))
    assert long.for_prompt(10**9) is long  # the long tier has no further tier


def test_haiku_5_5_calls_pay_the_tier_their_prompt_falls_in():
    usage = TokenUsage(input_tokens=2_000, cache_write_5m_tokens=3_000, output_tokens=400)
    call = cost_of(usage, "claude-haiku-5-5", at=LATE_2026)
    # 2000*0.10 + 3000*0.125 + 400*0.50 = 775 millionths of a dollar
    assert call.cost == Decimal("0.000775")
    # 100,001 prompt tokens (input + writes + reads): every token, output too, at the long tier
    usage = TokenUsage(
        input_tokens=1, cache_write_5m_tokens=40_000, cache_read_tokens=60_000, output_tokens=400
    )
    call = cost_of(usage, "claude-haiku-5-5", batch=True, at=LATE_2026)
    # (1*0.50 + 40,000*0.625 + 60,000*0.05 + 400*2.50) / 1M, halved by the batch discount
    assert call.cost == Decimal("0.01450025")
    assert call.baseline == Decimal("0.0510005")  # 100,001 * 0.50 + 400 * 2.50


def test_monthly_cost_prices_long_haiku_5_5_prompts_at_the_long_tier():
    short = monthly_cost(
        requests=1_000,
        input_tokens=100_000,
        output_tokens=0,
        model="claude-haiku-5-5",
        at=LATE_2026,
    )
    long = monthly_cost(
        requests=1_000,
        input_tokens=100_001,
        output_tokens=0,
        model="claude-haiku-5-5",
        at=LATE_2026,
    )
    assert short.total == Decimal("10")  # 100M tokens at $0.10
    assert long.total == Decimal("50.0005")  # 100.001M tokens at $0.50
    assert (short.assumptions["long_context_tier"], long.assumptions["long_context_tier"]) == (
        False,
        True,
    )


def test_gpt_6_2_sol_charges_its_cache_writes():
    price = price_for("gpt-6.2-sol")
    assert (price.input, price.cache_read, price.output) == (
        Decimal("2"),
        Decimal("0.10"),
        Decimal("10"),
    )
    assert price.cache_write_5m == price.cache_write_1h == Decimal("2.50")


def test_models_without_an_official_price_are_left_out():
    for model in ("claude-fable-5-2", "claude-mythos-5-2", "claude-mythos-preview"):
        with pytest.raises(PriceNotFound):
            price_for(model)


@pytest.mark.parametrize(
    ("model", "input_price", "cached", "output_price"),
    [
        ("gpt-4o-2024-08-06", "2.50", "1.25", "10"),
        ("gpt-4o-mini", "0.15", "0.075", "0.60"),
        ("openai/gpt-4.1", "2", "0.50", "8"),
        ("gpt-5-mini-2025-08-07", "0.25", "0.025", "2"),
        ("models/gemini-2.5-flash", "0.30", "0.03", "2.50"),
        ("gemini-2.5-pro", "1.25", "0.125", "10"),
    ],
)
def test_automatic_caching_models_have_no_write_premium(model, input_price, cached, output_price):
    price = price_for(model)
    assert price.input == Decimal(input_price)
    assert price.cache_read == Decimal(cached)
    assert price.output == Decimal(output_price)
    assert price.cache_write_5m == price.input
    assert price.cache_write_1h == price.input


def test_an_old_event_keeps_its_old_price():
    before_cut = datetime(2025, 5, 1, tzinfo=UTC)
    assert price_for("o3", at=before_cut).input == Decimal("10")
    assert price_for("o3").input == Decimal("2")
    assert price_for("o3", at=datetime(2025, 6, 10)).input == Decimal("2")
    old = cost_of(TokenUsage(input_tokens=1_000_000), "o3-2025-04-16", at=before_cut)
    assert old.cost == Decimal("10")


def test_an_event_before_the_first_listed_price_uses_the_earliest():
    assert price_for("o3", at=datetime(2020, 1, 1)).input == Decimal("10")


def test_unknown_models_raise_price_not_found():
    with pytest.raises(PriceNotFound) as caught:
        price_for("llama3:8b")
    assert isinstance(caught.value, OptimizationError)
    assert caught.value.model == "llama3:8b"
    assert "register_price" in str(caught.value)


@pytest.mark.parametrize(
    ("model", "canonical"),
    [
        ("claude-opus-4-0", "claude-opus-4"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("google/gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        (" GPT-4o ", "gpt-4o"),
    ],
)
def test_model_ids_resolve_to_their_family(model, canonical):
    assert canonical_model(model) == canonical


# --- overrides ---------------------------------------------------------------------------


def test_register_price_adds_a_dated_version():
    register_price(
        "claude-sonnet-4-5",
        ModelPrice.claude("claude-sonnet-4-5", date(2027, 1, 1), "2", "10", "2.5", "4", "0.2"),
    )
    assert price_for(SONNET).input == Decimal("3")
    assert price_for(SONNET, at=datetime(2027, 2, 1)).input == Decimal("2")
    reload_prices()
    assert price_for(SONNET, at=datetime(2027, 2, 1)).input == Decimal("3")


def test_register_price_teaches_a_new_model():
    register_price(
        "my-fine-tune",
        ModelPrice.automatic("my-fine-tune", date(2026, 1, 1), "1", "0.1", "2"),
    )
    assert cost_of(TokenUsage(output_tokens=1_000_000), "my-fine-tune").cost == Decimal("2")


def write_prices(tmp_path, document):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_the_prices_file_overrides_and_extends_the_table(tmp_path, monkeypatch):
    path = write_prices(
        tmp_path,
        {
            "models": {
                "claude-sonnet-4-5": [
                    {
                        "effective_from": "2026-12-01",
                        "input": "2.5",
                        "output": 12,
                        "cache_write_5m": "3.125",
                        "cache_write_1h": "5",
                        "cache_read": "0.25",
                        "checked_on": "2026-11-30",
                    }
                ],
                "acme-large": {
                    "effective_from": "2026-01-01",
                    "input": "1",
                    "output": "4",
                    "cached_input": "0.5",
                    "batch_multiplier": "0.6",
                    "long_context": {"above_tokens": 200_000, "input": "2", "output": "8"},
                },
            }
        },
    )
    monkeypatch.setenv("LLMOPT_PRICES_FILE", str(path))
    december = datetime(2026, 12, 2)
    assert price_for(SONNET, at=december).output == Decimal("12")
    assert price_for(SONNET, at=december).checked_on == date(2026, 11, 30)
    assert price_for(SONNET, at=datetime(2026, 11, 1)).output == Decimal("15")
    acme = price_for("acme-large")
    assert acme.cache_read == Decimal("0.5")
    assert acme.cache_write_5m == Decimal("1")
    assert acme.batch_multiplier == Decimal("0.6")
    assert "acme-large" in known_models()
    long = cost_of(TokenUsage(input_tokens=200_001, output_tokens=1_000), "acme-large")
    assert long.cost == Decimal("0.408002")  # 200,001 x $2 + 1,000 x $8


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"prices": {}}, 'needs a top-level "models" object'),
        ({"models": {"m": [{"input": "1", "output": "1"}]}}, "lacks 'effective_from'"),
        (
            {"models": {"m": [{"effective_from": "soon", "input": "1", "output": "1"}]}},
            "effective_from must be a date",
        ),
        (
            {"models": {"m": [{"effective_from": "2026-01-01", "input": "x", "output": "1"}]}},
            ".input must be a number",
        ),
        (
            {"models": {"m": [{"effective_from": "2026-01-01", "input": -1, "output": "1"}]}},
            ".input must be a finite number >= 0",
        ),
        (
            {"models": {"m": [{"effective_from": "2026-01-01", "input": [1], "output": "1"}]}},
            ".input must be a number or a decimal string",
        ),
        ({"models": {"m": ["cheap"]}}, "must be an object"),
        (
            {
                "models": {
                    "m": [
                        {
                            "effective_from": "2026-01-01",
                            "input": "1",
                            "output": "1",
                            "long_context": {"input": "2", "output": "2"},
                        }
                    ]
                }
            },
            ".long_context.above_tokens must be a whole number of tokens >= 1; got None",
        ),
        (
            {
                "models": {
                    "m": [
                        {
                            "effective_from": "2026-01-01",
                            "input": "1",
                            "output": "1",
                            "long_context": {"above_tokens": 10, "input": "2"},
                        }
                    ]
                }
            },
            ".long_context lacks 'output'",
        ),
        (
            {
                "models": {
                    "m": [
                        {
                            "effective_from": "2026-01-01",
                            "input": "1",
                            "output": "1",
                            "long_context": "pricier",
                        }
                    ]
                }
            },
            ".long_context must be an object",
        ),
        (
            {
                "models": {
                    "m": [
                        {
                            "effective_from": "2026-01-01",
                            "input": "1",
                            "output": "1",
                            "long_context": {
                                "above_tokens": 10,
                                "input": "2",
                                "output": "2",
                                "long_context": {"above_tokens": 20},
                            },
                        }
                    ]
                }
            },
            ".long_context cannot have a long_context of its own",
        ),
    ],
)
def test_a_broken_prices_file_fails_loudly_naming_the_problem(
    tmp_path, monkeypatch, document, message
):
    monkeypatch.setenv("LLMOPT_PRICES_FILE", str(write_prices(tmp_path, document)))
    with pytest.raises(PriceFileError, match=message.replace("[", r"\[").replace(".", r"\.")):
        price_for(SONNET)


def test_a_missing_or_garbled_prices_file_fails_loudly(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPT_PRICES_FILE", str(tmp_path / "absent.json"))
    with pytest.raises(PriceFileError, match="cannot read price file"):
        price_for(SONNET)
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("LLMOPT_PRICES_FILE", str(garbled))
    with pytest.raises(PriceFileError, match="is not JSON"):
        price_for(SONNET)


def test_call_cost_saved_is_baseline_minus_cost():
    assert CallCost(cost=Decimal("1.5"), baseline=Decimal("4")).saved == Decimal("2.5")


# --- each provider's bill, by hand -----------------------------------------------------------
# Prices per million tokens from optimization.price_table (sources and dates there).
AFTER_RELEASES = datetime(2026, 11, 30, tzinfo=UTC)


def test_openai_cached_input_costs_its_own_price_and_the_batch_halves_it_too():
    cached = TokenUsage(cache_read_tokens=1_000_000)
    # gpt-5: 1,000,000 cached input tokens at $0.125/M = $0.125, vs $1.25/M plain input.
    assert cost_of(cached, "gpt-5") == CallCost(cost=Decimal("0.125"), baseline=Decimal("1.25"))
    # OpenAI's Batch column lists cached input at half: $0.0625/M (the discounts stack).
    assert cost_of(cached, "gpt-5", batch=True).cost == Decimal("0.0625")
    # gpt-5.4 batch, 1M uncached in + 1M cached + 100k out: $1.25 + $0.125 + $0.75 = $2.125
    # (standard $2.50/M in, $0.25/M cached, $15/M out, all halved); baseline $2.50 x 2 + $1.50.
    mixed = TokenUsage(input_tokens=1_000_000, cache_read_tokens=1_000_000, output_tokens=100_000)
    assert cost_of(mixed, "gpt-5.4", batch=True, at=AFTER_RELEASES) == CallCost(
        cost=Decimal("2.125"), baseline=Decimal("6.5")
    )


def test_openai_writes_cost_plain_input_until_a_model_prices_them():
    writes = TokenUsage(cache_write_5m_tokens=1_000_000)
    # No write premium on gpt-4.1: a miss that fills the cache is $2/M, as plain input.
    assert cost_of(writes, "gpt-4.1").cost == Decimal("2")
    # gpt-6.2-sol bills its 30-minute write at $2.50/M against $2/M input.
    assert cost_of(writes, "gpt-6.2-sol") == CallCost(cost=Decimal("2.5"), baseline=Decimal("2"))


def test_gemini_batch_halves_input_and_output_but_not_cached_tokens():
    usage = TokenUsage(input_tokens=1_000_000, cache_read_tokens=1_000_000, output_tokens=100_000)
    # gemini-2.5-flash standard: $0.30 + $0.03 + 100k x $2.50/M = $0.58; baseline $0.60 + $0.25.
    assert cost_of(usage, "gemini-2.5-flash") == CallCost(
        cost=Decimal("0.58"), baseline=Decimal("0.85")
    )
    # Batch: $0.15 + $0.03 (cached tokens "priced the same as for non-batch") + $0.125 = $0.305.
    assert cost_of(usage, "gemini-2.5-flash", batch=True).cost == Decimal("0.305")
    # The same tokens on Anthropic-style stacking would have been $0.29: the rule is Gemini's.
    assert price_for("gemini-2.5-flash").batch_price().cache_read == Decimal("0.03")


def test_gemini_pro_prompts_over_200k_tokens_pay_the_second_tier():
    # 150,000 uncached + 60,000 cached = 210,000 prompt tokens > 200k: $2.50/M in, $0.25/M
    # cached, $15/M out. 0.375 + 0.015 + 10,000 x 15/M = 0.15 -> $0.54; baseline
    # 210,000 x 2.50/M = 0.525 + 0.15 = $0.675.
    usage = TokenUsage(input_tokens=150_000, cache_read_tokens=60_000, output_tokens=10_000)
    assert cost_of(usage, "gemini-2.5-pro") == CallCost(
        cost=Decimal("0.54"), baseline=Decimal("0.675")
    )
    # At 200,000 prompt tokens exactly the first tier applies: 200,000 x $1.25/M = $0.25.
    assert cost_of(TokenUsage(input_tokens=200_000), "gemini-2.5-pro").cost == Decimal("0.25")


def test_gemini_explicit_cache_storage_is_billed_per_million_tokens_per_hour():
    # gemini-2.5-flash: 100,000 tokens stored 2 hours = 200,000 token-hours at $1.00/M/h = $0.20.
    assert cache_storage_cost("gemini-2.5-flash", token_hours=200_000) == Decimal("0.2")
    # gemini-2.5-pro: 32,768 tokens for 30 minutes = 16,384 token-hours at $4.50/M/h = $0.073728.
    assert cache_storage_cost("gemini-2.5-pro", token_hours="16384") == Decimal("0.073728")
    with pytest.raises(NoStoragePrice, match="gpt-5"):
        cache_storage_cost("gpt-5", token_hours=1)
    with pytest.raises(ValueError, match="token_hours"):
        cache_storage_cost("gemini-2.5-flash", token_hours="-1")
    with pytest.raises(ValueError, match="hours"):
        explicit_cache_saving("gemini-2.5-flash", tokens=1, hours="NaN", reads=1)


def test_an_explicit_cache_pays_only_when_its_reads_save_more_than_its_storage():
    # 100,000 tokens kept 2 h ($0.20 storage); each read saves 100,000 x ($0.30 - $0.03)/M
    # = $0.027. Ten reads: $0.27 - $0.20 = $0.07 saved; seven: $0.189 - $0.20 = -$0.011.
    assert explicit_cache_saving("gemini-2.5-flash", tokens=100_000, hours=2, reads=10) == Decimal(
        "0.07"
    )
    assert explicit_cache_saving("gemini-2.5-flash", tokens=100_000, hours=2, reads=7) == Decimal(
        "-0.011"
    )
    # In a batch input is $0.15 and cached tokens stay $0.03: a read saves only $0.012.
    assert explicit_cache_saving(
        "gemini-2.5-flash", tokens=100_000, hours=2, reads=10, batch=True
    ) == Decimal("-0.08")


def test_monthly_cost_prices_gemini_batch_and_cache_as_gemini_bills_them():
    # 1,000 requests of 10,000 in / 1,000 out on gemini-2.5-flash, 90% read from the cache,
    # writes as plain input: in 10M tokens -> 1M uncached x $0.15 (batch) = $0.15, 9M cached x
    # $0.03 = $0.27 (not halved), out 1M x $1.25 = $1.25: total $1.67.
    month = monthly_cost(
        requests=1_000,
        input_tokens=10_000,
        output_tokens=1_000,
        model="gemini-2.5-flash",
        cache_hit_rate="0.9",
        batch=True,
    )
    assert (month.cache_writes, month.cache_reads, month.output) == (
        Decimal("0.15"),
        Decimal("0.27"),
        Decimal("1.25"),
    )
    assert month.total == Decimal("1.67")
    assert month.baseline == Decimal("5.5")  # 10M x $0.30 + 1M x $2.50


@pytest.mark.parametrize(
    ("spelling", "model"),
    [
        ("publishers/google/models/gemini-2.5-flash", "gemini-2.5-flash"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("google/gemini-3.1-pro-preview", "gemini-3.1-pro-preview"),
        ("gpt-5.4-mini-2026-03-17", "gpt-5.4-mini"),
        ("azure/gpt-5.4", "gpt-5.4"),
    ],
)
def test_vertex_and_azure_spellings_resolve(spelling, model):
    assert canonical_model(spelling) == model


def test_the_prices_file_sets_the_batch_rule_for_cache_reads_and_the_storage_price(
    tmp_path, monkeypatch
):
    path = write_prices(
        tmp_path,
        {
            "models": {
                "acme-gemini": {
                    "effective_from": "2026-01-01",
                    "input": "1",
                    "output": "4",
                    "cached_input": "0.1",
                    "cache_read_batch_multiplier": "1",
                    "cache_storage_per_hour": "2",
                },
                "acme-openai": {
                    "effective_from": "2026-01-01",
                    "input": "1",
                    "output": "4",
                    "cached_input": "0.1",
                },
            }
        },
    )
    monkeypatch.setenv("LLMOPT_PRICES_FILE", str(path))
    reads = TokenUsage(cache_read_tokens=1_000_000)
    assert cost_of(reads, "acme-gemini", batch=True).cost == Decimal("0.1")
    assert cost_of(reads, "acme-openai", batch=True).cost == Decimal("0.05")
    assert cache_storage_cost("acme-gemini", token_hours=500_000) == Decimal("1")
