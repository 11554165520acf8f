"""Model prices and exact cost arithmetic (Decimal USD, prices per million tokens).

The built-in table and the source and date of every figure are in `optimization.price_table`;
the token kinds, `TokenUsage` and `ModelPrice` (with how each provider's batch discount meets its
cache prices, `ModelPrice.batch_price`) in `optimization.model_price`. Both are re-exported here.

Prices are versioned: each model has a list of `ModelPrice` entries with `effective_from`, and
`price_for(model, at=...)` returns the one in force at that moment.

Operators update prices without a release in two ways: set `LLMOPT_PRICES_FILE` to a JSON file
(read on first use, see `load_prices_file` for the format), or call `register_price()`.

Model ids resolve in any common spelling: dated ids (claude-sonnet-4-5-20250929,
gpt-4o-2024-08-06, gpt-5.4-mini-2026-03-17 as Azure versions it), aliases (claude-sonnet-4-5,
claude-opus-4-0), Bedrock/Vertex/OpenRouter forms (us.anthropic.claude-haiku-4-5-20251001-v1:0,
anthropic.claude-sonnet-5-5, claude-sonnet-5-5@20260928, anthropic/claude-sonnet-5.5,
models/gemini-2.5-flash, publishers/google/models/gemini-2.5-flash, gemini-2.0-flash-001).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from optimization.capabilities import parse_claude_model, unversioned_claude_model
from optimization.exceptions import OptimizationError
from optimization.model_price import (
    BATCH_MULTIPLIER,
    PRICES_CHECKED_ON,
    TOKEN_FIELDS,
    TOKEN_KINDS,
    ModelPrice,
    TokenCounts,
    TokenUsage,
    token_counts,
    token_fields,
)
from optimization.price_table import BUILT_IN_PRICES

PRICES_FILE_ENV = "LLMOPT_PRICES_FILE"


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
    for price in BUILT_IN_PRICES:
        _add(table, canonical_model(price.model), price)
    return table


# Dated snapshots (gpt-4o-2024-08-06, Azure's model versions) and moving aliases price as the
# model they name; so do Vertex's stable Gemini versions (gemini-2.0-flash-001).
_DATE_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|-latest|@\d{8}|@latest)$")
_GEMINI_VERSION_SUFFIX = re.compile(r"^(gemini-.*)-\d{3}$")
_PREFIXES = (
    "publishers/google/models/",
    "models/",
    "openai/",
    "google/",
    "anthropic/",
    "azure/",
    "vertex_ai/",
    "gemini/",
)


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
    return _GEMINI_VERSION_SUFFIX.sub(r"\1", _DATE_SUFFIX.sub("", text))


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

    batch = optional("batch_multiplier", BATCH_MULTIPLIER)
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
        batch_multiplier=batch,
        cache_read_batch_multiplier=optional("cache_read_batch_multiplier", batch),
        cache_storage_per_hour=None
        if entry.get("cache_storage_per_hour") is None
        else _decimal(entry["cache_storage_per_hour"], f"{where}.cache_storage_per_hour"),
        checked_on=date.fromisoformat(str(entry.get("checked_on", effective_from.isoformat()))),
        long_context_threshold=threshold,
        long_context=long_context,
    )


def load_prices_file(path: str | os.PathLike[str]) -> list[ModelPrice]:
    """Read an operator price file.

    Format: `{"models": {"<model id>": [{"effective_from": "2026-01-01", "input": "3",
    "output": "15", "cache_write_5m": "3.75", "cache_write_1h": "6", "cache_read": "0.30",
    "batch_multiplier": "0.5", "cache_read_batch_multiplier": "0.5",
    "cache_storage_per_hour": "1.00", "checked_on": "2026-01-02"}, ...]}}`. Prices are USD per
    million tokens (storage: per million tokens per hour), as strings (exact) or numbers; cache
    writes default to the input price, `cache_read` (alias `cached_input`) to the input price,
    `batch_multiplier` to 0.5, `cache_read_batch_multiplier` to `batch_multiplier` (the
    discounts stack; "1" where cached tokens keep their price in a batch, as on Gemini),
    `cache_storage_per_hour` to none. A model
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
    """Exact cost of one call from its tokens by kind, as the provider bills it.

    The baseline prices every input token (cached or not) at the plain input price and output
    at the output price, with no batch discount: what the call costs without llmopt. With
    `batch` each kind of token costs its batch price (`ModelPrice.batch_price`): Anthropic and
    OpenAI halve cache writes and reads too (the discounts stack), Gemini halves input and
    output while cached tokens keep their price. A model priced by prompt length (Claude Haiku
    5.5 over 100,000 prompt tokens, Gemini Pro over 200,000) is charged the tier the call's
    prompt falls in, baseline included: the same prompt costs that tier with or without llmopt.
    """
    price = price_for(model, at=at).for_prompt(usage.total_input)
    return cost_at_price(usage, price, batch=batch)


