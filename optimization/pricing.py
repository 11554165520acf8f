"""Model prices and exact cost arithmetic (Decimal USD, prices per million tokens).

The table below was checked on 2026-11-25 (`PRICES_CHECKED_ON`) against:

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
- OpenAI: OpenAI's pricing page as reproduced by several dated third-party tables (input,
  cached input, output; Batch API 50%). Before GPT-5.6 OpenAI had no write premium (writes cost
  plain input); from GPT-5.6 on a 30-minute cache write costs extra, recorded as the 5 min write.
  gpt-6.2-sol is from its official model page (developers.openai.com/api/docs/models/gpt-6.2-sol).
  Not in the table: gpt-6-sol, gpt-6.1-sol, gpt-6-luna (only third-party figures found).
- Gemini: ai.google.dev pricing for the <=200k-token tier (input, context-cache read, output).
  Not refreshed on 2026-11-25: no official Gemini pricing page surfaced in our sources, so no
  Gemini 3 prices were added. Long-context tiers (>200k tokens for Gemini 2.5 Pro, >272K for
  gpt-6.2-sol, Claude Sonnet 4/4.5 1M context) are not modelled; such prompts are
  underestimated. Claude 4.6 and later models bill their full 1M window at standard rates.

Prices are versioned: each model has a list of `ModelPrice` entries with `effective_from`, and
`price_for(model, at=...)` returns the one in force at that moment, so an event recorded last
year keeps last year's price (o3's June 2025 cut is in the table as an example).

Operators update prices without a release in two ways: set `LLMOPT_PRICES_FILE` to a JSON file
(read on first use, see `load_prices_file` for the format), or call `register_price()`.

Model ids resolve in any common spelling: dated ids (claude-sonnet-4-5-20250929,
gpt-4o-2024-08-06), aliases (claude-sonnet-4-5, claude-opus-4-0), Bedrock/Vertex/OpenRouter
forms (us.anthropic.claude-haiku-4-5-20251001-v1:0, anthropic.claude-sonnet-5-5,
claude-sonnet-5-5@20260928, anthropic/claude-sonnet-5.5, models/gemini-2.5-flash).
"""

from __future__ import annotations

import json
import operator
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from optimization.capabilities import parse_claude_model, unversioned_claude_model
from optimization.exceptions import OptimizationError

PRICES_CHECKED_ON = date(2026, 11, 25)
PRICES_FILE_ENV = "LLMOPT_PRICES_FILE"
BATCH_MULTIPLIER = Decimal("0.5")
CACHE_WRITE_5M_MULTIPLIER = Decimal("1.25")
CACHE_WRITE_1H_MULTIPLIER = Decimal("2")
CACHE_READ_MULTIPLIER = Decimal("0.1")


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


class PriceNotFound(OptimizationError, LookupError):
    """No price is known for a model (check the id or register a price for it)."""

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"no price known for model {model!r}; add it with register_price() or "
            f"the {PRICES_FILE_ENV} file"
        )


class PriceFileError(OptimizationError):
    """The operator's price file could not be read or broke the format."""


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
    batch_multiplier: Decimal = BATCH_MULTIPLIER
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
        """A Claude row exactly as Anthropic's pricing table prints it."""
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
        """A row for an automatic-caching provider: reads at `cached_input`, writes at
        `cache_write` (both TTL columns) or, without one, at the plain input price."""
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


