"""What each PipesHub LLM provider (and model) offers for batching and prompt caching.

`ProviderCapabilities.detect(provider, model)` is the one place that knows. Provider ids are
PipesHub's `LLMProvider` enum values, spelled exactly as in
backend/python/app/utils/aimodels.py of pipeshub-ai/pipeshub-ai (19 ids, read 2026-11-25).

Facts and where they come from (checked 2026-11-25 unless marked otherwise):

- anthropic: Message Batches API, at most 100,000 requests or 256 MB per batch, 50% price, ends
  within 24 h (platform.claude.com, "Batch processing" and "Create a Message Batch"). Prompt
  caching with explicit `cache_control`, at most 4 breakpoints, TTL 5 min (default) or 1 h; writes
  cost 1.25x (5 min) or 2x (1 h) the input price, reads 0.1x; the batch discount stacks on cache
  prices (platform.claude.com "Pricing"). Minimum cacheable prompt length per model: see
  `_CLAUDE_MIN_CACHEABLE`, each entry with its source and how sure it is.
- bedrock: Claude models cache with explicit breakpoints (Converse `cachePoint`, same rules as
  Anthropic); other families (Llama, Mistral, Titan, ...) do not cache here. Batch inference
  (S3 JSONL jobs, 50% for supported models); per-job record and size limits are adjustable
  account quotas in AWS Service Quotas, so none is recorded here (None).
- vertexAI: Claude on Vertex caches like Anthropic (explicit); Gemini 2.5+ caches implicitly
  (automatic). Batch prediction exists for both; Google documents no single request-count cap we
  could verify, so limits are None.
- openAI: automatic caching from 1,024 prompt tokens on gpt-4o and newer, no markers and no
  extra fee; `prompt_cache_key` is combined with the prefix hash to route requests (more than
  about 15 requests per minute per prefix and key overflow to other machines); `cached_tokens` in
  the usage (developers.openai.com "Prompt caching", official, read 2026-11-30). Extended
  retention (`prompt_cache_retention="24h"`, cached prefixes kept up to 24 h by offloading to
  GPU-local storage) is offered by gpt-5.4, gpt-5.3-codex, gpt-5.2, gpt-5.1-codex-max, gpt-5.1,
  gpt-5.1-codex, gpt-5.1-codex-mini, gpt-5.1-chat, gpt-5, gpt-5-codex and gpt-4.1 (their default
  is in_memory); gpt-5.5, gpt-5.5-pro "and future models" accept only 24h (openai-java
  ResponseCreateParams.PromptCacheRetention, generated from OpenAI's API spec, and the Azure
  page below, both read 2026-11-30). It costs the same as in-memory retention, so it always
  pays where offered; it is not zero-data-retention eligible. Batch API 50,000 requests, 200 MB
  input file, 24 h window, 50% price (OpenAI API reference, "Create batch", read 2026-11-25);
  cached input is halved in a batch too (`discounts_stack`; prices in optimization.price_table).
- azureOpenAI: the same automatic caching and retention list ("Prompt cache pricing is the same
  for both retention policies", learn.microsoft.com Azure OpenAI "Prompt caching", read
  2026-11-30). Global Batch: 50% less than Global Standard, its own enqueued-token quota per
  deployment (learn.microsoft.com "Getting started with Azure OpenAI batch deployments", read
  2026-11-30); the per-file limits below (100,000 requests / 200 MB) are from memory and were
  not found in our sources on 2026-11-30: not re-verified.
- azureAI: Claude deployments in Microsoft Foundry are called through ChatAnthropic and take
  explicit `cache_control`; other models (OpenAI family) cache automatically. No batch route.
- gemini: implicit (automatic) caching on Gemini 2.5 and later, from 2,048 tokens on 2.5 and
  4,096 on 3.x (ai.google.dev "Context caching", updated 2026-10-13), with no storage charge;
  explicit context caches (`cachedContents`, TTL default 1 h) are billed per million tokens per
  hour of storage on top of the cached-token price. Batch API at 50% with a JSONL input file up
  to 2 GB (inline requests up to 20 MB) (ai.google.dev "Batch API"); cache hits inside a batch are
  "priced the same as for non-batch" traffic, so the batch discount does not stack on cached
  tokens (`discounts_stack=False`; same page, read 2026-11-30). Vertex AI batch prediction
  refuses explicit `cachedContent` (Google staff on discuss.ai.google.dev, 2025: secondary).
- openRouter: passes `cache_control` through to Claude models (explicit); OpenAI, DeepSeek and
  Grok models behind it cache automatically; no batch API.
- xai: automatic caching; groq: automatic caching on the models that have it (Kimi K2,
  gpt-oss). Groq, Mistral, Together and Fireworks also sell discounted batch APIs, but we could
  not verify their limits, so they are recorded as not batching until someone does.
- cohere, minimax, mistral, together, ollama, lmStudio, openAICompatible, litellmProxy: no prompt
  caching we can drive (local servers and generic proxies cannot be known to cache).

`supports_batching` states what the provider offers; `batch_api` names the API so a caller can
check whether it has a client for it: Anthropic's Message Batches, OpenAI's and Azure OpenAI's
Batch API and Gemini's Batch Mode have one (see `optimization.families`); Bedrock's and Vertex
AI's batch jobs do not yet.

Claude models current on 2026-11-25 (anthropic SDK 2.14.0 `ModelParam`; checked that day against
platform.claude.com model overview pages, quoted through public mirrors of those pages):

    model              max out  batch max out (beta)  sampling params   min cacheable
    claude-sonnet-5-5  128K     300K                  400 if non-default 512 (official)
    claude-sonnet-5    128K     300K                  400 if non-default 1024 (secondary)
    claude-haiku-5-5   128K     300K                  400 if non-default 512 (official)
    claude-opus-5-5    128K     300K                  (not stated)       512 (official)
    claude-opus-5      128K     300K                  (not stated)       512 (official)
    claude-fable-5-1   128K     -                     400 if non-default 512 (official)
    claude-mythos-5-1  same model as Fable 5.1, verified organisations only
    claude-opus-4-8    128K     300K                  refused (PipesHub) 1024 (secondary)
    claude-opus-4-7    (not checked) 300K             refused (PipesHub) not recorded: sources
                                                                         disagree (2048 vs 4096)
    claude-haiku-4-5   64K      -                     accepted           4096 (official)

"Batch max out" needs the `output-300k-2026-03-24` beta header (models overview footnote lists
Opus 5.5, Opus 5, Sonnet 5.5, Sonnet 5, Haiku 5.5, Opus 4.8, Opus 4.7, Opus 4.6, Sonnet 4.6).
Tokenizer: Claude Opus 4.7 introduced a new tokenizer that every later model uses (Sonnet 5 was
the first Sonnet on it, Haiku 5.5 the first Haiku): the same text counts about 30% more tokens
than on Claude Haiku 4.5 / Sonnet 4.x, so minimums, budgets and prices per character shift.
Not recorded (falling back to DEFAULT_CLAUDE_MIN_CACHEABLE with a warning): claude-fable-5 /
claude-mythos-5 (gateway docs disagree, 512 vs 2048), claude-fable-5-2 / claude-mythos-5-2
(released 2026-11-09, no official page in our sources yet), claude-opus-4-7 (see above).
claude-mythos-preview: 4096 per the prompt-caching page (Mythos Preview, Opus 4.6, Opus 4.5).

Unknown providers and unknown models degrade to "no optimization" with a logged warning and
never raise. A Claude model whose version is not in the table keeps caching and batching with the
conservative defaults below, and logs a warning so the table gets updated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

logger = logging.getLogger(__name__)

CacheMarkerType = Literal["explicit", "automatic"]

PROVIDERS: tuple[str, ...] = (
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
)

ANTHROPIC_MAX_BREAKPOINTS = 4
ANTHROPIC_BATCH_MAX_REQUESTS = 100_000
ANTHROPIC_BATCH_MAX_BYTES = 256 * 1024 * 1024
OPENAI_BATCH_MAX_REQUESTS = 50_000
OPENAI_BATCH_MAX_BYTES = 200 * 1024 * 1024
AZURE_OPENAI_BATCH_MAX_REQUESTS = 100_000
GEMINI_BATCH_MAX_BYTES = 2 * 1024 * 1024 * 1024
# The Phase 1 plan's default flush sizes (a deliberate choice below the hard limits).
DEFAULT_BATCH_SIZE_ANTHROPIC = 10_000
DEFAULT_BATCH_SIZE_GEMINI = 10_000
DEFAULT_BATCH_SIZE_OPENAI = 50_000

CACHE_TTL_OPTIONS: tuple[int, ...] = (300, 3600)
BATCH_DISCOUNT = Decimal("0.5")
CACHE_READ_MULTIPLIER = Decimal("0.1")
CACHE_WRITE_MULTIPLIERS: Mapping[int, Decimal] = MappingProxyType(
    {300: Decimal("1.25"), 3600: Decimal("2")}
)
# Lowest documented minimum among current Claude models we lack a precise figure for: a
# breakpoint below the real minimum only goes unused (Anthropic caches nothing and charges no
# write premium), while a figure set too high would forgo real savings.
DEFAULT_CLAUDE_MIN_CACHEABLE = 1024
# OpenAI's prompt-caching page (as quoted in public notes read 2026-09-02): "1,024 tokens for
# GPT-5.6 and later and 2,048 tokens for models older than GPT-5.6"; another quote of the same
# page says "varies by request settings for earlier models". Sources disagree for older models,
# so the lower figure stays (a too-low minimum costs nothing with automatic caching).
OPENAI_MIN_CACHEABLE = 1024
# Gemini implicit caching minimums (ai.google.dev "Context caching", page updated 2026-10-13:
# 2,048 for Gemini 2.5 Flash and Pro, 4,096 for the Gemini 3 generation).
GEMINI_2_5_MIN_CACHEABLE = 2048
GEMINI_3_MIN_CACHEABLE = 4096

# Minimum cacheable prompt length per Claude family and version, (family, major, minor).
_CLAUDE_MIN_CACHEABLE: Mapping[tuple[str, int, int], int] = MappingProxyType(
    {
        ("opus", 3, 0): 1024,
        ("sonnet", 3, 5): 1024,
        ("sonnet", 3, 7): 1024,
        ("haiku", 3, 0): 2048,
        ("haiku", 3, 5): 2048,
        ("opus", 4, 0): 1024,
        ("opus", 4, 1): 1024,
        ("sonnet", 4, 0): 1024,
        ("sonnet", 4, 5): 1024,
        # The prompt-caching page listed Sonnet 4.6 at 1024 (quoted in anthropic-sdk-python
        # #1194, which observed 2048 in practice); a later version of the page lists 2048.
        # Kept at 1024 until the lead decides: too low only wastes a breakpoint slot.
        ("sonnet", 4, 6): 1024,
        ("haiku", 4, 5): 4096,
        ("opus", 4, 5): 4096,
        ("opus", 4, 6): 4096,
        # Secondary sources only (dev.to "Claude's prompt cache fails silently below 1,024
        # tokens", a public test harness: "Opus 4.8 lowered it from 2,048"); no official page.
        ("opus", 4, 8): 1024,
        # Secondary (same dev.to article); the Sonnet 5 overview page states no minimum.
        ("sonnet", 5, 0): 1024,
        # Official: "The minimum cacheable prompt length is 512 tokens." on each model's
        # platform.claude.com overview page (Fable 5.1: its what's-new page), read 2026-11-25.
        ("opus", 5, 0): 512,
        ("opus", 5, 5): 512,
        ("sonnet", 5, 5): 512,
        ("haiku", 5, 5): 512,
        ("fable", 5, 1): 512,
        # Claude Mythos 5.1 is documented as the same model as Fable 5.1 with other safeguards.
        ("mythos", 5, 1): 512,
    }
)
# Claude models whose id carries no version number.
_CLAUDE_MIN_CACHEABLE_BY_NAME: Mapping[str, int] = MappingProxyType({"claude-mythos-preview": 4096})

# Most output tokens (max_tokens) one request may ask of a Claude model, synchronous or through
# Message Batches without the output-300k beta (llmopt does not send it). From the table in this
# module's docstring (checked 2026-11-25) unless marked.
_CLAUDE_MAX_OUTPUT: Mapping[tuple[str, int, int], int] = MappingProxyType(
    {
        ("sonnet", 5, 5): 128_000,
        ("sonnet", 5, 0): 128_000,
        ("haiku", 5, 5): 128_000,
        ("opus", 5, 5): 128_000,
        ("opus", 5, 0): 128_000,
        ("fable", 5, 1): 128_000,
        ("mythos", 5, 1): 128_000,  # the same model as Fable 5.1
        ("opus", 4, 8): 128_000,
        ("haiku", 4, 5): 64_000,
        # platform.claude.com "Claude Opus 4.5" overview (a legacy model): "Max output: 64K".
        ("opus", 4, 5): 64_000,
    }
)
# The most any Claude model in that table writes: the bound for one not in it.
CLAUDE_MAX_OUTPUT_CEILING = max(_CLAUDE_MAX_OUTPUT.values())


def claude_max_output_tokens(model: str) -> int | None:
    """The most output tokens `model` takes per request (its `max_tokens` limit), or None when
    it is not a Claude model in the table (CLAUDE_MAX_OUTPUT_CEILING bounds those)."""
    parsed = parse_claude_model(model)
    return _CLAUDE_MAX_OUTPUT.get(parsed) if parsed else None


_NEW_STYLE = re.compile(r"claude-(opus|sonnet|haiku|fable|mythos)-(\d+)(?:[-.](\d)(?!\d))?")
_OLD_STYLE = re.compile(r"claude-(\d)(?:[-.](\d)(?!\d))?-(opus|sonnet|haiku)")
_UNVERSIONED = re.compile(r"claude-mythos-preview")


def unversioned_claude_model(model: str) -> str | None:
    """The name of a Claude model whose id has no version (claude-mythos-preview), else None."""
    match = _UNVERSIONED.search(model.lower())
    return match[0] if match else None


def parse_claude_model(model: str) -> tuple[str, int, int] | None:
    """(family, major, minor) of a Claude model id in any vendor's spelling, else None.

    Understands dated ids (claude-sonnet-4-5-20250929), aliases (claude-sonnet-4-5), the old
    order (claude-3-5-haiku-20241022), Bedrock (us.anthropic.claude-sonnet-4-5-20250929-v1:0,
    anthropic.claude-sonnet-5-5), Vertex (claude-sonnet-4-5@20250929) and OpenRouter
    (anthropic/claude-sonnet-5.5) ids, for the Opus, Sonnet, Haiku, Fable and Mythos families.
    """
    text = model.lower()
    match = _NEW_STYLE.search(text)
    if match:
        return match[1], int(match[2]), int(match[3] or 0)
    match = _OLD_STYLE.search(text)
    if match:
        return match[3], int(match[1]), int(match[2] or 0)
    return None


def _is_claude(model: str | None) -> bool:
    return model is not None and "claude" in model.lower()


@dataclass(frozen=True)
class ProviderCapabilities:
    """Batching and caching facts for one provider, optionally narrowed to one model.

    Example:
        >>> caps = ProviderCapabilities.detect("anthropic", "claude-haiku-4-5")
        >>> caps.supports_caching, caps.cache_marker_type, caps.min_cacheable_tokens
        (True, 'explicit', 4096)
    """

    provider: str
    model: str | None = None
    supports_batching: bool = False
    supports_caching: bool = False
    cache_marker_type: CacheMarkerType | None = None
    batch_api: str | None = None
    batch_max_requests: int | None = None
    batch_max_bytes: int | None = None
    default_batch_size: int | None = None
    max_cache_breakpoints: int = 0
    min_cacheable_tokens: int = 0
    cache_ttl_options: tuple[int, ...] = ()
    batch_discount: Decimal = BATCH_DISCOUNT
    cache_read_multiplier: Decimal = CACHE_READ_MULTIPLIER
    cache_write_multipliers: Mapping[int, Decimal] = field(
        default_factory=lambda: MappingProxyType({})
    )
    # True when the batch discount also applies to cache reads (Anthropic, OpenAI); Gemini bills
    # cached tokens in a batch at the standard cached price. Prices: optimization.price_table.
    discounts_stack: bool = False
    # OpenAI `prompt_cache_retention` values the model accepts, the longest last; () where the
    # parameter does not apply. "24h" costs the same as "in_memory".
    prompt_cache_retentions: tuple[str, ...] = ()
    # The API for explicit cache objects with a storage price ("gemini_cached_contents"), if any.
    explicit_cache_api: str | None = None
    known: bool = True

    @property
    def extended_cache_retention(self) -> str | None:
        """The `prompt_cache_retention` value that keeps the cache longest ("24h"), or None
        when the model offers no extended retention."""
        return "24h" if "24h" in self.prompt_cache_retentions else None

    @property
    def optimizable(self) -> bool:
        """True when either batching or caching can cut this provider's bill."""
        return self.supports_batching or self.supports_caching

    @classmethod
    def detect(cls, provider: str, model: str | None = None) -> ProviderCapabilities:
        """Capabilities of `provider` (a PipesHub id) serving `model` (any id spelling).

        Never raises: an unknown provider or model gives a capabilities object with every
        optimization off (`known=False`) and logs a warning.
        """
        detector = _DETECTORS.get(provider)
        if detector is None:
            logger.warning(
                "unknown LLM provider %r: prompt caching and batching stay off", provider
            )
            return cls(provider=provider, model=model, known=False)
        return detector(provider, model)


