"""Gemini explicit context caching on live calls, only where the observed reuse pays.

Per static prefix (leading system messages, tools, tool choice and config) this process counts
the calls of the last hour and how much of the prefix implicit caching already served
(`context_cache_memory`). Once `explicit_cache_case` says an entry pays, one `cachedContents`
entry is created with the model's `cacheTTL` (never below `MIN_TTL_SECONDS`), refreshed while it
keeps paying and left to expire when it does not. An entry is named after its prefix's key: a
process about to create one first lists the entries (at most
`gemini_context_cache.MAX_LISTED_ENTRIES`) and uses a live one another worker made for the same
prefix, model and key; about to refresh one, it first reads its expiry, which another worker
may have moved already. Calls on that prefix then name the entry and carry only what follows the
prefix: the API refuses a system instruction, tools or tool config next to a cached content
(ai.google.dev "Context caching", checked 2026-11-30), and langchain-google-genai 4.x would send
them (`_build_request_config`). Each entry created or refreshed records one storage usage event
(the token-hours bought), in the process that bought them.

A refused creation or refresh never fails the call: it goes out plain. A call the provider
refuses because of its entry (expired, deleted, 400/403/404) reports `refused`, the entry is
forgotten, and the wrapper resends the plain call. Batch requests never name an entry: Batch
Mode's support for `cachedContent` is not documented, and users report it refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from google.genai import errors as genai_errors
from google.genai import types
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from optimization import context_cache_memory
from optimization.context_cache_memory import ContextCacheEntry, PrefixTraffic
from optimization.families.base import CacheRequest, model_name_of, unchanged_request
from optimization.families.openai import prompt_cache_key
from optimization.gemini_batches import gemini_client_key
from optimization.gemini_context_cache import (
    create_context_cache,
    create_context_cache_sync,
    explicit_cache_case,
    find_context_cache,
    find_context_cache_sync,
    get_context_cache,
    get_context_cache_sync,
    refresh_context_cache,
    refresh_context_cache_sync,
)
from optimization.recorders import default_recorder
from optimization.telemetry import cache_storage_event_for

logger = logging.getLogger(__name__)

# The API sets no minimum TTL on cachedContents; Vertex AI documents one minute. An entry that
# lives less than a call's round trip would only cost storage.
MIN_TTL_SECONDS = 60
# An entry this close to its expiry is not named (it could expire in flight).
EXPIRY_MARGIN_SECONDS = 10.0
# A refused creation is not retried before this (a too-small prefix: for a day).
RETRY_AFTER_REFUSAL_SECONDS = 3600.0
TOO_SMALL_RETRY_SECONDS = 86400.0
# What goes into the entry beside the system instruction (and must leave the call).
STATIC_KWARGS = ("tools", "functions", "tool_choice", "tool_config")
# What the provider answers when it refuses a request's cached content.
REFUSAL_CODES = frozenset({400, 403, 404})


@dataclass(frozen=True)
class StaticPrefix:
    """A call split into its cacheable static prefix and the rest."""

    key: str
    prefix: list[BaseMessage]
    prefix_kwargs: dict[str, Any]
    rest: list[BaseMessage]
    rest_kwargs: dict[str, Any]
    share: float  # the prefix's share of the call's characters (estimates its tokens)


def static_prefix(
    messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
) -> StaticPrefix | None:
    """The call's static prefix, or None when it has none an entry could hold alone."""
    leading = 0
    while leading < len(messages) and messages[leading].type == "system":
        leading += 1
    rest = list(messages[leading:])
    if not rest or any(message.type == "system" for message in rest):
        return None  # nothing would follow the entry, or a system turn the entry cannot hold
    prefix_kwargs = {k: kwargs[k] for k in STATIC_KWARGS if kwargs.get(k) is not None}
    # The system messages and every static param (tools, tool choice and config) in one key.
    key = prompt_cache_key(messages[:leading], [prefix_kwargs] if prefix_kwargs else None)
    if key is None:
        return None
    prefix_chars = len(json.dumps([m.content for m in messages[:leading]], default=str)) + len(
        json.dumps(prefix_kwargs, default=str)
    )
    rest_chars = len(json.dumps([m.content for m in rest], default=str))
    return StaticPrefix(
        key=key,
        prefix=list(messages[:leading]),
        prefix_kwargs=prefix_kwargs,
        rest=rest,
        rest_kwargs={k: v for k, v in kwargs.items() if k not in STATIC_KWARGS},
        share=prefix_chars / max(1, prefix_chars + rest_chars),
    )


