"""Money on the pages: meaningful precision, one precision per group, parts that add up."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from llmopt_admin.savings.templatetags.savings_format import (
    MINUS,
    job_money,
    money_places,
    summary_money,
    usd,
)


def amount(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def test_a_request_costing_a_fraction_of_a_cent_is_not_shown_as_zero() -> None:
    assert usd(Decimal("0.0000312")) == "$0.000031"
    assert usd(Decimal("0.004")) == "$0.00400"
    assert usd(Decimal("1234.5")) == "$1,234.50"
    assert usd(Decimal(0)) == "$0.00"
    assert usd(Decimal("-0.1")) == "-$0.100"
    assert money_places(Decimal("0.0000000001")) == 6


@dataclass
class Job:
    cost: Decimal
    baseline_cost: Decimal


def test_a_jobs_cost_baseline_and_saved_share_one_precision_and_add_up() -> None:
    shown = job_money(Job(cost=Decimal("0.000125"), baseline_cost=Decimal("0.00025")))
    assert shown == {"cost": "$0.000125", "baseline": "$0.000250", "saved": "$0.000125"}


money = st.decimals(min_value=0, max_value=10_000, places=10, allow_nan=False)


@settings(max_examples=300)
@given(money, money)
def test_shown_saved_is_always_shown_baseline_minus_shown_cost(
    cost: Decimal, baseline: Decimal
) -> None:
    shown = job_money(Job(cost=cost, baseline_cost=baseline))
    assert amount(shown["baseline"]) - amount(shown["cost"]) == amount(shown["saved"])


@dataclass
class Summary:
    cost: Decimal
    baseline_cost: Decimal
    cache_read_saved: Decimal
    batch_discount: Decimal
    cache_write_premium: Decimal

    @property
    def unattributed(self) -> Decimal:
        saved = self.baseline_cost - self.cost
        return saved - self.cache_read_saved + self.cache_write_premium - self.batch_discount


@settings(max_examples=300)
@given(money, money, money, money)
def test_the_mechanisms_add_up_to_the_saved_total_as_shown(
    cost: Decimal, read: Decimal, batch: Decimal, premium: Decimal
) -> None:
    baseline = cost + read + batch - premium
    summary = Summary(cost, baseline, read, batch, premium)
    shown = summary_money(summary)
    saved = amount(shown["saved"])
    assert amount(shown["baseline"]) - amount(shown["cost"]) == saved
    # each mechanism is shown by its effect on spend: a minus sign lowered it, a plus raised it
    lowered = sum(
        (
            amount(text[1:]) * (1 if text[0] == MINUS else -1)
            for name, text in shown.items()
            if name in ("cache_read_saved", "batch_discount", "unattributed", "cache_write_premium")
        ),
        Decimal(0),
    )
    assert lowered == saved


def test_a_long_model_name_wraps_after_its_separators_and_stays_escaped() -> None:
    from llmopt_admin.savings.templatetags.savings_format import breakable

    assert (
        breakable("anthropic.claude-sonnet-4-5")
        == "anthropic.<wbr>claude-<wbr>sonnet-<wbr>4-<wbr>5"
    )
    assert breakable("<b>x-y</b>") == "&lt;b&gt;x-<wbr>y&lt;/<wbr>b&gt;"