def _nothing(provider: str, model: str | None) -> ProviderCapabilities:
    return ProviderCapabilities(provider=provider, model=model)


def _claude_caching(provider: str, model: str | None) -> ProviderCapabilities:
    """Anthropic-style explicit caching for a Claude model (any host)."""
    minimum = DEFAULT_CLAUDE_MIN_CACHEABLE
    if model is not None:
        parsed = parse_claude_model(model)
        name = None if parsed else unversioned_claude_model(model)
        table_value = (
            _CLAUDE_MIN_CACHEABLE.get(parsed)
            if parsed
            else _CLAUDE_MIN_CACHEABLE_BY_NAME.get(name)
            if name
            else None
        )
        if table_value is None:
            logger.warning(
                "Claude model %r is not in the capability table: assuming a minimum cacheable "
                "length of %d tokens",
                model,
                minimum,
            )
        else:
            minimum = table_value
    return ProviderCapabilities(
        provider=provider,
        model=model,
        supports_caching=True,
        cache_marker_type="explicit",
        max_cache_breakpoints=ANTHROPIC_MAX_BREAKPOINTS,
        min_cacheable_tokens=minimum,
        cache_ttl_options=CACHE_TTL_OPTIONS,
        cache_write_multipliers=CACHE_WRITE_MULTIPLIERS,
        discounts_stack=True,
    )


