"""Prompt caching: hits, misses, TTL expiry and refresh, minimum length, lookback, limits."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from optimization.simulator import Clock
from optimization.simulator.caching import SWEEP_INTERVAL, PromptCache
from optimization.simulator.prompt import PromptBlock
from tests.optimization.simulator.conftest import MODEL

LONG = "lorem ipsum dolor sit amet " * 200  # 5400 characters: 1350 estimated tokens


def cached(text: str, ttl: str | None = None) -> dict[str, Any]:
    control: dict[str, str] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    return {"type": "text", "text": text, "cache_control": control}


def send(
    client: anthropic.Anthropic,
    system: list[dict[str, Any]],
    question: str = "and the answer is?",
    model: str = MODEL,
) -> anthropic.types.Usage:
    message = client.messages.create(
        model=model,
        max_tokens=50,
        system=system,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": question}],
    )
    return message.usage


def test_the_first_request_writes_the_prefix_and_the_second_reads_it(
    client: anthropic.Anthropic,
) -> None:
    first = send(client, [cached(LONG)])
    assert first.cache_creation_input_tokens == 1350
    assert first.cache_creation is not None
    assert first.cache_creation.ephemeral_5m_input_tokens == 1350
    assert first.cache_read_input_tokens == 0
    second = send(client, [cached(LONG)], question="a different question entirely")
    assert second.cache_read_input_tokens == 1350
    assert second.cache_creation_input_tokens == 0
    assert (first.input_tokens, second.input_tokens) == (5, 8)  # only the questions, uncached


def test_a_changed_prefix_misses(client: anthropic.Anthropic) -> None:
    send(client, [cached(LONG)])
    changed = send(client, [cached(LONG + " extra")])
    assert changed.cache_read_input_tokens == 0
    assert changed.cache_creation_input_tokens > 0


def test_a_five_minute_entry_expires_and_a_hit_refreshes_it(
    client: anthropic.Anthropic, clock: Clock
) -> None:
    send(client, [cached(LONG)])
    clock.advance(240)
    assert send(client, [cached(LONG)]).cache_read_input_tokens == 1350  # refreshes to t+540
    clock.advance(240)
    assert send(client, [cached(LONG)]).cache_read_input_tokens == 1350
    clock.advance(301)
    expired = send(client, [cached(LONG)])
    assert expired.cache_read_input_tokens == 0
    assert expired.cache_creation_input_tokens == 1350


def test_a_one_hour_entry_outlives_five_minutes(client: anthropic.Anthropic, clock: Clock) -> None:
    first = send(client, [cached(LONG, "1h")])
    assert first.cache_creation is not None
    assert first.cache_creation.ephemeral_1h_input_tokens == 1350
    clock.advance(3000)
    assert send(client, [cached(LONG, "1h")]).cache_read_input_tokens == 1350
    clock.advance(3601)
    assert send(client, [cached(LONG, "1h")]).cache_read_input_tokens == 0


def test_prompts_below_the_model_minimum_are_not_cached(client: anthropic.Anthropic) -> None:
    short = "tiny prefix " * 50  # 150 tokens, below 1024
    usage = send(client, [cached(short)])
    assert usage.cache_creation_input_tokens == 0
    assert send(client, [cached(short)]).cache_read_input_tokens == 0
    # Haiku 4.5 needs 4096 tokens, so the 1350-token prefix that Sonnet caches is too short.
    assert send(client, [cached(LONG)], model="claude-haiku-4-5").cache_creation_input_tokens == 0


def test_writes_are_split_by_the_ttl_of_each_breakpoint(client: anthropic.Anthropic) -> None:
    usage = send(client, [cached(LONG, "1h"), cached(LONG, "5m")])
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == 1350
    assert usage.cache_creation.ephemeral_5m_input_tokens == 1350
    again = send(client, [cached(LONG, "1h"), {"type": "text", "text": "new tail " * 10}])
    assert again.cache_read_input_tokens == 1350


def test_a_later_breakpoint_finds_an_earlier_entry_within_twenty_blocks(
    client: anthropic.Anthropic,
) -> None:
    send(client, [cached(LONG)])
    near = [{"type": "text", "text": LONG}] + [{"type": "text", "text": f"b{i}"} for i in range(18)]
    near[-1] = cached(near[-1]["text"])
    assert send(client, near).cache_read_input_tokens == 1350


def test_an_entry_more_than_twenty_blocks_back_is_not_found(client: anthropic.Anthropic) -> None:
    send(client, [cached(LONG)])
    far = [{"type": "text", "text": LONG}] + [{"type": "text", "text": f"b{i}"} for i in range(20)]
    far[-1] = cached(far[-1]["text"])
    assert send(client, far).cache_read_input_tokens == 0


def test_tools_come_first_in_the_cached_prefix(client: anthropic.Anthropic) -> None:
    tools = [
        {
            "name": "reference",
            "description": LONG,
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"},
        }
    ]
    params: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 20,
        "tools": tools,
        "messages": [{"role": "user", "content": "hello"}],
    }
    written = client.messages.create(**params).usage.cache_creation_input_tokens
    assert written is not None
    assert written > 1350
    params["system"] = "a system prompt after the tools"
    assert client.messages.create(**params).usage.cache_read_input_tokens == written


def test_the_top_level_cache_control_marks_the_last_block(client: anthropic.Anthropic) -> None:
    params: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": LONG}],
        "extra_body": {"cache_control": {"type": "ephemeral"}},
    }
    assert client.messages.create(**params).usage.cache_creation_input_tokens == 1350
    assert client.messages.create(**params).usage.cache_read_input_tokens == 1350


def test_more_than_four_breakpoints_are_rejected_with_the_real_message(
    client: anthropic.Anthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        send(client, [cached(f"part {i}") for i in range(5)])
    assert caught.value.body["error"]["message"] == (  # type: ignore[index]
        "A maximum of 4 blocks with cache_control may be provided. Found 5."
    )


def test_a_one_hour_breakpoint_after_a_five_minute_one_is_rejected(
    client: anthropic.Anthropic,
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        send(client, [cached("first", "5m"), cached("second", "1h")])
    assert caught.value.body["error"]["message"] == (  # type: ignore[index]
        "system.1.cache_control.ttl: a ttl='1h' cache_control block must not come after a "
        "ttl='5m' cache_control block. Note that blocks are processed in the following order: "
        "`tools`, `system`, `messages`."
    )


@pytest.mark.parametrize(
    ("control", "expected"),
    [
        ({"type": "persistent"}, "system.0.cache_control.type"),
        ({"type": "ephemeral", "ttl": "2h"}, "system.0.cache_control.ttl"),
    ],
)
def test_it_rejects_unknown_cache_control_types_and_ttls(
    client: anthropic.Anthropic, control: dict[str, str], expected: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        send(client, [{"type": "text", "text": "x", "cache_control": control}])
    assert expected in str(caught.value)


def test_a_conflicting_top_level_ttl_is_rejected(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model=MODEL,
            max_tokens=20,
            messages=[{"role": "user", "content": [cached("x", "1h")]}],  # type: ignore[list-item]
            extra_body={"cache_control": {"type": "ephemeral", "ttl": "5m"}},
        )
    assert "Top-level cache_control has ttl='5m'" in str(caught.value)


def test_expired_entries_are_dropped_even_when_no_request_looks_them_up() -> None:
    cache = PromptCache()

    def request(number: int, ttl: str) -> list[PromptBlock]:
        return [PromptBlock("system.0", f"document {number}", 2_000, ttl)]

    for number in range(100):
        cache.use(MODEL, request(number, "5m"), now=0.0, min_tokens=1024)
    cache.use(MODEL, request(100, "1h"), now=0.0, min_tokens=1024)
    assert len(cache) == 101
    cache.use(MODEL, request(101, "5m"), now=299.0, min_tokens=1024)
    assert len(cache) == 102  # all still live
    later = cache.use(MODEL, request(100, "1h"), now=301.0 + SWEEP_INTERVAL, min_tokens=1024)
    assert later.tokens.cache_read_tokens == 2_000  # the live one-hour entry stays
    assert len(cache) == 2  # and the one written at 299 s; the hundred from 0 s are gone
