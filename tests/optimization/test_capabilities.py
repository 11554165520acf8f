from __future__ import annotations

import logging
from decimal import Decimal

import pytest

from optimization.capabilities import PROVIDERS, ProviderCapabilities, parse_claude_model

PIPESHUB_LLM_PROVIDERS = {
    "anthropic",
    "bedrock",
    "azureAI",
    "azureOpenAI",
    "cohere",
    "fireworks",
    "gemini",
    "groq",
    "litellmProxy",
    "lmStudio",
    "minimax",
    "mistral",
    "ollama",
    "openAI",
    "openAICompatible",
    "openRouter",
    "together",
    "vertexAI",
    "xai",
}


def test_it_lists_every_pipeshub_llm_provider_spelled_as_pipeshub_spells_it():
    assert set(PROVIDERS) == PIPESHUB_LLM_PROVIDERS
    assert len(PROVIDERS) == len(set(PROVIDERS)) == 19


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_known_provider_is_detected_without_warnings(provider, caplog):
    with caplog.at_level(logging.WARNING, logger="optimization.capabilities"):
        caps = ProviderCapabilities.detect(provider)
    assert caps.provider == provider
    assert caps.known
    assert caplog.records == []
    # Explicit markers come with Anthropic's breakpoint budget, nothing else has one.
    assert (caps.max_cache_breakpoints == 4) == (caps.cache_marker_type == "explicit")
    assert caps.supports_caching == (caps.cache_marker_type is not None)


def test_anthropic_capabilities():
    caps = ProviderCapabilities.detect("anthropic")
    assert caps.supports_batching
    assert caps.supports_caching
    assert caps.cache_marker_type == "explicit"
    assert caps.batch_api == "anthropic_message_batches"
    assert caps.batch_max_requests == 100_000
    assert caps.batch_max_bytes == 256 * 1024 * 1024
    assert caps.default_batch_size == 10_000
    assert caps.max_cache_breakpoints == 4
    assert caps.cache_ttl_options == (300, 3600)
    assert caps.batch_discount == Decimal("0.5")
    assert caps.cache_read_multiplier == Decimal("0.1")
    assert dict(caps.cache_write_multipliers) == {300: Decimal("1.25"), 3600: Decimal("2")}
    assert caps.discounts_stack


def test_openai_capabilities():
    caps = ProviderCapabilities.detect("openAI", "gpt-4o")
    assert caps.supports_batching
    assert caps.supports_caching
    assert caps.cache_marker_type == "automatic"
    assert caps.max_cache_breakpoints == 0
    assert caps.batch_max_requests == 50_000
    assert caps.batch_max_bytes == 200 * 1024 * 1024
    assert caps.default_batch_size == 50_000
    assert caps.min_cacheable_tokens == 1024


def test_gemini_capabilities():
    caps = ProviderCapabilities.detect("gemini", "gemini-2.5-flash")
    assert caps.supports_batching
    assert caps.supports_caching
    assert caps.cache_marker_type == "automatic"
    assert caps.default_batch_size == 10_000
    assert not caps.discounts_stack


def test_openai_and_azure_cache_reads_are_halved_in_a_batch_too():
    for provider in ("openAI", "azureOpenAI"):
        caps = ProviderCapabilities.detect(provider, "gpt-5.4")
        assert caps.discounts_stack
        assert caps.explicit_cache_api is None


@pytest.mark.parametrize(
    ("model", "retentions"),
    [
        ("gpt-4.1", ("in_memory", "24h")),
        ("gpt-5", ("in_memory", "24h")),
        ("gpt-5.1-2025-11-13", ("in_memory", "24h")),
        ("gpt-5.4", ("in_memory", "24h")),
        # Not on the extended-retention list: in-memory only.
        ("gpt-5-mini", ("in_memory",)),
        ("gpt-5.4-mini", ("in_memory",)),
        ("gpt-4o", ("in_memory",)),
        # gpt-5.5 "and future models" accept only 24h.
        ("gpt-5.5", ("24h",)),
        ("gpt-6.2-sol", ("24h",)),
    ],
)
def test_extended_prompt_cache_retention_follows_openais_model_list(model, retentions):
    caps = ProviderCapabilities.detect("openAI", model)
    assert caps.prompt_cache_retentions == retentions
    assert caps.extended_cache_retention == ("24h" if "24h" in retentions else None)
    assert ProviderCapabilities.detect("azureOpenAI", model).prompt_cache_retentions == retentions