def _automatic_caching(
    provider: str, model: str | None, minimum: int = OPENAI_MIN_CACHEABLE
) -> ProviderCapabilities:
    return ProviderCapabilities(
        provider=provider,
        model=model,
        supports_caching=True,
        cache_marker_type="automatic",
        min_cacheable_tokens=minimum,
    )


def _unknown_model(provider: str, model: str | None, why: str) -> ProviderCapabilities:
    logger.warning(
        "model %r on provider %r: %s; prompt caching and batching stay off", model, provider, why
    )
    return ProviderCapabilities(provider=provider, model=model, known=False)


def _anthropic(provider: str, model: str | None) -> ProviderCapabilities:
    if model is not None and not _is_claude(model):
        return _unknown_model(provider, model, "not a Claude model")
    return replace(
        _claude_caching(provider, model),
        supports_batching=True,
        batch_api="anthropic_message_batches",
        batch_max_requests=ANTHROPIC_BATCH_MAX_REQUESTS,
        batch_max_bytes=ANTHROPIC_BATCH_MAX_BYTES,
        default_batch_size=DEFAULT_BATCH_SIZE_ANTHROPIC,
    )


_BEDROCK_BATCH_FAMILIES = ("llama", "meta", "mistral", "titan", "amazon", "nova")


def _with_bedrock_batch(caps: ProviderCapabilities) -> ProviderCapabilities:
    return replace(
        caps,
        supports_batching=True,
        batch_api="bedrock_batch_inference",
        # Per-job record and size limits are adjustable account quotas (Service Quotas).
        batch_max_requests=None,
        batch_max_bytes=None,
        default_batch_size=10_000,
    )


