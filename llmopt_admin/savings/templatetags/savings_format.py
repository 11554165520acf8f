"""Formatting money and ratios on the savings dashboard."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()


@register.filter
def usd(value: Decimal | None) -> str:
    """$1,234.56; amounts under a cent keep four decimals so small ledgers do not read $0.00."""
    if value is None:
        return "—"
    amount = Decimal(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    places = Decimal("0.01") if amount >= 1 or amount == 0 else Decimal("0.0001")
    rounded = amount.quantize(places, rounding=ROUND_HALF_UP)
    return f"{sign}${rounded:,}"


@register.filter
def pct(value: float | None) -> str:
    """A percentage already in 0-100, one decimal."""
    return "—" if value is None else f"{value:.1f}%"


@register.filter
def ratio(value: float | None) -> str:
    """A 0-1 ratio as a percentage, one decimal."""
    return "—" if value is None else f"{value * 100:.1f}%"
