"""The built-in price table (USD per million tokens) and where every figure came from.

Claude rows and gpt-6.2-sol were checked on 2026-11-25 (`CLAUDE_CHECKED_ON`), the newer OpenAI
rows and the Gemini rows on 2026-11-30 (`PRICES_CHECKED_ON`), each against the sources below;
the older OpenAI rows were not re-read and keep 2026-11-25 (`PREVIOUS_CHECK`), the day the table
was last checked before. "Official" means the provider's own page (or a verbatim copy of it);
"secondary" means a dated third-party table quoting it.

- Claude: platform.claude.com "Pricing" (model table with base input, 5 min and 1 h cache
  writes, cache hits, output; Batch API 50% on all of them) and each model's overview page
  (platform.claude.com/docs/en/models/<model>/overview, "Pricing"). Claude 3 Haiku's 5 min write
  is $0.30, not 1.25x its input price; cache hits cost 0.05x input on Opus 5.5 and Sonnet 5.5 and
  0.025x on Fable 5.1 / Mythos 5.1: the table is copied, never derived.
  Claude Haiku 5.5 is priced by prompt length (input + cache reads + writes over 100,000 tokens
  pays the higher tier on every token of the request, output included): the table holds both
  tiers (`ModelPrice.long_context`, `ModelPrice.for_prompt`) and `cost_of` and `monthly_cost`
  charge the tier each call's prompt falls in.
  Not in the table: claude-fable-5-2 and claude-mythos-5-2 (released 2026-11-09; only gateway
  pages give a price, $8/$40, writes $10/$16, hits $0.20 - no official page in our sources) and
  claude-mythos-preview (no official price found). Add them with `register_price()` or the
  prices file once checked.
- OpenAI (also what Azure OpenAI's Global Standard and Global Batch deployments bill: Azure
  prices them at OpenAI's list, batch "50% less cost than global standard", learn.microsoft.com
  "Getting started with Azure OpenAI batch deployments", read 2026-11-30):
  * Caching is automatic from 1,024 prompt tokens on gpt-4o and newer and "has no additional
    fees" (developers.openai.com/docs/guides/prompt-caching, official, read 2026-11-30): a miss
    is plain input, so writes cost the input price. Extended retention (`prompt_cache_retention:
    "24h"`) costs the same as in-memory retention ("Prompt cache pricing is the same for both
    retention policies", learn.microsoft.com Azure OpenAI "Prompt caching", official); which
    models offer it is in `optimization.capabilities`.
  * Batch: 50% of standard on inputs and outputs (OpenAI pricing page, as quoted by TokenMix
    2026-06-04 and 2026-04-30, secondary). Cached input inside a batch: the Batch column lists
    cached input at half the standard cached price, and batch usage reports `cached_tokens`
    (developers.openai.com API reference "Batches", BatchUsage.input_tokens_details, official),
    so the discounts stack (`ModelPrice.automatic`). A secondary calculator (aipromptshub.co,
    2026) states the same: "a cached, batched call ... $0.50/1M cached input divided by 2".
  * gpt-5.5 $5 / cached $0.50 / $30, gpt-5.4 $2.50 / $0.25 / $15, gpt-5.4-mini $0.75 / $0.075 /
    $4.50, gpt-5.4-nano $0.20 / $0.02 / $1.25: OpenAI's pricing page as quoted by TokenMix
    (2026-06-04, secondary; the standard rates apply under 270K context, longer prompts are
    not modelled). gpt-5.2 $1.75 / $0.175 / $14 (nicolalazzari.ai 2026, secondary). gpt-5.4 and
    gpt-5.4-mini release dates are their Azure model versions (2026-03-05, 2026-03-17, official
    Azure Global Batch availability table); gpt-5.4-nano was released with mini (hivebook,
    secondary). gpt-5.5 and gpt-5.2 release dates were not found: dated the day they were read.
  * gpt-6.2-sol from its official model page (developers.openai.com/api/docs/models/gpt-6.2-sol,
    read 2026-11-25): input $2, cached $0.10, 30-minute cache write $2.50, output $10, Batch 50%.
    Before GPT-5.6 OpenAI had no write premium; from GPT-5.6 on a 30-minute cache write costs
    extra, recorded as the 5 min write (`cache_write_tokens` in OpenAI's usage, read by
    LangChain as `cache_creation`). Its >272K tier is not modelled.
  * Older rows (gpt-4o ... o4-mini, gpt-5, gpt-5.1) are OpenAI's pricing page as reproduced by
    several dated third-party tables, not re-read on 2026-11-30.
  Not in the table: gpt-6-sol, gpt-6.1-sol, gpt-6-luna, gpt-6.2-astra (only third-party figures).
- Gemini (Developer API ai.google.dev; Vertex AI bills the same list prices for these models):
  * Implicit caching: cache hits are billed at the model's "Context caching price", a 90%
    discount on 2.5 and later, with no storage charge; creating the cache costs plain input
    (cloud.google.com Vertex AI "Context cache overview", official, read 2026-11-30: "There are
    no storage costs for implicit caching", "billed for the input tokens used to create the
    cache at the standard input token price").
  * Explicit caching (`cachedContents`): reads at the same context-caching price plus storage
    "per 1,000,000 tokens per hour", billed for the TTL (ai.google.dev "Context caching" and
    "Pricing", official; "90% discount + Prorated token storage", ai.google.dev "Optimization").
  * Batch Mode: 50% of standard (ai.google.dev "Optimization", official); "Context caching is
    enabled for batch requests. If a request in your batch results in a cache hit, the cached
    tokens are priced the same as for non-batch" traffic (ai.google.dev "Batch API", official,
    read 2026-11-30): cache reads are not halved (`ModelPrice.gemini`). Vertex AI batch
    prediction refuses explicit `cachedContent` (Google staff on discuss.ai.google.dev, 2025).
  * gemini-2.5-pro $1.25 / cached $0.125 / $10 up to 200k prompt tokens, $2.50 / $0.25 / $15
    above, storage $4.50 (copy of the official pricing page's HTML table, read 2026-11-30).
    gemini-2.5-flash $0.30 / $0.03 / $2.50, storage $1.00; gemini-2.5-flash-lite $0.10 / $0.01 /
    $0.40 (official table, text/image/video prices; audio input is priced higher and not
    modelled); the flash-lite storage figure was cut off in our copy, so it is None.
    gemini-3.1-pro-preview $2 / $0.20 / $12 up to 200k, $4 / $0.40 / $18 above, storage $4.50
    (the official page's markdown as quoted verbatim in a price-sync test fixture).
    gemini-3-flash-preview $0.50 / $0.05 / $3, storage $1.00 (factquire.com quoting the official
    page 2026-07-04 for the token prices; storage from a code sample quoting the page,
    secondary). Release dates as found (3-flash-preview 2025-12-17); unknown ones are dated
    the day they were read.

Prices are versioned: each model has a list of `ModelPrice` entries with `effective_from`, and
`price_for(model, at=...)` returns the one in force at that moment, so an event recorded last
year keeps last year's price (o3's June 2025 cut is in the table as an example).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from optimization.model_price import PRICES_CHECKED_ON, ModelPrice

# The table's previous check: Claude rows were read that day, and so was gpt-6.2-sol; the older
# OpenAI rows carry it too, though they came from third-party copies (see above).
PREVIOUS_CHECK = CLAUDE_CHECKED_ON = date(2026, 11, 25)


def _checked(price: ModelPrice, day: date) -> ModelPrice:
    """`price`, and its long-context tier, marked as checked on `day`."""
    tier = None if price.long_context is None else _checked(price.long_context, day)
    return replace(price, checked_on=day, long_context=tier)


_CLAUDE: tuple[ModelPrice, ...] = (
    # Claude 5.x (platform.claude.com model overview pages, "Pricing" and "Released", and the
    # "Pricing" page's model table; read 2026-11-25). effective_from is the release date.
    # Sonnet 5.5 launched with cache hits at $0.20 (0.1x); the overview page now lists $0.10
    # (0.05x). The cut's date, 2026-10-07, comes from third-party price trackers (PromptFuel
    # v1.0.23, claudit v1.9.2) - no official page in our sources dates it.
    ModelPrice.claude("claude-sonnet-5-5", date(2026, 9, 28), "2", "10", "2.50", "4", "0.20"),
    ModelPrice.claude("claude-sonnet-5-5", date(2026, 10, 7), "2", "10", "2.50", "4", "0.10"),
    # Launched 2026-06-30 at $2/$10 called introductory; the planned rise to $3/$15 on
    # 2026-09-01 was cancelled, so there is no second row.
    ModelPrice.claude("claude-sonnet-5", date(2026, 6, 30), "2", "10", "2.50", "4", "0.20"),
    ModelPrice.claude("claude-opus-5-5", date(2026, 9, 22), "4", "20", "5", "8", "0.20"),
    ModelPrice.claude("claude-opus-5", date(2026, 7, 24), "5", "25", "6.25", "10", "0.50"),
    ModelPrice.claude("claude-fable-5-1", date(2026, 9, 1), "10", "50", "12.50", "20", "0.25"),
    ModelPrice.claude("claude-mythos-5-1", date(2026, 9, 1), "10", "50", "12.50", "20", "0.25"),
    ModelPrice.claude("claude-fable-5", date(2026, 6, 9), "10", "50", "12.50", "20", "1"),
    ModelPrice.claude("claude-mythos-5", date(2026, 6, 9), "10", "50", "12.50", "20", "1"),
    # Up to 100,000 prompt tokens; over that every token of the call pays the second tier.
    ModelPrice.claude(
        "claude-haiku-5-5", date(2026, 10, 7), "0.10", "0.50", "0.125", "0.20", "0.01"
    ).above(
        100_000,
        ModelPrice.claude(
            "claude-haiku-5-5", date(2026, 10, 7), "0.50", "2.50", "0.625", "1", "0.05"
        ),
    ),
    # Opus 4.7 and 4.8 ("Pricing" page table). Their release dates were not checked: the
    # effective_from below is the day the price was read, which only orders rows (events
    # before it still get this price, the earliest known).
    ModelPrice.claude("claude-opus-4-8", CLAUDE_CHECKED_ON, "5", "25", "6.25", "10", "0.50"),
    ModelPrice.claude("claude-opus-4-7", CLAUDE_CHECKED_ON, "5", "25", "6.25", "10", "0.50"),
    # Claude 4.6 and older (platform.claude.com "Pricing"). effective_from is each model's
    # release date as best known (the 4.6 dates are approximate). claude-sonnet-4-5 reaches
    # end-of-life on 2026-11-30 and stays for history (and the Phase 1 plan's Appendix D).
    ModelPrice.claude("claude-opus-4-6", date(2026, 2, 5), "5", "25", "6.25", "10", "0.50"),
    ModelPrice.claude("claude-opus-4-5", date(2025, 11, 24), "5", "25", "6.25", "10", "0.50"),
    ModelPrice.claude("claude-opus-4-1", date(2025, 8, 5), "15", "75", "18.75", "30", "1.50"),
    ModelPrice.claude("claude-opus-4", date(2025, 5, 22), "15", "75", "18.75", "30", "1.50"),
    ModelPrice.claude("claude-sonnet-4-6", date(2026, 2, 17), "3", "15", "3.75", "6", "0.30"),
    ModelPrice.claude("claude-sonnet-4-5", date(2025, 9, 29), "3", "15", "3.75", "6", "0.30"),
    ModelPrice.claude("claude-sonnet-4", date(2025, 5, 22), "3", "15", "3.75", "6", "0.30"),
    ModelPrice.claude("claude-3-7-sonnet", date(2025, 2, 24), "3", "15", "3.75", "6", "0.30"),
    ModelPrice.claude("claude-haiku-4-5", date(2025, 10, 15), "1", "5", "1.25", "2", "0.10"),
    ModelPrice.claude("claude-3-5-haiku", date(2024, 11, 4), "0.80", "4", "1", "1.6", "0.08"),
    ModelPrice.claude("claude-3-opus", date(2024, 3, 4), "15", "75", "18.75", "30", "1.50"),
    ModelPrice.claude("claude-3-haiku", date(2024, 3, 13), "0.25", "1.25", "0.30", "0.50", "0.03"),
)

# (input, cached input, output). Sources and dates in the module docstring.
# Not re-read on 2026-11-30: they keep the date of the table's previous check.
_OPENAI_EARLIER: tuple[ModelPrice, ...] = (
    ModelPrice.automatic("gpt-4o", date(2024, 8, 6), "2.50", "1.25", "10"),
    ModelPrice.automatic("gpt-4o-mini", date(2024, 7, 18), "0.15", "0.075", "0.60"),
    ModelPrice.automatic("gpt-4.1", date(2025, 4, 14), "2", "0.50", "8"),
    ModelPrice.automatic("gpt-4.1-mini", date(2025, 4, 14), "0.40", "0.10", "1.60"),
    ModelPrice.automatic("gpt-4.1-nano", date(2025, 4, 14), "0.10", "0.025", "0.40"),
    ModelPrice.automatic("gpt-5", date(2025, 8, 7), "1.25", "0.125", "10"),
    ModelPrice.automatic("gpt-5-mini", date(2025, 8, 7), "0.25", "0.025", "2"),
    ModelPrice.automatic("gpt-5-nano", date(2025, 8, 7), "0.05", "0.005", "0.40"),
    ModelPrice.automatic("gpt-5.1", date(2025, 11, 13), "1.25", "0.125", "10"),
    # Read on 2026-11-25, its release date not found: dated that day.
    ModelPrice.automatic("gpt-6.2-sol", PREVIOUS_CHECK, "2", "0.10", "10", cache_write="2.50"),
    ModelPrice.automatic("o1", date(2024, 12, 17), "15", "7.50", "60"),
    ModelPrice.automatic("o3", date(2025, 4, 16), "10", "2.50", "40"),
    ModelPrice.automatic("o3", date(2025, 6, 10), "2", "0.50", "8"),
    ModelPrice.automatic("o3-mini", date(2025, 1, 31), "1.10", "0.55", "4.40"),
    ModelPrice.automatic("o4-mini", date(2025, 4, 16), "1.10", "0.275", "4.40"),
)

# Read on 2026-11-30. gpt-5.2 and gpt-5.5: release dates not found, dated the day they were read.
_OPENAI: tuple[ModelPrice, ...] = (
    ModelPrice.automatic("gpt-5.2", PRICES_CHECKED_ON, "1.75", "0.175", "14"),
    ModelPrice.automatic("gpt-5.4", date(2026, 3, 5), "2.50", "0.25", "15"),
    ModelPrice.automatic("gpt-5.4-mini", date(2026, 3, 17), "0.75", "0.075", "4.50"),
    ModelPrice.automatic("gpt-5.4-nano", date(2026, 3, 17), "0.20", "0.02", "1.25"),
    ModelPrice.automatic("gpt-5.5", PRICES_CHECKED_ON, "5", "0.50", "30"),
)

_GEMINI: tuple[ModelPrice, ...] = (
    # (input, context-caching price, output, storage per 1M tokens per hour). Up to 200k
    # prompt tokens unless a second tier follows.
    ModelPrice.gemini("gemini-2.5-pro", date(2025, 6, 17), "1.25", "0.125", "10", "4.50").above(
        200_000,
        ModelPrice.gemini("gemini-2.5-pro", date(2025, 6, 17), "2.50", "0.25", "15", "4.50"),
    ),
    ModelPrice.gemini("gemini-2.5-flash", date(2025, 6, 17), "0.30", "0.03", "2.50", "1.00"),
    ModelPrice.gemini("gemini-2.5-flash-lite", date(2025, 7, 22), "0.10", "0.01", "0.40", None),
    ModelPrice.gemini("gemini-3-flash-preview", date(2025, 12, 17), "0.50", "0.05", "3", "1.00"),
    ModelPrice.gemini("gemini-3.1-pro-preview", PRICES_CHECKED_ON, "2", "0.20", "12", "4.50").above(
        200_000,
        ModelPrice.gemini("gemini-3.1-pro-preview", PRICES_CHECKED_ON, "4", "0.40", "18", "4.50"),
    ),
)

BUILT_IN_PRICES: tuple[ModelPrice, ...] = (
    *(_checked(price, CLAUDE_CHECKED_ON) for price in _CLAUDE),
    *(_checked(price, PREVIOUS_CHECK) for price in _OPENAI_EARLIER),
    *_OPENAI,
    *_GEMINI,
)