def _bedrock(provider: str, model: str | None) -> ProviderCapabilities:
    if model is None or _is_claude(model):
        return _with_bedrock_batch(_claude_caching(provider, model))
    if any(family in model.lower() for family in _BEDROCK_BATCH_FAMILIES):
        return _with_bedrock_batch(_nothing(provider, model))
    return _unknown_model(provider, model, "model family not in the Bedrock table")


_OPENAI_CACHING_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-5", "gpt-6", "o1", "o3", "o4")


def _openai_caches(model: str | None) -> bool:
    if model is None:
        return True
    name = model.lower().rsplit("/", 1)[-1]
    return name.startswith(_OPENAI_CACHING_PREFIXES)


# Models that accept both retentions (their default is in_memory); see the module docstring.
_OPENAI_EXTENDED_RETENTION = frozenset(
    {
        "gpt-5.4",
        "gpt-5.3-codex",
        "gpt-5.2",
        "gpt-5.1-codex-max",
        "gpt-5.1",
        "gpt-5.1-codex",
        "gpt-5.1-codex-mini",
        "gpt-5.1-chat",
        "gpt-5",
        "gpt-5-codex",
        "gpt-4.1",
    }
)
# From this GPT version on only "24h" is accepted ("gpt-5.5, gpt-5.5-pro, and future models").
_OPENAI_24H_ONLY_FROM = (5, 5)
_GPT_VERSION = re.compile(r"gpt-(\d+)(?:\.(\d+))?")
_OPENAI_ID_NOISE = re.compile(r"^(?:openai/|azure/)|(?:-\d{4}-\d{2}-\d{2}|-latest)$")