def test_gemini_offers_explicit_context_caches_and_keeps_cached_tokens_out_of_the_batch_discount():
    for provider in ("gemini", "vertexAI"):
        caps = ProviderCapabilities.detect(provider, "gemini-2.5-pro")
        assert caps.explicit_cache_api == "gemini_cached_contents"
        assert not caps.discounts_stack
        assert caps.prompt_cache_retentions == ()
    # Gemini 3 needs 4,096 prompt tokens before the implicit cache applies.
    assert ProviderCapabilities.detect("gemini", "gemini-3.1-pro-preview").min_cacheable_tokens == (
        4096
    )


def test_ollama_capabilities():
    for provider in ("ollama", "lmStudio", "openAICompatible", "litellmProxy", "cohere"):
        caps = ProviderCapabilities.detect(provider, "whatever-model")
        assert not caps.supports_batching
        assert not caps.supports_caching
        assert not caps.optimizable
        assert caps.cache_marker_type is None


def test_unknown_provider(caplog):
    with caplog.at_level(logging.WARNING, logger="optimization.capabilities"):
        caps = ProviderCapabilities.detect("not-a-provider", "some-model")
    assert not caps.known
    assert not caps.optimizable
    assert caps.max_cache_breakpoints == 0
    assert "not-a-provider" in caplog.text


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-3-haiku-20240307", 2048),
        ("claude-3-5-haiku-20241022", 2048),
        ("claude-3-7-sonnet-20250219", 1024),
        ("claude-sonnet-4-20250514", 1024),
        ("claude-sonnet-4-5-20250929", 1024),
        ("claude-sonnet-4-5", 1024),
        ("claude-opus-4-20250514", 1024),
        ("claude-opus-4-1-20250805", 1024),
        ("claude-opus-4-5-20251101", 4096),
        ("claude-opus-4-6", 4096),
        ("claude-haiku-4-5-20251001", 4096),
        ("claude-haiku-4-5", 4096),
        ("claude-opus-4-8", 1024),
        ("claude-sonnet-5", 1024),
        ("claude-opus-5", 512),
        ("claude-opus-5-5", 512),
        ("claude-sonnet-5-5", 512),
        ("claude-haiku-5-5", 512),
        ("claude-fable-5-1", 512),
        ("claude-mythos-5-1", 512),
        ("claude-mythos-preview", 4096),
    ],
)
def test_it_knows_the_minimum_cacheable_length_of_each_claude_model(model, minimum):
    caps = ProviderCapabilities.detect("anthropic", model)
    assert caps.min_cacheable_tokens == minimum
    assert caps.model == model


