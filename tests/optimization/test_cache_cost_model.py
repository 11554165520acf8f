"""The model of Anthropic's cache that referees the planner's benchmark, and its simple rules."""

from __future__ import annotations

import pytest

from benchmarks.cache_cost_model import (
    AVAILABLE_AFTER,
    AnthropicCache,
    Block,
    blocks_of,
    hindsight_usage,
    simple_rule,
    skipping_balance,
)


def prompt(*sizes: int, marks: tuple[int, ...] = (), tag: str = "") -> list[Block]:
    """Blocks of the given token sizes, keyed by position (so prompts share prefixes)."""
    return [
        Block(hash((tag, index)) if index >= 0 else 0, size, 300 if index in marks else None)
        for index, size in enumerate(sizes)
    ]


def test_a_breakpoint_writes_its_prefix_and_a_later_request_reads_it() -> None:
    cache = AnthropicCache(min_tokens=1024)
    first = cache.process(prompt(2000, 500, marks=(0,)), now=0)
    assert (first.write_5m, first.read, first.uncached) == (2000, 0, 500)
    second = cache.process(prompt(2000, 700, marks=(0,)), now=10)
    assert (second.read, second.write_5m, second.uncached) == (2000, 0, 700)


def test_writes_are_billed_from_the_prefix_read_to_the_last_breakpoint() -> None:
    cache = AnthropicCache(min_tokens=1024)
    cache.process(prompt(2000, marks=(0,)), now=0)
    usage = cache.process(prompt(2000, 300, 400, 500, marks=(0, 1, 2)), now=10)
    # the breakpoint between the read and the last one writes nothing more
    assert (usage.read, usage.write_5m, usage.uncached) == (2000, 700, 500)


def test_a_prefix_below_the_minimum_is_never_written() -> None:
    cache = AnthropicCache(min_tokens=1024)
    usage = cache.process(prompt(500, 200, marks=(0,)), now=0)
    assert usage.write_5m == 0
    assert usage.uncached == 700


def test_a_breakpoint_finds_an_entry_within_20_blocks_but_not_beyond() -> None:
    cache = AnthropicCache(min_tokens=1024)
    cache.process(prompt(2000, marks=(0,)), now=0)
    near = cache.process(prompt(2000, *[10] * 19, marks=(19,)), now=5)
    assert near.read == 2000
    far = AnthropicCache(min_tokens=1024)
    far.process(prompt(2000, marks=(0,)), now=0)
    assert far.process(prompt(2000, *[10] * 20, marks=(20,)), now=5).read == 0


def test_an_entry_expires_after_its_ttl_unless_a_read_refreshes_it() -> None:
    cache = AnthropicCache(min_tokens=1024)
    cache.process(prompt(2000, marks=(0,)), now=0)
    assert cache.process(prompt(2000, 10, marks=(0,)), now=250).read == 2000
    assert cache.process(prompt(2000, 10, marks=(0,)), now=500).read == 2000  # refreshed at 250
    assert cache.process(prompt(2000, 10, marks=(0,)), now=900).read == 0


def test_an_entry_is_read_only_once_the_response_that_wrote_it_has_begun() -> None:
    cache = AnthropicCache(min_tokens=1024)
    cache.process(prompt(2000, marks=(0,)), now=0)
    concurrent = cache.process(prompt(2000, 10, marks=(0,)), now=AVAILABLE_AFTER / 2)
    assert concurrent.read == 0
    assert concurrent.write_5m == 2000
    assert cache.process(prompt(2000, 10, marks=(0,)), now=AVAILABLE_AFTER).read == 2000


def test_the_api_refuses_more_than_four_breakpoints_and_1h_after_5m() -> None:
    cache = AnthropicCache(min_tokens=1024)
    with pytest.raises(ValueError, match="at most 4"):
        cache.process(prompt(2000, 1, 1, 1, 1, marks=(0, 1, 2, 3, 4)), now=0)
    blocks = [Block(1, 2000, 300), Block(2, 2000, 3600)]
    with pytest.raises(ValueError, match="1h"):
        cache.process(blocks, now=0)


def shared_then(tokens: int, tag: str) -> list[Block]:
    """A 2000-token prefix every request shares, then a block of its own."""
    return [Block(1, 2000), Block(hash(tag), tokens)]


def test_hindsight_writes_only_what_a_later_request_reads_in_time() -> None:
    trace = [
        (0.0, shared_then(100, "a")),
        (10.0, shared_then(200, "b")),  # reads the 2000 written at 0
        (900.0, shared_then(300, "c")),  # after the TTL: nothing is alive, nothing follows
    ]
    first, second, third = hindsight_usage(trace, min_tokens=1024)
    assert (first.write_5m, second.read, second.write_5m) == (2000, 2000, 0)
    assert (third.read, third.write_5m, third.uncached) == (0, 0, 2300)


def test_hindsight_does_not_count_a_read_that_comes_before_the_entry_is_readable() -> None:
    trace = [(0.0, shared_then(100, "a")), (AVAILABLE_AFTER / 2, shared_then(200, "b"))]
    first, second = hindsight_usage(trace, min_tokens=1024)
    assert first.write_5m == 0
    assert second.read == 0


def test_a_string_and_a_text_block_holding_it_are_the_same_prompt() -> None:
    as_string = blocks_of({"system": "rules", "messages": [{"role": "user", "content": "hi"}]})
    as_blocks = blocks_of(
        {
            "system": [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        }
    )
    assert [block.key for block in as_string] == [block.key for block in as_blocks]
    assert [block.ttl for block in as_blocks] == [300, None]


def test_the_simple_rules_mark_the_system_prompt_and_the_last_one_or_two_user_turns() -> None:
    params = {
        "system": "rules",
        "messages": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [{"type": "text", "text": "two"}]},
        ],
    }
    last = blocks_of(simple_rule(params, 1))
    last_two = blocks_of(simple_rule(params, 2))
    assert [block.ttl is not None for block in last] == [True, False, False, True]
    assert [block.ttl is not None for block in last_two] == [True, True, False, True]
    assert params["system"] == "rules"  # the caller's params are left alone
    tools_only = blocks_of(simple_rule({"tools": [{"name": "t"}], "messages": []}, 1))
    assert [block.ttl for block in tools_only] == [300]


def test_skipping_a_class_saves_the_premium_on_unfollowed_writes_and_forgoes_the_reads() -> None:
    balance = skipping_balance(
        ["rag", "rag", "chat", "chat"], [4000, 2000, 1000, 1000], [False, False, True, False]
    )
    # rag: nothing followed, so skipping saves the 0.25x premium on all 6,000 tokens;
    # chat: one write was read (skipping it costs 1.15x), one was not (saves 0.25x).
    assert balance == pytest.approx({"rag": 1500.0, "chat": -900.0})
