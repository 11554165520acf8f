"""Gemini explicit context caching (`cachedContents`): whether an entry pays, and the calls.

Gemini 2.5 and later cache repeated prefixes implicitly, for free but without a guarantee. An
explicit entry guarantees the cache-read price on every request that names it, at the cost of
creating it (a call of its own, its tokens billed once at the plain input price) and of storage
for every hour it lives. `explicit_cache_case` weighs the two from observed traffic, with the
prices of the one price table (`optimization.pricing`: storage per million tokens per hour,
from ai.google.dev "Gemini Developer API pricing", with its sources and dates there); it
decides nothing else.

A request that uses an entry names it (`cached_content=entry.name`) and carries only what
follows the cached prefix, without its own system instruction, tools or tool config (the API
refuses those next to a cached content).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from google.genai import types
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from optimization._gemini_adapter import gemini_chat_model, genai_client, prepared_request
from optimization.capabilities import ProviderCapabilities
from optimization.pricing import TokenUsage, cache_storage_cost, cost_of, explicit_cache_saving

DEFAULT_TTL_SECONDS = 3600  # the API's own default when no ttl is given


@dataclass(frozen=True)
class ExplicitCacheCase:
    """What an explicit cache entry would save and cost per hour of the traffic observed."""

    saving_per_hour: Decimal  # reads at the cache-read price instead of the input price
    storage_per_hour: Decimal
    creation_per_hour: Decimal  # the one-off creation, spread over the hours it serves
    cacheable: bool  # the prefix reaches the model's minimum for a cache entry

    @property
    def net_per_hour(self) -> Decimal:
        """Saving minus costs, per hour (negative: the entry loses money)."""
        return self.saving_per_hour - self.storage_per_hour - self.creation_per_hour

    @property
    def pays(self) -> bool:
        """True when the entry can exist and saves more than it costs."""
        return self.cacheable and self.net_per_hour > 0


def explicit_cache_case(
    model: str,
    *,
    reuses_per_hour: float,
    prefix_tokens: int,
    hours_in_use: float = 1.0,
    implicit_hit_rate: float = 0.0,
    batch: bool = False,
    at: datetime | None = None,
) -> ExplicitCacheCase:
    """Weigh an explicit entry of `prefix_tokens` for Gemini `model`, at its table prices.

    `reuses_per_hour`: requests per hour that would read the prefix; `hours_in_use`: how long
    the prefix is expected to stay in use (the entry is kept alive meanwhile by refreshing its
    TTL, so it is created once); `implicit_hit_rate`: the share of those requests implicit
    caching already serves at the read price (their saving is not the entry's); `batch`: the
    reads are batch requests. Reads are counted over the hours in use, rounded to whole reads.
    Raises ValueError on a negative figure or a rate outside [0, 1], PriceNotFound or
    NoStoragePrice (`optimization.pricing`) for a model the table cannot price.
    """
    if reuses_per_hour < 0 or prefix_tokens < 0 or hours_in_use <= 0:
        raise ValueError("reuses_per_hour and prefix_tokens must be >= 0, hours_in_use > 0")
    if not 0 <= implicit_hit_rate <= 1:
        raise ValueError(f"implicit_hit_rate must be between 0 and 1, got {implicit_hit_rate}")
    hours = Decimal(str(hours_in_use))
    reads = round(reuses_per_hour * (1 - implicit_hit_rate) * hours_in_use)
    storage = cache_storage_cost(model, token_hours=prefix_tokens * hours, at=at)
    net_of_storage = explicit_cache_saving(
        model, tokens=prefix_tokens, hours=hours, reads=reads, batch=batch, at=at
    )
    creation = cost_of(TokenUsage(input_tokens=prefix_tokens), model, at=at).cost
    minimum = ProviderCapabilities.detect("gemini", model).min_cacheable_tokens or 0
    return ExplicitCacheCase(
        saving_per_hour=(net_of_storage + storage) / hours,
        storage_per_hour=storage / hours,
        creation_per_hour=creation / hours,
        cacheable=prefix_tokens >= minimum,
    )


def context_cache_config(
    model: BaseChatModel,
    prefix: Sequence[BaseMessage],
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    call_kwargs: Mapping[str, Any] | None = None,
    display_name: str = "",
) -> types.CreateCachedContentConfig:
    """The cache entry for `prefix` as `model` would send it (system instruction, tools and
    tool config from `call_kwargs`, the prefix's turns as contents)."""
    chat = gemini_chat_model(model)
    kwargs = dict(call_kwargs or {})
    stop = kwargs.pop("stop", None)
    prepared = prepared_request(chat, prefix, stop=stop, **kwargs)
    config: types.GenerateContentConfig = prepared["config"]
    return types.CreateCachedContentConfig(
        display_name=display_name or None,
        contents=prepared["contents"] or None,
        system_instruction=config.system_instruction,
        # LangChain formats tools as google-genai `Tool`s; only those can be cached.
        tools=[tool for tool in config.tools or [] if isinstance(tool, types.Tool)] or None,
        tool_config=config.tool_config,
        ttl=f"{ttl_seconds}s",
    )


async def create_context_cache(
    model: BaseChatModel,
    prefix: Sequence[BaseMessage],
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    call_kwargs: Mapping[str, Any] | None = None,
    display_name: str = "",
) -> types.CachedContent:
    """Create an explicit cache entry holding `prefix`, for `model`'s own model and key."""
    chat = gemini_chat_model(model)
    config = context_cache_config(
        chat, prefix, ttl_seconds=ttl_seconds, call_kwargs=call_kwargs, display_name=display_name
    )
    return await genai_client(chat).aio.caches.create(model=chat.model, config=config)


def create_context_cache_sync(
    model: BaseChatModel,
    prefix: Sequence[BaseMessage],
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    call_kwargs: Mapping[str, Any] | None = None,
    display_name: str = "",
) -> types.CachedContent:
    """Sync twin of `create_context_cache`."""
    chat = gemini_chat_model(model)
    config = context_cache_config(
        chat, prefix, ttl_seconds=ttl_seconds, call_kwargs=call_kwargs, display_name=display_name
    )
    return genai_client(chat).caches.create(model=chat.model, config=config)


# Entries looked through for one another process created (the API lists 100 per call).
MAX_LISTED_ENTRIES = 1000
_PAGE = types.ListCachedContentsConfig(page_size=100)


def _model_id(name: str | None) -> str:
    return (name or "").removeprefix("models/")


def _is_live_match(
    entry: types.CachedContent, display_name: str, model: str, live_after: float
) -> bool:
    expiry = entry.expire_time
    return (
        entry.display_name == display_name
        and _model_id(entry.model) == _model_id(model)
        and expiry is not None
        and expiry.timestamp() > live_after
    )


async def find_context_cache(
    model: BaseChatModel, display_name: str, *, live_after: float
) -> types.CachedContent | None:
    """A live entry named `display_name` for `model`'s model (and key) that expires after
    `live_after` (Unix seconds): one another process created for the same prefix."""
    chat = gemini_chat_model(model)
    pager = await genai_client(chat).aio.caches.list(config=_PAGE)
    listed = 0
    async for entry in pager:
        if _is_live_match(entry, display_name, chat.model, live_after):
            return entry
        listed += 1
        if listed >= MAX_LISTED_ENTRIES:
            break
    return None


def find_context_cache_sync(
    model: BaseChatModel, display_name: str, *, live_after: float
) -> types.CachedContent | None:
    """Sync twin of `find_context_cache`."""
    chat = gemini_chat_model(model)
    for listed, entry in enumerate(genai_client(chat).caches.list(config=_PAGE)):
        if _is_live_match(entry, display_name, chat.model, live_after):
            return entry
        if listed + 1 >= MAX_LISTED_ENTRIES:
            break
    return None


async def get_context_cache(model: BaseChatModel, name: str) -> types.CachedContent:
    """Entry `name` as the provider holds it now (its expiry, moved by any worker)."""
    return await genai_client(gemini_chat_model(model)).aio.caches.get(name=name)


def get_context_cache_sync(model: BaseChatModel, name: str) -> types.CachedContent:
    """Sync twin of `get_context_cache`."""
    return genai_client(gemini_chat_model(model)).caches.get(name=name)


def refresh_context_cache_sync(
    model: BaseChatModel, name: str, *, ttl_seconds: int = DEFAULT_TTL_SECONDS
) -> types.CachedContent:
    """Sync twin of `refresh_context_cache`."""
    client = genai_client(gemini_chat_model(model))
    return client.caches.update(
        name=name, config=types.UpdateCachedContentConfig(ttl=f"{ttl_seconds}s")
    )


async def refresh_context_cache(
    model: BaseChatModel, name: str, *, ttl_seconds: int = DEFAULT_TTL_SECONDS
) -> types.CachedContent:
    """Move entry `name`'s expiry to `ttl_seconds` from now (storage keeps being billed)."""
    client = genai_client(gemini_chat_model(model))
    return await client.aio.caches.update(
        name=name, config=types.UpdateCachedContentConfig(ttl=f"{ttl_seconds}s")
    )


async def delete_context_cache(model: BaseChatModel, name: str) -> None:
    """Delete entry `name` now (storage stops being billed)."""
    await genai_client(gemini_chat_model(model)).aio.caches.delete(name=name)


__all__ = [
    "ExplicitCacheCase",
    "context_cache_config",
    "create_context_cache",
    "create_context_cache_sync",
    "delete_context_cache",
    "explicit_cache_case",
    "find_context_cache",
    "find_context_cache_sync",
    "get_context_cache",
    "get_context_cache_sync",
    "refresh_context_cache",
    "refresh_context_cache_sync",
]