def cost_at_price(usage: TokenUsage, price: ModelPrice, *, batch: bool = False) -> CallCost:
    """`cost_of` at one given price, whatever the prompt's length (no tier is chosen here)."""
    charged = price.batch_price() if batch else price
    cost = (
        _per_million(usage.input_tokens, charged.input)
        + _per_million(usage.cache_write_5m_tokens, charged.cache_write_5m)
        + _per_million(usage.cache_write_1h_tokens, charged.cache_write_1h)
        + _per_million(usage.cache_read_tokens, charged.cache_read)
        + _per_million(usage.output_tokens, charged.output)
    )
    baseline = _per_million(usage.total_input, price.input) + _per_million(
        usage.output_tokens, price.output
    )
    return CallCost(cost=cost, baseline=baseline)


class NoStoragePrice(OptimizationError, LookupError):
    """A model has no explicit-cache storage price in the table (no such charge, or unknown)."""

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"no cache storage price known for model {model!r}; add cache_storage_per_hour "
            f"to its row in the {PRICES_FILE_ENV} file"
        )


def cache_storage_cost(
    model: str, *, token_hours: Decimal | int | str, at: datetime | None = None
) -> Decimal:
    """What storing explicit context caches costs: `token_hours` is the cached tokens times the
    hours they were kept (Gemini `cachedContents`: billed per million tokens per hour of TTL).

    Raises PriceNotFound for an unknown model, NoStoragePrice when its row has no storage price,
    ValueError for a negative or non-finite `token_hours`.
    """
    amount = Decimal(token_hours)
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"token_hours must be a finite number >= 0; got {token_hours!r}")
    price = price_for(model, at=at)
    if price.cache_storage_per_hour is None:
        raise NoStoragePrice(model)
    return _per_million(amount, price.cache_storage_per_hour)


def explicit_cache_saving(
    model: str,
    *,
    tokens: int,
    hours: Decimal | int | str,
    reads: int,
    batch: bool = False,
    at: datetime | None = None,
) -> Decimal:
    """What an explicit context cache of `tokens` tokens, kept `hours` hours and read `reads`
    times, saves against sending those tokens as plain input each time (negative: the storage
    costs more than the reads save). Creating the cache is billed as plain input either way.

    Raises PriceNotFound / NoStoragePrice as `cache_storage_cost` does, ValueError for a
    negative count or duration.
    """
    for name, count in (("tokens", tokens), ("reads", reads)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"{name} must be a whole number >= 0; got {count!r}")
    duration = Decimal(hours)
    if not duration.is_finite() or duration < 0:
        raise ValueError(f"hours must be a finite number >= 0; got {hours!r}")
    listed = price_for(model, at=at).for_prompt(tokens)
    charged = listed.batch_price() if batch else listed
    per_read = _per_million(tokens, charged.input - charged.cache_read)
    storage = cache_storage_cost(model, token_hours=tokens * duration, at=at)
    return per_read * reads - storage


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
    write premium. With a zero hit rate nothing is cached or written. `batch` prices every
    kind at the batch price. Every request's prompt is `input_tokens` long, which picks
    the price tier of a model priced by prompt length. Batch prices are the provider's Batch
    column (`ModelPrice.batch_price`), so cache reads stay at full price on Gemini.

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
    charged = price.batch_price() if batch else price
    write_price = charged.cache_write_5m if cache_ttl == 300 else charged.cache_write_1h
    caching = hit_rate > 0
    if caching and count_write_premium:
        uncached, writes = Decimal(0), _per_million(missed_tokens, write_price)
    else:
        uncached, writes = _per_million(missed_tokens, charged.input), Decimal(0)
    reads = _per_million(read_tokens, charged.cache_read)
    output = _per_million(total_output, charged.output)
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
    "NoStoragePrice",
    "PriceFileError",
    "PriceNotFound",
    "TokenCounts",
    "TokenUsage",
    "cache_storage_cost",
    "canonical_model",
    "cost_at_price",
    "cost_of",
    "explicit_cache_saving",
    "known_models",
    "load_prices_file",
    "monthly_cost",
    "price_for",
    "register_price",
    "reload_prices",
    "token_counts",
    "token_fields",
]