Action = Literal["plain", "use", "create", "refresh"]


class ExplicitCaching:
    """One call's explicit caching: decide, create or refresh the entry, rewrite the call."""

    def __init__(
        self, model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
    ) -> None:
        self.model = model
        self.messages = list(messages)
        self.kwargs = dict(kwargs)
        settings = getattr(model, "llmopt", None)
        ttl = getattr(getattr(settings, "config", None), "cache_ttl", 3600)
        self.ttl = max(MIN_TTL_SECONDS, int(ttl))
        self.settings = settings
        self.model_name = model_name_of(model)
        self.split = self._split()
        self.traffic: PrefixTraffic | None = None
        self.acting = False  # this call holds the traffic's `busy` (creates or refreshes)
        self.memory = context_cache_memory.shared_context_cache_memory(
            ("gemini", self.model_name, gemini_client_key(model), self.ttl)
        )

    def _split(self) -> StaticPrefix | None:
        if self.kwargs.get("cached_content") or getattr(self.model, "cached_content", None):
            return None  # the caller names an entry of their own
        return static_prefix(self.messages, self.kwargs)

    def decide(self) -> Action:
        """Count this call and choose what to do for it (marks the traffic busy to act)."""
        if self.split is None:
            return "plain"
        now = context_cache_memory.clock()
        with self.memory.lock:
            traffic = self.traffic = self.memory.traffic(self.split.key, now)
            traffic.use(now)
            entry = traffic.entry
            if entry is not None and entry.expires_at - now <= EXPIRY_MARGIN_SECONDS:
                traffic.entry = entry = None  # expired on the provider's side by now
            if traffic.busy:
                return "use" if entry is not None else "plain"
            if entry is not None:
                if entry.expires_at - now < self.ttl / 2 and self._pays(traffic, now):
                    traffic.busy = self.acting = True
                    return "refresh"
                return "use"
            if now < traffic.blocked_until or not self._pays(traffic, now):
                return "plain"
            traffic.busy = self.acting = True
            return "create"

    def _pays(self, traffic: PrefixTraffic, now: float) -> bool:
        if not traffic.prefix_tokens:
            return False
        hours = max(self.ttl, min(now - traffic.first_seen, 86400.0)) / 3600
        try:
            case = explicit_cache_case(
                self.model_name,
                reuses_per_hour=traffic.reuses_per_hour(now),
                prefix_tokens=traffic.prefix_tokens,
                hours_in_use=hours,
                implicit_hit_rate=traffic.implicit_hit_rate(),
            )
        except Exception as exc:  # a model the price table cannot price: never pays
            logger.info("explicit cache not weighed for %s: %s", self.model_name, exc)
            return False
        return case.pays

    def created(self, entry: types.CachedContent | None, error: Exception | None) -> None:
        """Keep the entry just created (or note the refusal) and record its storage."""
        traffic = self._traffic()
        now = context_cache_memory.clock()
        with self.memory.lock:
            if entry is None or not entry.name:
                wait = TOO_SMALL_RETRY_SECONDS if "too small" in str(error) else None
                traffic.blocked_until = now + (wait or RETRY_AFTER_REFUSAL_SECONDS)
                logger.warning("explicit cache entry not created, calling plain: %s", error)
                return
            tokens = _keep(traffic, entry, now + self.ttl)
        self._record_storage(tokens * self.ttl)

    def lookup(self) -> dict[str, Any]:
        """The arguments of `find_context_cache` for an entry another process made for this
        call's prefix (live for longer than the margin)."""
        live_after = context_cache_memory.clock() + EXPIRY_MARGIN_SECONDS
        return {"display_name": self._prefix().key, "live_after": live_after}

    def adopted(self, entry: types.CachedContent) -> None:
        """Use the live entry another process created for this prefix (its storage was
        recorded there)."""
        traffic = self._traffic()
        expiry = entry.expire_time.timestamp() if entry.expire_time else 0.0
        with self.memory.lock:
            _keep(traffic, entry, expiry)

    def needs_refresh(self, current: types.CachedContent) -> bool:
        """Take the entry's expiry as the provider holds it (another worker sharing it may
        have moved it); whether it still needs moving."""
        traffic = self._traffic()
        now = context_cache_memory.clock()
        with self.memory.lock:
            entry = traffic.entry
            if entry is None:
                return False
            if current.expire_time is not None:
                entry.expires_at = current.expire_time.timestamp()
            return entry.expires_at - now < self.ttl / 2

    def refreshed(self, error: Exception | None) -> None:
        """Move the entry's expiry (or forget it when the refresh was refused: `error`)."""
        traffic = self._traffic()
        now = context_cache_memory.clock()
        with self.memory.lock:
            entry = traffic.entry
            if entry is None:
                return
            if error is not None:
                logger.warning("explicit cache entry %s not refreshed: %s", entry.name, error)
                traffic.entry = None
                return
            bought = entry.tokens * (now + self.ttl - entry.expires_at)
            entry.expires_at = now + self.ttl
        self._record_storage(bought)

    def _record_storage(self, token_seconds: float) -> None:
        settings = self.settings
        try:
            event = cache_storage_event_for(
                provider=getattr(settings, "provider", "gemini"),
                model=self.model_name,
                token_hours=_token_hours(token_seconds),
                config_entry=getattr(settings, "config_entry", None),
            )
            recorder = getattr(settings, "recorder", None) or default_recorder()
            recorder.record(event)
        except Exception as exc:  # telemetry must never break the call
            logger.warning("recording cache storage failed: %s", exc)

    def creation(self) -> dict[str, Any]:
        """The arguments of `create_context_cache` for this call's prefix."""
        split = self._prefix()
        return {
            "prefix": split.prefix,
            "ttl_seconds": self.ttl,
            "call_kwargs": split.prefix_kwargs,
            "display_name": split.key,  # what other processes find it by
        }

    def entry_name(self) -> str:
        """The name of the entry this call refreshes."""
        traffic = self._traffic()
        with self.memory.lock:
            if traffic.entry is None:
                raise ValueError("no entry to refresh")
            return traffic.entry.name

    def release(self) -> None:
        """End this call's creation or refresh, however it went."""
        if self.acting and self.traffic is not None:
            with self.memory.lock:
                self.traffic.busy = self.acting = False

    def _prefix(self) -> StaticPrefix:
        if self.split is None:
            raise ValueError("this call has no static prefix")
        return self.split

    def _traffic(self) -> PrefixTraffic:
        if self.traffic is None:
            raise ValueError("decide() has not counted this call")
        return self.traffic

    def request(self) -> CacheRequest:
        """The call to send now: naming the live entry, or plain (learning either way)."""
        split, traffic = self.split, self.traffic
        if split is None or traffic is None:
            return unchanged_request(self.messages, self.kwargs)
        with self.memory.lock:
            entry = traffic.entry
        if entry is None:
            return CacheRequest(self.messages, self.kwargs, observe=self._observe_plain)
        return CacheRequest(
            split.rest,
            {**split.rest_kwargs, "cached_content": entry.name},
            names_entry=True,
            refused=lambda exc: self._refused(entry, exc),
        )

    def _observe_plain(self, usage: Mapping[str, Any] | None) -> None:
        if not usage or self.split is None or self.traffic is None:
            return
        details = usage.get("input_token_details") or {}
        read = int(details.get("cache_read") or 0)
        prefix_tokens = round(int(usage.get("input_tokens") or 0) * self.split.share)
        with self.memory.lock:
            self.traffic.observe_plain_call(prefix_tokens, read)

    def _refused(self, entry: ContextCacheEntry, exc: BaseException) -> bool:
        if not _is_refusal(exc):
            return False
        traffic = self._traffic()
        logger.warning("the provider refused explicit cache entry %s: %s", entry.name, exc)
        with self.memory.lock:
            if traffic.entry is entry:
                traffic.entry = None
        return True