_BUILT_IN: tuple[ModelPrice, ...] = (
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
    replace(
        ModelPrice.claude(
            "claude-haiku-5-5", date(2026, 10, 7), "0.10", "0.50", "0.125", "0.20", "0.01"
        ),
        long_context_threshold=100_000,
        long_context=ModelPrice.claude(
            "claude-haiku-5-5", date(2026, 10, 7), "0.50", "2.50", "0.625", "1", "0.05"
        ),
    ),
    # Opus 4.7 and 4.8 ("Pricing" page table). Their release dates were not checked: the
    # effective_from below is the day the price was read, which only orders rows (events
    # before it still get this price, the earliest known).
    ModelPrice.claude("claude-opus-4-8", PRICES_CHECKED_ON, "5", "25", "6.25", "10", "0.50"),
    ModelPrice.claude("claude-opus-4-7", PRICES_CHECKED_ON, "5", "25", "6.25", "10", "0.50"),
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
    # OpenAI (input, cached input, output).
    ModelPrice.automatic("gpt-4o", date(2024, 8, 6), "2.50", "1.25", "10"),
    ModelPrice.automatic("gpt-4o-mini", date(2024, 7, 18), "0.15", "0.075", "0.60"),
    ModelPrice.automatic("gpt-4.1", date(2025, 4, 14), "2", "0.50", "8"),
    ModelPrice.automatic("gpt-4.1-mini", date(2025, 4, 14), "0.40", "0.10", "1.60"),
    ModelPrice.automatic("gpt-4.1-nano", date(2025, 4, 14), "0.10", "0.025", "0.40"),
    ModelPrice.automatic("gpt-5", date(2025, 8, 7), "1.25", "0.125", "10"),
    ModelPrice.automatic("gpt-5-mini", date(2025, 8, 7), "0.25", "0.025", "2"),
    ModelPrice.automatic("gpt-5-nano", date(2025, 8, 7), "0.05", "0.005", "0.40"),
    ModelPrice.automatic("gpt-5.1", date(2025, 11, 13), "1.25", "0.125", "10"),
    # Official model page: input $2, cached input $0.10, cache writes $2.50 (30-minute
    # retention), output $10, Batch 50%. Release date not found: dated the day it was read.
    ModelPrice.automatic("gpt-6.2-sol", PRICES_CHECKED_ON, "2", "0.10", "10", cache_write="2.50"),
    ModelPrice.automatic("o1", date(2024, 12, 17), "15", "7.50", "60"),
    ModelPrice.automatic("o3", date(2025, 4, 16), "10", "2.50", "40"),
    ModelPrice.automatic("o3", date(2025, 6, 10), "2", "0.50", "8"),
    ModelPrice.automatic("o3-mini", date(2025, 1, 31), "1.10", "0.55", "4.40"),
    ModelPrice.automatic("o4-mini", date(2025, 4, 16), "1.10", "0.275", "4.40"),
    # Gemini (<=200k-token prompts; input, context-cache read, output).
    ModelPrice.automatic("gemini-2.5-pro", date(2025, 6, 17), "1.25", "0.125", "10"),
    ModelPrice.automatic("gemini-2.5-flash", date(2025, 6, 17), "0.30", "0.03", "2.50"),
    ModelPrice.automatic("gemini-2.5-flash-lite", date(2025, 7, 22), "0.10", "0.01", "0.40"),
)

_lock = threading.Lock()
_table: dict[str, list[ModelPrice]] = {}
_loaded_file: str | None = None


def _add(table: dict[str, list[ModelPrice]], name: str, price: ModelPrice) -> None:
    versions = [p for p in table.get(name, []) if p.effective_from != price.effective_from]
    versions.append(price)
    versions.sort(key=lambda p: p.effective_from)
    table[name] = versions


def _built_in_table() -> dict[str, list[ModelPrice]]:
    table: dict[str, list[ModelPrice]] = {}
    for price in _BUILT_IN:
        _add(table, canonical_model(price.model), price)
    return table


_DATE_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|@\d{8}|@latest)$")
_PREFIXES = ("models/", "openai/", "google/", "anthropic/", "azure/", "vertex_ai/", "gemini/")


