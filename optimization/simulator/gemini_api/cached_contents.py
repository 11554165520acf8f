"""Explicit context caching: `cachedContents` with a TTL or expire time on the simulator clock.

An entry holds a prompt prefix (contents, systemInstruction, tools, toolConfig) for one model. It
lives until its `expireTime` (create time + `ttl`, one hour when neither is given, as
ai.google.dev "Context caching" documents); PATCH with `updateMask=ttl` or `expireTime` moves
it; an expired entry answers 404 like a deleted one. A prefix below the model's minimum
cacheable length is refused (400), as the real API refuses it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from optimization.capabilities import ProviderCapabilities
from optimization.simulator.batches import timestamp
from optimization.simulator.gemini_api.errors import GoogleError, invalid_argument
from optimization.simulator.gemini_api.request import GeminiRequest, model_name, parse_request

DEFAULT_TTL_SECONDS = 3600.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")
CACHE_FIELDS = frozenset(
    {"model", "contents", "systemInstruction", "tools", "toolConfig", "ttl", "expireTime"}
    | {"displayName", "name"}
)


def parse_duration(value: Any, field: str) -> float:
    """`"300s"` → 300.0 (400 INVALID_ARGUMENT otherwise)."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise invalid_argument(
            f"Invalid value at '{field}' (type.googleapis.com/google.protobuf.Duration), {value!r}"
        )
    return float(match[1])


def parse_time(value: Any, field: str) -> float:
    """An RFC 3339 time as Unix seconds (400 INVALID_ARGUMENT otherwise)."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid_argument(
            f"Invalid value at '{field}' (type.googleapis.com/google.protobuf.Timestamp), {value!r}"
        ) from None


def minimum_tokens(model: str) -> int:
    """The model's minimum cacheable prompt, from the shared capability table."""
    return ProviderCapabilities.detect("gemini", model).min_cacheable_tokens or 2048


@dataclass
class CachedContent:
    """One explicit cache entry."""

    name: str
    display_name: str
    prompt: GeminiRequest
    created_at: float
    updated_at: float
    expires_at: float

    @property
    def tokens(self) -> int:
        """Tokens the entry holds (what a request using it reads from the cache)."""
        return self.prompt.input_tokens

    def as_json(self) -> dict[str, Any]:
        """The CachedContent resource (the prompt itself is never echoed back)."""
        return {
            "name": self.name,
            "model": f"models/{self.prompt.model}",
            "displayName": self.display_name,
            "createTime": timestamp(self.created_at),
            "updateTime": timestamp(self.updated_at),
            "expireTime": timestamp(self.expires_at),
            "usageMetadata": {"totalTokenCount": self.tokens},
        }


def _expiry(body: dict[str, Any], now: float) -> float | None:
    if body.get("ttl") is not None and body.get("expireTime") is not None:
        raise invalid_argument("Only one of ttl and expire_time may be set.")
    if body.get("ttl") is not None:
        return now + parse_duration(body["ttl"], "ttl")
    if body.get("expireTime") is not None:
        return parse_time(body["expireTime"], "expire_time")
    return None


class CachedContentStore:
    """The explicit caches of one simulator instance."""

    def __init__(self) -> None:
        self._entries: dict[str, CachedContent] = {}
        self._lock = threading.Lock()

    def create(self, body: Any, *, cache_id: str, now: float) -> CachedContent:
        """Validate and store a new entry (400 on a bad body or a too-small prefix)."""
        if not isinstance(body, dict) or not body.get("model"):
            raise invalid_argument(
                "* CreateCachedContentRequest.cached_content.model: model is required"
            )
        unknown = [name for name in body if name not in CACHE_FIELDS]
        if unknown:
            raise invalid_argument(
                f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.'
            )
        prompt_body = {k: body[k] for k in ("contents", "systemInstruction", "tools") if k in body}
        prompt = parse_request(prompt_body, model_name(str(body["model"])), needs_contents=False)
        if body.get("toolConfig") is not None:
            prompt = parse_request(
                {**prompt_body, "toolConfig": body["toolConfig"]},
                prompt.model,
                needs_contents=False,
            )
        minimum = minimum_tokens(prompt.model)
        if prompt.input_tokens < minimum:
            raise invalid_argument(
                f"Cached content is too small. total_token_count={prompt.input_tokens}, "
                f"min_total_token_count={minimum}"
            )
        expires = _expiry(body, now) or now + DEFAULT_TTL_SECONDS
        entry = CachedContent(
            name=f"cachedContents/{cache_id}",
            display_name=str(body.get("displayName", "")),
            prompt=prompt,
            created_at=now,
            updated_at=now,
            expires_at=expires,
        )
        with self._lock:
            self._entries[entry.name] = entry
        return entry

    def get(self, name: str, *, now: float) -> CachedContent:
        """A live entry; 404 NOT_FOUND when unknown, deleted or expired."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry.expires_at <= now:
                del self._entries[name]
                entry = None
        if entry is None:
            raise GoogleError(404, f"CachedContent not found (or permission denied): {name}")
        return entry

    def list(self, *, now: float) -> list[CachedContent]:
        """Every live entry, oldest first."""
        with self._lock:
            self._entries = {n: e for n, e in self._entries.items() if e.expires_at > now}
            return sorted(self._entries.values(), key=lambda entry: entry.created_at)

    def update(self, name: str, body: Any, update_mask: str | None, *, now: float) -> CachedContent:
        """Move an entry's expiry (`ttl` or `expireTime`; nothing else can change)."""
        entry = self.get(name, now=now)
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received. Expected an object.")
        fields = {f.strip() for f in (update_mask or "").split(",") if f.strip()}
        allowed = {"ttl", "expireTime", "expire_time"}
        if fields - allowed:
            raise invalid_argument(
                f"Field mask may only name ttl or expire_time, got {update_mask!r}"
            )
        expires = _expiry({k: v for k, v in body.items() if k in ("ttl", "expireTime")}, now)
        if expires is None:
            raise invalid_argument("Either ttl or expire_time must be set to update a cache.")
        entry.expires_at = expires
        entry.updated_at = now
        return entry

    def delete(self, name: str, *, now: float) -> None:
        """Forget an entry; 404 when it is not there."""
        self.get(name, now=now)
        with self._lock:
            self._entries.pop(name, None)