@pytest.mark.parametrize(
    ("model", "parsed"),
    [
        ("claude-sonnet-4-5-20250929", ("sonnet", 4, 5)),
        ("claude-opus-4-20250514", ("opus", 4, 0)),
        ("claude-3-5-haiku-latest", ("haiku", 3, 5)),
        ("claude-3-opus-20240229", ("opus", 3, 0)),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", ("sonnet", 4, 5)),
        ("anthropic.claude-3-haiku-20240307-v1:0", ("haiku", 3, 0)),
        ("claude-sonnet-4-5@20250929", ("sonnet", 4, 5)),
        ("anthropic/claude-sonnet-4.5", ("sonnet", 4, 5)),
        ("Claude-Haiku-4-5", ("haiku", 4, 5)),
        ("gpt-4o", None),
        ("claude-instant", None),
        ("claude-sonnet-5-5", ("sonnet", 5, 5)),
        ("claude-sonnet-5-20260630", ("sonnet", 5, 0)),
        ("anthropic.claude-sonnet-5-5", ("sonnet", 5, 5)),
        ("us.anthropic.claude-sonnet-5-5-20260928-v1:0", ("sonnet", 5, 5)),
        ("claude-sonnet-5-5@20260928", ("sonnet", 5, 5)),
        ("anthropic/claude-sonnet-5.5", ("sonnet", 5, 5)),
        ("global.anthropic.claude-opus-5", ("opus", 5, 0)),
        ("claude-fable-5-2", ("fable", 5, 2)),
        ("anthropic/claude-mythos-5.1", ("mythos", 5, 1)),
        ("claude-mythos-preview", None),
    ],
)
def test_it_parses_claude_model_ids_in_every_vendor_spelling(model, parsed):
    assert parse_claude_model(model) == parsed


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-5-5",
        "anthropic.claude-sonnet-5-5",
        "us.anthropic.claude-haiku-5-5",
        "claude-opus-5-5@20260922",
        "anthropic/claude-fable-5.1",
    ],
)
@pytest.mark.parametrize("provider", ["anthropic", "bedrock", "vertexAI", "openRouter", "azureAI"])
def test_every_claude_5_family_caches_explicitly_from_512_tokens_on_every_host(
    provider, model, caplog
):
    with caplog.at_level(logging.WARNING, logger="optimization.capabilities"):
        caps = ProviderCapabilities.detect(provider, model)
    assert caps.cache_marker_type == "explicit"
    assert caps.max_cache_breakpoints == 4
    assert caps.min_cacheable_tokens == 512
    assert caplog.records == []


@pytest.mark.parametrize(
    "model", ["claude-fable-5-2", "claude-mythos-5-2", "claude-fable-5", "claude-opus-4-7"]
)
def test_claude_models_without_an_agreed_official_minimum_fall_back_with_a_warning(model, caplog):
    with caplog.at_level(logging.WARNING, logger="optimization.capabilities"):
        caps = ProviderCapabilities.detect("anthropic", model)
    assert caps.supports_caching
    assert caps.supports_batching
    assert caps.min_cacheable_tokens == 1024
    assert model in caplog.text


def test_gpt_6_models_cache_automatically():
    caps = ProviderCapabilities.detect("openAI", "gpt-6.2-sol")
    assert caps.cache_marker_type == "automatic"
    assert caps.supports_batching


def test_bedrock_serves_claude_with_explicit_caching_and_batch_inference():
    caps = ProviderCapabilities.detect("bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0")
    assert caps.cache_marker_type == "explicit"
    assert caps.min_cacheable_tokens == 4096
    assert caps.supports_batching
    assert caps.batch_api == "bedrock_batch_inference"


def test_bedrock_serves_llama_without_caching_but_with_batching():
    caps = ProviderCapabilities.detect("bedrock", "meta.llama3-70b-instruct-v1:0")
    assert not caps.supports_caching
    assert caps.max_cache_breakpoints == 0
    assert caps.supports_batching


def test_bedrock_degrades_for_a_family_it_does_not_know(caplog):
    with caplog.at_level(logging.WARNING, logger="optimization.capabilities"):
        caps = ProviderCapabilities.detect("bedrock", "ai21.jamba-1-5-large-v1:0")
    assert not caps.optimizable
    assert not caps.known
    assert "ai21.jamba" in caplog.text


def test_vertex_caches_claude_explicitly_and_gemini_automatically():
    claude = ProviderCapabilities.detect("vertexAI", "claude-sonnet-4-5@20250929")
    gemini = ProviderCapabilities.detect("vertexAI", "gemini-2.5-pro")
    assert claude.cache_marker_type == "explicit"
    assert claude.max_cache_breakpoints == 4
    assert claude.supports_batching
    assert gemini.cache_marker_type == "automatic"
    assert gemini.supports_batching
    assert gemini.batch_api == "vertex_batch_prediction"


def test_gemini_before_2_5_has_no_implicit_caching_but_batches():
    caps = ProviderCapabilities.detect("gemini", "gemini-2.0-flash")
    assert not caps.supports_caching
    assert caps.supports_batching