def canonical_model(model: str) -> str:
    """The table key a model id resolves to (dated ids and vendor spellings collapse)."""
    text = model.strip().lower()
    unversioned = unversioned_claude_model(text)
    if unversioned is not None:
        return unversioned
    claude = parse_claude_model(text)
    if claude is not None:
        family, major, minor = claude
        version = f"{major}-{minor}" if minor else f"{major}"
        return f"claude-{family}-{version}" if major >= 4 else f"claude-{version}-{family}"
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return _DATE_SUFFIX.sub("", text)


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PriceFileError(f"{where} must be a number or a decimal string; got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PriceFileError(f"{where} must be a number; got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise PriceFileError(f"{where} must be a finite number >= 0; got {value!r}")
    return number


def _parse_entry(model: str, entry: Any, where: str) -> ModelPrice:
    if not isinstance(entry, Mapping):
        raise PriceFileError(f"{where} must be an object; got {entry!r}")
    try:
        effective_from = date.fromisoformat(str(entry["effective_from"]))
        input_price = _decimal(entry["input"], f"{where}.input")
        output_price = _decimal(entry["output"], f"{where}.output")
    except KeyError as missing:
        raise PriceFileError(f"{where} lacks {missing}") from None
    except ValueError:
        raise PriceFileError(
            f"{where}.effective_from must be a date YYYY-MM-DD; got {entry['effective_from']!r}"
        ) from None
    cache_read = entry.get("cache_read", entry.get("cached_input"))

    def optional(key: str, default: Decimal) -> Decimal:
        return default if entry.get(key) is None else _decimal(entry[key], f"{where}.{key}")

    threshold: int | None = None
    long_context: ModelPrice | None = None
    tier = entry.get("long_context")
    if tier is not None:
        if not isinstance(tier, Mapping):
            raise PriceFileError(f"{where}.long_context must be an object; got {tier!r}")
        threshold = tier.get("above_tokens")
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            raise PriceFileError(
                f"{where}.long_context.above_tokens must be a whole number of tokens >= 1; "
                f"got {threshold!r}"
            )
        if "long_context" in tier:
            raise PriceFileError(f"{where}.long_context cannot have a long_context of its own")
        long_context = _parse_entry(
            model,
            {"effective_from": effective_from.isoformat(), **tier},
            f"{where}.long_context",
        )

    return ModelPrice(
        model=model,
        effective_from=effective_from,
        input=input_price,
        output=output_price,
        cache_write_5m=optional("cache_write_5m", input_price),
        cache_write_1h=optional("cache_write_1h", input_price),
        cache_read=input_price
        if cache_read is None
        else _decimal(cache_read, f"{where}.cache_read"),
        batch_multiplier=optional("batch_multiplier", BATCH_MULTIPLIER),
        checked_on=date.fromisoformat(str(entry.get("checked_on", effective_from.isoformat()))),
        long_context_threshold=threshold,
        long_context=long_context,
    )


def load_prices_file(path: str | os.PathLike[str]) -> list[ModelPrice]:
    """Read an operator price file.

    Format: `{"models": {"<model id>": [{"effective_from": "2026-01-01", "input": "3",
    "output": "15", "cache_write_5m": "3.75", "cache_write_1h": "6", "cache_read": "0.30",
    "batch_multiplier": "0.5", "checked_on": "2026-01-02"}, ...]}}`. Prices are USD per
    million tokens, as strings (exact) or numbers; cache writes default to the input price,
    `cache_read` (alias `cached_input`) to the input price, `batch_multiplier` to 0.5. A model
    priced by prompt length adds `"long_context": {"above_tokens": 100000, "input": "0.50",
    "output": "2.50", ...}`: the prices every token of a call pays when its prompt is longer.
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise PriceFileError(
            f"cannot read price file {os.fspath(path)}: {error.strerror}"
        ) from None
    except json.JSONDecodeError as error:
        raise PriceFileError(f"price file {os.fspath(path)} is not JSON: {error}") from None
    models = document.get("models") if isinstance(document, Mapping) else None
    if not isinstance(models, Mapping):
        raise PriceFileError(f'price file {os.fspath(path)} needs a top-level "models" object')
    prices: list[ModelPrice] = []
    for model, entries in models.items():
        if not isinstance(entries, list):
            entries = [entries]
        for index, entry in enumerate(entries):
            prices.append(_parse_entry(str(model), entry, f"models[{model!r}][{index}]"))
    return prices


def _ensure_loaded() -> dict[str, list[ModelPrice]]:
    global _loaded_file
    path = os.environ.get(PRICES_FILE_ENV) or None
    if _table and path == _loaded_file:
        return _table
    with _lock:
        if not _table or path != _loaded_file:
            table = _built_in_table()
            if path:
                for price in load_prices_file(path):
                    _add(table, canonical_model(price.model), price)
            _table.clear()
            _table.update(table)
            _loaded_file = path
    return _table


def reload_prices() -> None:
    """Forget registered prices and re-read the built-in table and LLMOPT_PRICES_FILE."""
    with _lock:
        _table.clear()
    _ensure_loaded()


def register_price(model: str, price: ModelPrice) -> None:
    """Add (or replace, for the same effective date) a price version for `model` at run time."""
    table = _ensure_loaded()
    with _lock:
        _add(table, canonical_model(model), price)


def known_models() -> tuple[str, ...]:
    """Every canonical model id that has a price."""
    return tuple(sorted(_ensure_loaded()))


def price_for(model: str, *, at: datetime | None = None) -> ModelPrice:
    """The price of `model` in force at `at` (default: now, UTC).

    Before a model's first listed version the earliest version applies. Raises PriceNotFound
    for a model the table does not know.
    """
    versions = _ensure_loaded().get(canonical_model(model))
    if not versions:
        raise PriceNotFound(model)
    day = (at or datetime.now(UTC)).date()
    current = versions[0]
    for version in versions:
        if version.effective_from <= day:
            current = version
    return current


@dataclass(frozen=True)
class CallCost:
    """What a call cost and what it would have cost with no optimization at all."""

    cost: Decimal
    baseline: Decimal

    @property
    def saved(self) -> Decimal:
        """Baseline minus cost (negative when caching wrote more than it read)."""
        return self.baseline - self.cost


def _per_million(tokens: int | Decimal, price: Decimal) -> Decimal:
    # scaleb shifts the exponent: exact, unlike division under a precision context.
    return (Decimal(tokens) * price).scaleb(-6)


def cost_of(
    usage: TokenUsage, model: str, *, batch: bool = False, at: datetime | None = None
) -> CallCost:
    """Exact cost of one call from its tokens by kind.

    The baseline prices every input token (cached or not) at the plain input price and output
    at the output price, with no batch discount: what the call costs without llmopt. With
    `batch` the model's batch multiplier applies to every kind of token, cache writes and reads
    included (Anthropic: the discounts stack). A model priced by prompt length (Claude Haiku 5.5
    over 100,000 prompt tokens) is charged the tier the call's prompt falls in, baseline
    included: the same prompt costs that tier with or without llmopt.
    """
    price = price_for(model, at=at).for_prompt(usage.total_input)
    return cost_at_price(usage, price, batch=batch)


def cost_at_price(usage: TokenUsage, price: ModelPrice, *, batch: bool = False) -> CallCost:
    """`cost_of` at one given price, whatever the prompt's length (no tier is chosen here)."""
    cost = (
        _per_million(usage.input_tokens, price.input)
        + _per_million(usage.cache_write_5m_tokens, price.cache_write_5m)
        + _per_million(usage.cache_write_1h_tokens, price.cache_write_1h)
        + _per_million(usage.cache_read_tokens, price.cache_read)
        + _per_million(usage.output_tokens, price.output)
    )
    if batch:
        cost *= price.batch_multiplier
    baseline = _per_million(usage.total_input, price.input) + _per_million(
        usage.output_tokens, price.output
    )
    return CallCost(cost=cost, baseline=baseline)


@dataclass(frozen=True)
class MonthlyCost:
    """A month of traffic priced one way, with the unoptimized baseline beside it."""

    model: str
    requests: int
    uncached_input: Decimal
    cache_writes: Decimal
    cache_reads: Decimal
    output: Decimal
    total: Decimal
    baseline: Decimal
    assumptions: Mapping[str, Any] = field(default_factory=dict)

    @property
    def saved(self) -> Decimal:
        """Baseline minus total."""
        return self.baseline - self.total

    @property
    def saved_fraction(self) -> Decimal:
        """Share of the baseline saved (0 when the baseline is 0)."""
        return self.saved / self.baseline if self.baseline else Decimal(0)


def _rate(value: Decimal | int | str | float) -> Decimal:
    rate = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not 0 <= rate <= 1:
        raise ValueError(f"cache_hit_rate must be between 0 and 1; got {value!r}")
    return rate


def monthly_cost(
    *,
    requests: int,
    input_tokens: int,
    output_tokens: int,
    model: str,
    cache_hit_rate: Decimal | int | str | float = 0,
    batch: bool = False,
    count_write_premium: bool = True,
    cache_ttl: int = 300,
    at: datetime | None = None,
) -> MonthlyCost:
    """Plan a month: `requests` calls of `input_tokens` in and `output_tokens` out each.

    `cache_hit_rate` is the share of input tokens read from the cache; the rest is written to
    it (priced at the 5 min or 1 h write price for `cache_ttl`) when `count_write_premium`,
    else priced as plain input - the Phase 1 plan's Appendix D accounting, which ignores the
    write premium. With a zero hit rate nothing is cached or written. `batch` applies the
    batch multiplier to everything. Every request's prompt is `input_tokens` long, which picks
    the price tier of a model priced by prompt length.

    Appendix D (1M requests, 2,000 in / 500 out, Sonnet at $3/$15): baseline $13,500; batch
    $6,750; 90% hits $8,640 (plan) or $8,790 (with the premium); both $4,320 or $4,395.
    """
    if cache_ttl not in (300, 3600):
        raise ValueError(f"cache_ttl must be 300 or 3600; got {cache_ttl!r}")
    for name, count in (
        ("requests", requests),
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
    ):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{name} must be a whole number >= 0; got {count!r}")
    hit_rate = _rate(cache_hit_rate)
    listed = price_for(model, at=at)
    price = listed.for_prompt(input_tokens)
    total_input = Decimal(requests) * input_tokens
    total_output = Decimal(requests) * output_tokens
    read_tokens = total_input * hit_rate
    missed_tokens = total_input - read_tokens
    write_price = price.cache_write_5m if cache_ttl == 300 else price.cache_write_1h
    caching = hit_rate > 0
    if caching and count_write_premium:
        uncached, writes = Decimal(0), _per_million(missed_tokens, write_price)
    else:
        uncached, writes = _per_million(missed_tokens, price.input), Decimal(0)
    reads = _per_million(read_tokens, price.cache_read)
    output = _per_million(total_output, price.output)
    multiplier = price.batch_multiplier if batch else Decimal(1)
    uncached, writes, reads, output = (
        part * multiplier for part in (uncached, writes, reads, output)
    )
    baseline = _per_million(total_input, price.input) + _per_million(total_output, price.output)
    return MonthlyCost(
        model=model,
        requests=requests,
        uncached_input=uncached,
        cache_writes=writes,
        cache_reads=reads,
        output=output,
        total=uncached + writes + reads + output,
        baseline=baseline,
        assumptions={
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_hit_rate": hit_rate,
            "batch": batch,
            "count_write_premium": count_write_premium,
            "cache_ttl": cache_ttl,
            "price_effective_from": price.effective_from,
            "long_context_tier": price is not listed,
        },
    )


__all__ = [
    "PRICES_CHECKED_ON",
    "PRICES_FILE_ENV",
    "TOKEN_FIELDS",
    "TOKEN_KINDS",
    "CallCost",
    "ModelPrice",
    "MonthlyCost",
    "PriceFileError",
    "PriceNotFound",
    "TokenCounts",
    "TokenUsage",
    "canonical_model",
    "cost_at_price",
    "cost_of",
    "known_models",
    "load_prices_file",
    "monthly_cost",
    "price_for",
    "register_price",
    "reload_prices",
    "token_counts",
    "token_fields",
]