def _openai_retentions(model: str | None) -> tuple[str, ...]:
    """The `prompt_cache_retention` values an OpenAI model accepts (no model: the default)."""
    if model is None:
        return ("in_memory",)
    name = _OPENAI_ID_NOISE.sub("", model.strip().lower())
    if name in _OPENAI_EXTENDED_RETENTION:
        return ("in_memory", "24h")
    version = _GPT_VERSION.match(name)
    if version and (int(version[1]), int(version[2] or 0)) >= _OPENAI_24H_ONLY_FROM:
        return ("24h",)
    return ("in_memory",)


def _openai_family_caching(provider: str, model: str | None) -> ProviderCapabilities:
    if not _openai_caches(model):
        return _nothing(provider, model)
    return replace(
        _automatic_caching(provider, model),
        discounts_stack=True,
        prompt_cache_retentions=_openai_retentions(model),
    )


def _openai_style(
    provider: str, model: str | None, *, batch_api: str, batch_max_requests: int
) -> ProviderCapabilities:
    """OpenAI's models as OpenAI or Azure serves them: automatic caching on the models that
    cache, and a half-price batch API named `batch_api`."""
    return replace(
        _openai_family_caching(provider, model),
        supports_batching=True,
        batch_api=batch_api,
        batch_max_requests=batch_max_requests,
        batch_max_bytes=OPENAI_BATCH_MAX_BYTES,
        default_batch_size=DEFAULT_BATCH_SIZE_OPENAI,
    )