def test_gemini_implicit_caching_minimums_follow_the_generation():
    assert ProviderCapabilities.detect("gemini", "gemini-2.5-pro").min_cacheable_tokens == 2048
    flash = ProviderCapabilities.detect("gemini", "gemini-2.5-flash-lite")
    assert flash.min_cacheable_tokens == 2048
    assert ProviderCapabilities.detect("gemini", "gemini-3-pro").min_cacheable_tokens == 4096
    assert ProviderCapabilities.detect("gemini").min_cacheable_tokens == 2048


def test_bedrock_records_no_batch_limit_because_they_are_account_quotas():
    caps = ProviderCapabilities.detect("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert caps.batch_max_requests is None
    assert caps.batch_max_bytes is None
    assert caps.default_batch_size == 10_000


def test_a_non_gemini_model_on_gemini_degrades(caplog):
    with caplog.at_level(logging.WARNING, logger="optimization.capabilities"):
        caps = ProviderCapabilities.detect("gemini", "text-bison")
    assert not caps.optimizable
    assert "text-bison" in caplog.text


def test_a_gemini_model_name_without_a_version_does_not_claim_caching():
    caps = ProviderCapabilities.detect("gemini", "gemini-pro-latest")
    assert not caps.supports_caching
    assert caps.supports_batching


def test_openrouter_passes_cache_control_through_for_claude_only():
    claude = ProviderCapabilities.detect("openRouter", "anthropic/claude-sonnet-4.5")
    openai = ProviderCapabilities.detect("openRouter", "openai/gpt-4o")
    llama = ProviderCapabilities.detect("openRouter", "meta-llama/llama-3.3-70b-instruct")
    assert claude.cache_marker_type == "explicit"
    assert claude.min_cacheable_tokens == 1024
    assert openai.cache_marker_type == "automatic"
    assert not llama.supports_caching
    assert not any(caps.supports_batching for caps in (claude, openai, llama))


def test_azure_ai_caches_claude_explicitly_and_gpt_automatically():
    assert ProviderCapabilities.detect("azureAI", "claude-opus-4-5").cache_marker_type == (
        "explicit"
    )
    assert ProviderCapabilities.detect("azureAI", "gpt-4.1").cache_marker_type == "automatic"
    assert not ProviderCapabilities.detect("azureAI", "Phi-4").supports_caching


def test_azure_openai_batches_and_caches_automatically():
    caps = ProviderCapabilities.detect("azureOpenAI", "gpt-4o-mini")
    assert caps.cache_marker_type == "automatic"
    assert caps.supports_batching
    assert caps.default_batch_size == 50_000


def test_openai_models_older_than_gpt_4o_do_not_cache_but_batch():
    caps = ProviderCapabilities.detect("openAI", "gpt-3.5-turbo")
    assert not caps.supports_caching
    assert caps.supports_batching


def test_groq_caches_only_on_the_models_that_do():
    assert ProviderCapabilities.detect("groq", "moonshotai/kimi-k2-instruct").supports_caching
    assert not ProviderCapabilities.detect("groq", "llama-3.3-70b-versatile").supports_caching


def test_xai_caches_automatically():
    caps = ProviderCapabilities.detect("xai", "grok-4")
    assert caps.cache_marker_type == "automatic"
    assert not caps.supports_batching


def test_a_non_claude_model_on_anthropic_degrades_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="optimization.capabilities"):
        caps = ProviderCapabilities.detect("anthropic", "gpt-4o")
    assert not caps.optimizable
    assert not caps.known
    assert "gpt-4o" in caplog.text


def test_a_claude_model_missing_from_the_table_keeps_caching_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="optimization.capabilities"):
        caps = ProviderCapabilities.detect("anthropic", "claude-sonnet-9-9")
    assert caps.supports_caching
    assert caps.supports_batching
    assert caps.min_cacheable_tokens == 1024
    assert "claude-sonnet-9-9" in caplog.text


def test_detect_never_raises_on_odd_input():
    for provider, model in [("", None), ("ANTHROPIC", "claude"), ("openAI", ""), ("xai", None)]:
        caps = ProviderCapabilities.detect(provider, model)
        assert caps.provider == provider