def _keep(traffic: PrefixTraffic, entry: types.CachedContent, expires_at: float) -> int:
    """Hold `entry` as the prefix's live entry until `expires_at`; its tokens (as the provider
    counted them, else the prefix's estimate). Called under the memory's lock."""
    usage = entry.usage_metadata
    tokens = (usage.total_token_count if usage else None) or traffic.prefix_tokens or 0
    traffic.prefix_tokens = tokens
    traffic.entry = ContextCacheEntry(entry.name or "", tokens, expires_at)
    return tokens


def _token_hours(token_seconds: float) -> Decimal:
    # To the ledger's precision (six decimals), so the event and the stored row agree.
    return (Decimal(str(token_seconds)) / 3600).quantize(Decimal("0.000001"))


def _is_refusal(exc: BaseException) -> bool:
    """The API refusing a request's cached content: a 404, or a 400/403 naming the cache (an
    expired entry answers 403 "CachedContent not found (or permission denied)"). langchain
    wraps google-genai's ClientError, hence the walk down the causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, genai_errors.ClientError) and (
            seen.code == 404 or (seen.code in REFUSAL_CODES and "cache" in str(seen).lower())
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


# The provider calls an entry flow asks for, by name: (sync, async) functions taking the model
# first and the flow's arguments.
_CALLS: dict[str, tuple[Callable[..., Any], Callable[..., Awaitable[Any]]]] = {
    "find": (find_context_cache_sync, find_context_cache),
    "create": (create_context_cache_sync, create_context_cache),
    "get": (get_context_cache_sync, get_context_cache),
    "refresh": (refresh_context_cache_sync, refresh_context_cache),
}
Call = tuple[str, dict[str, Any]]
EntryFlow = Generator[Call, Any, None]


def _entry_flow(caching: ExplicitCaching, action: Action) -> EntryFlow:
    """What `action` does with the provider's entries, as calls for a runner to make (a
    call's result is sent back, its error thrown in): written once for sync and async calls."""
    if action == "create":
        try:
            found = yield "find", caching.lookup()
        except Exception as exc:  # never fails the call: a new entry is made instead
            logger.info("explicit cache entries not listed: %s", exc)
            found = None
        if found is not None:
            caching.adopted(found)
            return
        try:
            entry = yield "create", caching.creation()
        except Exception as exc:
            caching.created(None, exc)
        else:
            caching.created(entry, None)
    elif action == "refresh":
        try:
            current = yield "get", {"name": caching.entry_name()}
            if caching.needs_refresh(current):
                yield "refresh", {"name": caching.entry_name(), "ttl_seconds": caching.ttl}
                caching.refreshed(None)
        except Exception as exc:
            caching.refreshed(exc)


