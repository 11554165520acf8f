"""Hostile values for property tests: text PostgreSQL cannot store, numbers beyond 64 bits or
beyond finite, dates at the ends of the calendar, and shapes that are not what a field expects.

`Raw` stands for JSON text Python cannot hold as a value (nesting tens of thousands deep, an
integer of 5,000 digits); `dumps` writes it into a body as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """JSON text put into a body verbatim."""

    text: str


DEEP_ARRAY = Raw("[" * 20_000 + "]" * 20_000)
DEEP_OBJECT = Raw('{"a": ' * 5_000 + "1" + "}" * 5_000)
HUGE_INTEGER = Raw("9" * 5_000)
RAW_VALUES = (DEEP_ARRAY, DEEP_OBJECT, HUGE_INTEGER, Raw("-" + "9" * 5_000))

PIECES = (
    "\x00",
    "\ud800",  # lone surrogates: JSON can carry them ("\ud800"), UTF-8 cannot
    "\udfff",
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ufeff",
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\n",
    "\\",
    '"',
    "'",
    "٣",
    "²",
    "😀",
    "\U0010ffff",
)

hostile_text = st.one_of(
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=8)), max_size=6).map("".join),
    st.integers(min_value=121, max_value=20_000).map(lambda n: "m" * n),  # longer than columns
)
hostile_numbers = st.one_of(
    st.sampled_from(
        [
            2**63,
            2**64,
            2**64 + 1,
            -(2**63) - 1,
            10**40,
            -1,
            0,
            -0.0,
            1e308,
            float("nan"),
            float("inf"),
            float("-inf"),
        ]
    ),
    st.integers(),
    st.floats(),
)
# ISO date-times anywhere in years 1-9999 with any offset up to ±23:59 (the edges included).
hostile_moments = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59-23:59",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59+00:00",
            "2025-01-01T00:00:00+05:30:15.123456",
            "0001-01-01",
            "9999-12-31",
            "2025-02-30",
        ]
    ),
    st.builds(
        lambda moment, minutes: moment.replace(
            tzinfo=timezone(timedelta(minutes=minutes))
        ).isoformat(),
        st.datetimes(),
        st.integers(min_value=-1439, max_value=1439),
    ),
    st.dates().map(lambda day: day.isoformat()),
)
hostile_shapes = st.sampled_from(
    [None, True, False, [], {}, [[]], ["x"], {"a": {}}, [{"role": "user"}], *RAW_VALUES]
)
hostile_values = st.one_of(hostile_text, hostile_numbers, hostile_moments, hostile_shapes)
# What a query string can carry: text (dates, numbers and surrogates spelled out in it), the
# values known to have broken a page first.
hostile_query_values = st.one_of(
    st.sampled_from(
        [
            "\x00",
            "anthropic\x00",
            "\ud800",
            "9999-12-31",
            "0001-01-01T00:00:00+23:59",
            "9999-12-31T23:59:59-23:59",
            "²",
            "9" * 5_000,
            str(2**64),
            str(-(2**64)),
        ]
    ),
    hostile_text,
    hostile_moments,
    hostile_numbers.map(str),
    st.sampled_from(["9" * 5_000, "1e999999", "NaN", "-Infinity", "sNaN", "²", "٣"]),
)


def dumps(value: Any) -> str:
    """`value` as JSON text, each Raw written as it is."""
    raws: list[str] = []

    def placeholder(item: Any) -> str:
        if not isinstance(item, Raw):
            raise TypeError(type(item).__name__)
        raws.append(item.text)
        return f"\x01raw{len(raws) - 1}\x01"

    text = json.dumps(value, default=placeholder)
    for index, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x01raw{index}\x01"), raw)
    return text


def query(path: str, params: dict[str, str]) -> str:
    """`path?params`, percent-encoded as a browser would, lone surrogates included (as the
    UTF-8 bytes a careless client would send)."""
    encoded = "&".join(
        f"{quote(name)}={quote(value, safe='', errors='surrogatepass')}"
        for name, value in params.items()
    )
    return f"{path}?{encoded}"
