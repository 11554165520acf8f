"""Finding the stable start of a system string whose end changes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from optimization._tokens import estimate_tokens
from optimization.system_split import (
    HEAD,
    StablePrefixSplitter,
    common_prefix_length,
    stable_boundary,
)

STABLE = "You are the assistant.\n" + "Always cite sources. " * 300 + "\n\n"
MEMORY = 64


def splitter(min_tokens: int = 1024) -> StablePrefixSplitter:
    return StablePrefixSplitter(estimate_tokens, min_tokens, memory=MEMORY)


@given(st.text(max_size=50), st.text(max_size=20), st.text(max_size=20))
def test_common_prefix_length_is_the_length_of_the_shared_start(
    shared: str, a: str, b: str
) -> None:
    first, second = shared + a, shared + b
    expected = 0
    while expected < min(len(first), len(second)) and first[expected] == second[expected]:
        expected += 1
    assert common_prefix_length(first, second) == expected


def test_common_prefix_length_finds_a_difference_far_into_long_texts() -> None:
    long = "x" * 10_000
    assert common_prefix_length(long + "a", long + "b") == 10_000
    assert common_prefix_length(long, long) == 10_000


def test_the_boundary_falls_at_the_last_line_start_else_the_last_word_start() -> None:
    text = "line one\nline two changes"
    assert stable_boundary(text, len("line one\nline t")) == len("line one\n")
    assert stable_boundary("no newline here", len("no newl")) == len("no ")
    assert stable_boundary("abc", 2) == 0


def test_a_text_seen_once_or_repeated_unchanged_is_not_split() -> None:
    split = splitter()
    text = STABLE + "Time: 10:00"
    assert split.boundary(text) == 0
    assert split.boundary(text) == 0


def test_the_second_variant_is_split_where_the_two_stop_agreeing() -> None:
    split = splitter()
    split.boundary(STABLE + "**Current time**: 10:00\nContext 1")
    assert split.boundary(STABLE + "**Current time**: 10:01\nContext 2") == len(STABLE)
    # later variants reuse the boundary without comparing whole texts again
    assert split.boundary(STABLE + "**Current time**: 11:30\nContext 3") == len(STABLE)


def test_a_variant_that_differs_earlier_moves_the_boundary_back() -> None:
    split = splitter(min_tokens=50)
    head = "H" * HEAD + "\n"
    split.boundary(head + "A" * 2_000 + "\nend one")
    assert split.boundary(head + "A" * 2_000 + "\nend two") == len(head) + 2_001
    assert split.boundary(head + "B" * 2_000 + "\nend three") == len(head)


def test_a_stable_part_below_the_minimum_cacheable_length_is_not_split() -> None:
    split = splitter(min_tokens=100_000)
    split.boundary(STABLE + "one")
    assert split.boundary(STABLE + "two") == 0


def test_short_texts_are_never_split_and_the_memory_stays_bounded() -> None:
    split = splitter(min_tokens=1)
    assert split.boundary("short") == 0
    for number in range(MEMORY * 3):
        split.boundary(f"{number:08d}" + STABLE)
    assert len(split._seen) == MEMORY
