"""Usage events of OpenAI and Gemini calls: tokens by kind from LangChain's usage metadata, as
langchain-openai and langchain-google-genai fill it, priced as each provider bills them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from langchain_core.messages.ai import UsageMetadata

from optimization.pricing import TokenUsage
from optimization.telemetry import token_usage_from_metadata, usage_event_for

AT = datetime(2026, 11, 30, tzinfo=UTC)


def openai_usage(prompt: int, cached: int, output: int, written: int = 0) -> UsageMetadata:
    # langchain-openai: input_tokens is prompt_tokens (cached included), cache_read is
    # prompt_tokens_details.cached_tokens, cache_creation is cache_write_tokens.
    return UsageMetadata(
        input_tokens=prompt,
        output_tokens=output,
        total_tokens=prompt + output,
        input_token_details={"cache_read": cached, "cache_creation": written},
    )


def gemini_usage(prompt: int, cached: int, output: int) -> UsageMetadata:
    # langchain-google-genai: input_tokens is prompt_token_count (cached included), cache_read
    # is cached_content_token_count; output includes thinking tokens.
    return UsageMetadata(
        input_tokens=prompt,
        output_tokens=output,
        total_tokens=prompt + output,
        input_token_details={"cache_read": cached},
    )


def test_openai_cached_tokens_become_cache_reads_and_are_halved_in_a_batch() -> None:
    usage = token_usage_from_metadata(openai_usage(1_200_000, 1_000_000, 100_000))
    assert usage == TokenUsage(
        input_tokens=200_000, cache_read_tokens=1_000_000, output_tokens=100_000
    )
    event = usage_event_for(
        provider="openAI", model="gpt-5", mode="batch+cache", usage=usage, at=AT
    )
    # gpt-5 batch: 200,000 x $0.625/M + 1M x $0.0625/M + 100,000 x $5/M = 0.125 + 0.0625 + 0.50.
    assert event.cost == Decimal("0.6875")
    assert event.baseline_cost == Decimal("2.5")  # 1.2M x $1.25/M + 100,000 x $10/M


def test_an_openai_cache_write_is_priced_where_the_model_bills_one() -> None:
    usage = token_usage_from_metadata(openai_usage(1_000_000, 0, 0, written=1_000_000))
    assert usage == TokenUsage(cache_write_5m_tokens=1_000_000)
    # gpt-6.2-sol: a 30-minute write is $2.50/M against $2/M input.
    sol = usage_event_for(provider="openAI", model="gpt-6.2-sol", mode="cached", usage=usage, at=AT)
    assert (sol.cost, sol.baseline_cost) == (Decimal("2.5"), Decimal("2"))
    # gpt-4.1 on Azure has no write premium: the same tokens cost plain input, $2/M.
    azure = usage_event_for(
        provider="azureOpenAI", model="gpt-4.1-2025-04-14", mode="cached", usage=usage, at=AT
    )
    assert azure.cost == azure.baseline_cost == Decimal("2")


def test_gemini_cached_content_tokens_keep_their_price_in_a_batch() -> None:
    usage = token_usage_from_metadata(gemini_usage(1_000_000, 1_000_000, 100_000))
    assert usage == TokenUsage(cache_read_tokens=1_000_000, output_tokens=100_000)
    batch = usage_event_for(
        provider="gemini", model="gemini-2.5-flash", mode="batch+cache", usage=usage, at=AT
    )
    # 1M cached x $0.03/M (not halved) + 100,000 x $1.25/M (output halved) = 0.03 + 0.125.
    assert batch.cost == Decimal("0.155")
    assert batch.baseline_cost == Decimal("0.55")  # 1M x $0.30/M + 100,000 x $2.50/M
    vertex = usage_event_for(
        provider="vertexAI",
        model="publishers/google/models/gemini-2.5-flash",
        mode="batch+cache",
        usage=usage,
        at=AT,
    )
    assert vertex.cost == batch.cost
