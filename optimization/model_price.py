"""What a model's tokens cost: the token kinds, a call's counts and one model's price row.

`optimization.pricing` re-exports every name here; the rows themselves are in
`optimization.price_table`, with where each figure came from.

How the three families bill caching and batching, and how a `ModelPrice` row holds it (facts and
sources in `optimization.price_table`):

- Anthropic: explicit cache writes at 1.25x (5 min) or 2x (1 h) the input price, reads at a
  listed price; the Batch API halves every kind of token, cache writes and reads included (the
  discounts stack).
- OpenAI and Azure OpenAI: caching is automatic and has no write premium (writes are plain
  input; from GPT-5.6 a 30-minute write costs extra, kept in `cache_write_5m`); cached input has
  its own price; the Batch column halves input, cached input and output (stacks).
- Gemini (Developer API and Vertex AI): implicit cache hits at the listed context-cache price,
  explicit context caches (`cachedContents`) the same per read plus storage per million tokens per
  hour (`cache_storage_per_hour`, no token count: see `pricing.cache_storage_cost`); Batch Mode
  halves input and output, but "cached tokens are priced the same as for non-batch" traffic, so
  cache reads keep their price in a batch (`cache_read_batch_multiplier=1`).

The batch price of every kind is `ModelPrice.batch_price()`: the one place that knows how a
provider's batch discount meets its cache prices.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

# The day the built-in table (optimization.price_table) was last checked as a whole.
PRICES_CHECKED_ON = date(2026, 11, 30)
BATCH_MULTIPLIER = Decimal("0.5")
CACHE_WRITE_5M_MULTIPLIER = Decimal("1.25")
CACHE_WRITE_1H_MULTIPLIER = Decimal("2")
CACHE_READ_MULTIPLIER = Decimal("0.1")
NO_DISCOUNT = Decimal(1)


# The kinds of token a call is billed for, in the one order every tuple of counts uses. Each is a
# price of ModelPrice; `<kind>_tokens` is the count's name in TokenUsage, UsageEvent and every
# table that stores one (the savings ledger and its rollups, batch job requests).
TOKEN_KINDS = ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output")
TOKEN_FIELDS = tuple(f"{kind}_tokens" for kind in TOKEN_KINDS)
TokenCounts = tuple[int, int, int, int, int]  # one count per kind, in TOKEN_KINDS order

# The counts of anything holding the TOKEN_FIELDS attributes (a TokenUsage, a UsageEvent, a
# ledger or batch request row), in TOKEN_KINDS order. An attrgetter: no Python frame per call.
token_counts: Callable[[object], TokenCounts] = operator.attrgetter(*TOKEN_FIELDS)


def token_fields(counts: TokenCounts) -> dict[str, int]:
    """`counts` by field name, e.g. to build a UsageEvent from a TokenUsage's counts."""
    return dict(zip(TOKEN_FIELDS, counts, strict=True))