def _openai(provider: str, model: str | None) -> ProviderCapabilities:
    return _openai_style(
        provider, model, batch_api="openai_batch", batch_max_requests=OPENAI_BATCH_MAX_REQUESTS
    )


def _azure_openai(provider: str, model: str | None) -> ProviderCapabilities:
    return _openai_style(
        provider,
        model,
        batch_api="azure_openai_global_batch",
        batch_max_requests=AZURE_OPENAI_BATCH_MAX_REQUESTS,
    )


def _azure_ai(provider: str, model: str | None) -> ProviderCapabilities:
    if _is_claude(model):
        return _claude_caching(provider, model)
    if model is not None and _openai_caches(model):
        return _automatic_caching(provider, model)
    return _nothing(provider, model)


_GEMINI_VERSION = re.compile(r"gemini-(\d+)(?:\.(\d+))?")


def _gemini_implicit_minimum(model: str | None) -> int | None:
    """Implicit-cache minimum for Gemini 2.5 and later, None for models without it."""
    if model is None:
        return GEMINI_2_5_MIN_CACHEABLE
    match = _GEMINI_VERSION.search(model.lower())
    if match is None:
        return None
    version = (int(match[1]), int(match[2] or 0))
    if version < (2, 5):
        return None
    return GEMINI_2_5_MIN_CACHEABLE if version < (3, 0) else GEMINI_3_MIN_CACHEABLE


