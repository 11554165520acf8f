"""A request's prompt as the ordered blocks prompt caching sees: tools, system, messages.

Token counts are estimates (`optimization._tokens.estimate_tokens`, ~4 characters a token)
of each block's text: a text block counts its text; a tool definition, tool_use or
tool_result block counts its JSON/text plus `BLOCK_OVERHEAD_TOKENS`; an image or a
non-text document counts a flat `MEDIA_BLOCK_TOKENS`. A request's input is the plain sum of
its blocks, so `input_tokens + cache_read + cache_creation` always equals that sum.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from optimization._tokens import estimate_tokens

BLOCK_OVERHEAD_TOKENS = 8
MEDIA_BLOCK_TOKENS = 1024
TTL_SECONDS = {"5m": 300, "1h": 3600}


@dataclass(frozen=True)
class PromptBlock:
    """One cacheable position in the prompt."""

    path: str  # where it sits in the request, as the API names it: "messages.0.content.1"
    fingerprint: str  # canonical JSON of the block without cache_control (and its role)
    tokens: int
    ttl: str | None  # "5m" / "1h" when the block carries cache_control


def without_cache_control(value: Any) -> Any:
    """A deep copy of `value` with every `cache_control` key removed."""
    if isinstance(value, dict):
        return {k: without_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [without_cache_control(v) for v in value]
    return value


def canonical(value: Any) -> str:
    """Stable JSON text of `value` (sorted keys, no cache_control)."""
    return json.dumps(without_cache_control(value), sort_keys=True, separators=(",", ":"))


def text_of(content: Any) -> str:
    """All the text in a content value (a string or a list of blocks), joined by spaces."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    if isinstance(content, list):
        for block in content:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif block.get("type") == "tool_result":
                parts.append(text_of(block.get("content", "")))
    return " ".join(part for part in parts if part)


def block_tokens(block: dict[str, Any]) -> int:
    """Estimated tokens of one content block (see the module docstring for the rule)."""
    kind = block.get("type")
    if kind == "text":
        return estimate_tokens(str(block.get("text", "")))
    if kind in ("image", "document"):
        source = block.get("source")
        if isinstance(source, dict) and source.get("type") == "text":
            return estimate_tokens(str(source.get("data", ""))) + BLOCK_OVERHEAD_TOKENS
        return MEDIA_BLOCK_TOKENS
    if kind == "tool_result":
        return estimate_tokens(text_of(block.get("content", ""))) + BLOCK_OVERHEAD_TOKENS
    if kind in ("thinking", "redacted_thinking"):
        return estimate_tokens(str(block.get("thinking", block.get("data", ""))))
    return estimate_tokens(canonical(block)) + BLOCK_OVERHEAD_TOKENS


def tool_tokens(tool: dict[str, Any]) -> int:
    """Estimated tokens of one tool definition."""
    return estimate_tokens(canonical(tool)) + BLOCK_OVERHEAD_TOKENS


def prompt_hash(model: str, blocks: list[PromptBlock], choice: Any) -> str:
    """Hash of what determines a simulated answer: model, prompt blocks and tool choice
    (cache_control excluded, so caching never changes an answer)."""
    digest = hashlib.sha256(model.encode())
    for block in blocks:
        digest.update(block.fingerprint.encode())
        digest.update(b"\x1e")
    digest.update(json.dumps(choice, sort_keys=True).encode())
    return digest.hexdigest()


def prefix_keys(model: str, blocks: list[PromptBlock]) -> list[str]:
    """Key of the prefix ending at each block: a running hash over model and block fingerprints."""
    running = hashlib.sha256(model.encode())
    keys: list[str] = []
    for block in blocks:
        running.update(block.fingerprint.encode())
        running.update(b"\x1e")
        keys.append(running.copy().hexdigest())
    return keys