@dataclass(frozen=True)
class TokenUsage:
    """Tokens of one call by kind. `input_tokens` are the uncached input tokens only.

    Its fields are TOKEN_FIELDS and nothing else, so `**vars(usage)` passes the counts on by
    name (to a UsageEvent, a model row) as fast as spelling them out.
    """

    input_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0

    def __post_init__(self) -> None:
        for name in TOKEN_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number of tokens >= 0; got {value!r}")

    @property
    def total_input(self) -> int:
        """Every input token the model read, cached or not."""
        return (
            self.input_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens of one model from `effective_from` on."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    effective_from: date
    checked_on: date = PRICES_CHECKED_ON
    # What the batch API charges of the list price: input, cache writes and output.
    batch_multiplier: Decimal = BATCH_MULTIPLIER
    # What it charges of the cache-read price: the same where the discounts stack (Anthropic,
    # OpenAI), 1 where cached tokens in a batch keep their standard price (Gemini).
    cache_read_batch_multiplier: Decimal = BATCH_MULTIPLIER
    # USD per million tokens per hour an explicit context cache is stored (Gemini
    # `cachedContents`); None where the provider has no such charge or we have no figure.
    cache_storage_per_hour: Decimal | None = None
    model: str = ""
    # Prompt-length pricing: a call whose prompt (every input token, cached or not) is over
    # `long_context_threshold` tokens pays `long_context` prices on all of its tokens.
    long_context_threshold: int | None = None
    long_context: ModelPrice | None = None

    def for_prompt(self, prompt_tokens: int) -> ModelPrice:
        """The price that applies to a call whose prompt has `prompt_tokens` input tokens."""
        if (
            self.long_context is not None
            and self.long_context_threshold is not None
            and prompt_tokens > self.long_context_threshold
        ):
            return self.long_context
        return self

    def batch_price(self) -> ModelPrice:
        """The provider's Batch column: what each kind of token costs sent through its batch
        API (no further discount applies to it; its own batch multipliers are 1)."""
        m, read = self.batch_multiplier, self.cache_read_batch_multiplier
        return replace(
            self,
            input=self.input * m,
            output=self.output * m,
            cache_write_5m=self.cache_write_5m * m,
            cache_write_1h=self.cache_write_1h * m,
            cache_read=self.cache_read * read,
            batch_multiplier=NO_DISCOUNT,
            cache_read_batch_multiplier=NO_DISCOUNT,
            long_context=None if self.long_context is None else self.long_context.batch_price(),
        )

    @classmethod
    def claude(
        cls,
        model: str,
        effective_from: date,
        input: str,
        output: str,
        cache_write_5m: str,
        cache_write_1h: str,
        cache_read: str,
    ) -> ModelPrice:
        """A Claude row exactly as Anthropic's pricing table prints it (batch: 0.5x of all)."""
        return cls(
            model=model,
            effective_from=effective_from,
            input=Decimal(input),
            output=Decimal(output),
            cache_write_5m=Decimal(cache_write_5m),
            cache_write_1h=Decimal(cache_write_1h),
            cache_read=Decimal(cache_read),
        )

    @classmethod
    def automatic(
        cls,
        model: str,
        effective_from: date,
        input: str,
        cached_input: str,
        output: str,
        cache_write: str | None = None,
    ) -> ModelPrice:
        """An OpenAI-style row: reads at `cached_input`, writes at `cache_write` (both TTL
        columns) or, without one, at the plain input price; batch 0.5x of all, cached input
        included (OpenAI's Batch column lists cached input at half the standard one)."""
        price = Decimal(input)
        write = price if cache_write is None else Decimal(cache_write)
        return cls(
            model=model,
            effective_from=effective_from,
            input=price,
            output=Decimal(output),
            cache_write_5m=write,
            cache_write_1h=write,
            cache_read=Decimal(cached_input),
        )

    @classmethod
    def gemini(
        cls,
        model: str,
        effective_from: date,
        input: str,
        cached_input: str,
        output: str,
        storage_per_hour: str | None,
    ) -> ModelPrice:
        """A Gemini row: "Context caching price" for cached tokens (implicit or explicit),
        cache creation at the plain input price, storage per million tokens per hour; batch
        0.5x of input and output while cached tokens keep their price."""
        price = Decimal(input)
        return cls(
            model=model,
            effective_from=effective_from,
            input=price,
            output=Decimal(output),
            cache_write_5m=price,
            cache_write_1h=price,
            cache_read=Decimal(cached_input),
            cache_read_batch_multiplier=NO_DISCOUNT,
            cache_storage_per_hour=None if storage_per_hour is None else Decimal(storage_per_hour),
        )

    def above(self, threshold: int, long_context: ModelPrice) -> ModelPrice:
        """This price up to `threshold` prompt tokens and `long_context` above it."""
        return replace(self, long_context_threshold=threshold, long_context=long_context)


__all__ = [
    "BATCH_MULTIPLIER",
    "PRICES_CHECKED_ON",
    "TOKEN_FIELDS",
    "TOKEN_KINDS",
    "ModelPrice",
    "TokenCounts",
    "TokenUsage",
    "token_counts",
    "token_fields",
]