def _gemini(provider: str, model: str | None) -> ProviderCapabilities:
    if model is not None and "gemini" not in model.lower():
        return _unknown_model(provider, model, "not a Gemini model")
    minimum = _gemini_implicit_minimum(model)
    base = (
        _nothing(provider, model)
        if minimum is None
        else replace(
            _automatic_caching(provider, model, minimum),
            explicit_cache_api="gemini_cached_contents",
        )
    )
    return replace(
        base,
        supports_batching=True,
        batch_api="gemini_batch",
        batch_max_bytes=GEMINI_BATCH_MAX_BYTES,
        default_batch_size=DEFAULT_BATCH_SIZE_GEMINI,
    )


def _vertex(provider: str, model: str | None) -> ProviderCapabilities:
    if _is_claude(model):
        base = _claude_caching(provider, model)
        return replace(
            base,
            supports_batching=True,
            batch_api="vertex_batch_prediction",
            default_batch_size=DEFAULT_BATCH_SIZE_ANTHROPIC,
        )
    gemini = _gemini(provider, model)
    return replace(gemini, batch_api="vertex_batch_prediction", batch_max_bytes=None)


def _open_router(provider: str, model: str | None) -> ProviderCapabilities:
    if _is_claude(model):
        return _claude_caching(provider, model)
    if model is not None:
        lowered = model.lower()
        if lowered.startswith(("openai/", "deepseek/", "x-ai/")):
            return _automatic_caching(provider, model)
    return _nothing(provider, model)


_GROQ_CACHING = ("kimi-k2", "gpt-oss")


def _groq(provider: str, model: str | None) -> ProviderCapabilities:
    if model is not None and any(name in model.lower() for name in _GROQ_CACHING):
        return _automatic_caching(provider, model)
    return _nothing(provider, model)


def _xai(provider: str, model: str | None) -> ProviderCapabilities:
    return _automatic_caching(provider, model)


_DETECTORS = {
    "anthropic": _anthropic,
    "bedrock": _bedrock,
    "azureAI": _azure_ai,
    "azureOpenAI": _azure_openai,
    "cohere": _nothing,
    "fireworks": _nothing,
    "gemini": _gemini,
    "groq": _groq,
    "litellmProxy": _nothing,
    "lmStudio": _nothing,
    "minimax": _nothing,
    "mistral": _nothing,
    "ollama": _nothing,
    "openAI": _openai,
    "openAICompatible": _nothing,
    "openRouter": _open_router,
    "together": _nothing,
    "vertexAI": _vertex,
    "xai": _xai,
}

__all__ = [
    "CACHE_TTL_OPTIONS",
    "CLAUDE_MAX_OUTPUT_CEILING",
    "PROVIDERS",
    "CacheMarkerType",
    "ProviderCapabilities",
    "claude_max_output_tokens",
    "parse_claude_model",
    "unversioned_claude_model",
]
