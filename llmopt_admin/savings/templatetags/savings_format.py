"""Formatting money and ratios on the savings dashboard."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


# Small amounts (a single request costs fractions of a cent) keep enough decimals to show three
# significant digits, up to this many; amounts of a dollar or more show cents.
MAX_PLACES = 6
MINUS = "\u2212"  # the typographic minus sign the pages show before an amount


def money_places(*amounts: Decimal | None) -> int:
    """Decimals that show the largest of `amounts` with three significant digits (2 to 6): a
    group of figures is shown at the precision its biggest one needs."""
    nonzero = [abs(Decimal(amount)) for amount in amounts if amount]
    if not nonzero or max(nonzero) >= 1:
        return 2
    return min(MAX_PLACES, max(2, 2 - max(nonzero).adjusted()))


def _rounded(amount: Decimal, places: int) -> Decimal:
    return Decimal(amount).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def format_usd(amount: Decimal, places: int) -> str:
    """`-$1,234.5600` style: the sign before the dollar, thousands separated."""
    rounded = _rounded(amount, places)
    sign = "-" if rounded < 0 else ""
    return f"{sign}${abs(rounded):,}"


@register.filter
def usd(value: Decimal | None) -> str:
    """$1,234.56; below a dollar enough decimals for three significant digits ($0.0246)."""
    if value is None:
        return "—"
    return format_usd(Decimal(value), money_places(value))


def parts_adding_up(
    total: Decimal, parts: dict[str, Decimal], places: int
) -> tuple[Decimal, dict[str, Decimal]]:
    """(total, parts) rounded to `places` so that the shown parts add up to the shown total:
    what rounding leaves over goes to the largest part."""
    shown_total = _rounded(total, places)
    shown = {name: _rounded(value, places) for name, value in parts.items()}
    left_over = shown_total - sum(shown.values(), Decimal(0))
    if left_over and shown:
        largest = max(parts, key=lambda name: abs(parts[name]))
        shown[largest] += left_over
    return shown_total, shown


@register.filter
def job_money(job: Any) -> dict[str, str]:
    """A job's cost, baseline and saved at one precision, saved = baseline - cost as shown."""
    cost, baseline = Decimal(job.cost), Decimal(job.baseline_cost)
    places = money_places(cost, baseline, baseline - cost)
    shown_cost, shown_baseline = _rounded(cost, places), _rounded(baseline, places)
    return {
        "cost": format_usd(shown_cost, places),
        "baseline": format_usd(shown_baseline, places),
        "saved": format_usd(shown_baseline - shown_cost, places),
    }


@register.filter
def summary_money(summary: Any) -> dict[str, str]:
    """The dashboard's figures at one precision: saved = baseline - spend as shown, and the
    mechanisms of the split (each signed by its effect on spend) add up to that saved total."""
    cost, baseline = Decimal(summary.cost), Decimal(summary.baseline_cost)
    signed = {
        "cache_read_saved": Decimal(summary.cache_read_saved),
        "batch_discount": Decimal(summary.batch_discount),
        "unattributed": Decimal(summary.unattributed or 0),
        "cache_write_premium": -Decimal(summary.cache_write_premium),
    }
    places = money_places(cost, baseline, *signed.values())
    shown_cost, shown_baseline = _rounded(cost, places), _rounded(baseline, places)
    saved, parts = parts_adding_up(shown_baseline - shown_cost, signed, places)
    return {
        "cost": format_usd(shown_cost, places),
        "baseline": format_usd(shown_baseline, places),
        "saved": format_usd(saved, places),
        # Each mechanism as its effect on spend: a minus sign lowered it, a plus raised it.
        **{
            name: (MINUS if value >= 0 else "+") + format_usd(abs(value), places)
            for name, value in parts.items()
        },
    }


_BREAK_AFTER = re.compile(r"([-./:_@])")


@register.filter
def breakable(value: object) -> str:
    """A long identifier (a model name) that wraps after its separators, never mid-word."""
    if value is None or value == "":
        return "—"
    return mark_safe(_BREAK_AFTER.sub(r"\1<wbr>", str(escape(value))))  # noqa: S308  # nosec B308 B703


@register.filter
def pct(value: float | None) -> str:
    """A percentage already in 0-100, one decimal."""
    return "—" if value is None else f"{value:.1f}%"


@register.filter
def ratio(value: float | None) -> str:
    """A 0-1 ratio as a percentage, one decimal."""
    return "—" if value is None else f"{value * 100:.1f}%"