def _advance(flow: EntryFlow, result: Any, error: Exception | None) -> Call | None:
    """The flow's next call, given the last call's result or error (None: the flow is done)."""
    try:
        return flow.throw(error) if error is not None else flow.send(result)
    except StopIteration:
        return None


def explicit_cache_request(
    model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
) -> CacheRequest:
    """The call rewritten to use an explicit entry where one pays (created or refreshed here,
    with a blocking call)."""
    caching = ExplicitCaching(model, messages, kwargs)
    flow = _entry_flow(caching, caching.decide())
    result: Any = None
    error: Exception | None = None
    try:
        while (call := _advance(flow, result, error)) is not None:
            name, arguments = call
            try:
                result, error = _CALLS[name][0](model, **arguments), None
            except Exception as exc:
                result, error = None, exc
    finally:
        caching.release()
    return caching.request()


async def aexplicit_cache_request(
    model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
) -> CacheRequest:
    """Async twin of `explicit_cache_request` (the entry is created inline, awaited)."""
    caching = ExplicitCaching(model, messages, kwargs)
    flow = _entry_flow(caching, caching.decide())
    result: Any = None
    error: Exception | None = None
    try:
        while (call := _advance(flow, result, error)) is not None:
            name, arguments = call
            try:
                result, error = await _CALLS[name][1](model, **arguments), None
            except Exception as exc:
                result, error = None, exc
    finally:
        caching.release()  # a cancelled creation must not leave the prefix busy for ever
    return caching.request()


__all__ = [
    "MIN_TTL_SECONDS",
    "ExplicitCaching",
    "StaticPrefix",
    "aexplicit_cache_request",
    "explicit_cache_request",
    "static_prefix",
]
