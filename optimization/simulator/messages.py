"""Deterministic answers to /v1/messages requests, with prompt-caching usage.

The answer's text is `echo:<hash> <first words of the last user turn>`, where `<hash>` is 12
hex digits of a hash over the model, prompt and tool choice (cache_control excluded), so a
test can tell which request got which answer and caching never changes an answer. Output
tokens are the estimate of that text. `max_tokens` truncates it (stop_reason "max_tokens"),
the earliest of `stop_sequences` found in it cuts it there (stop_reason "stop_sequence").

Tools: with `tool_choice` "any" (first tool) or "tool" (the named one), and with "auto" when
the last user turn names a tool and carries no tool_result, the answer is a single tool_use
block whose input fills the schema's required properties (strings get the echo words,
integers their count, booleans true, enums their first value), stop_reason "tool_use".
Structured output (`output_config.format` with a JSON schema): the text is a JSON object filled
the same way.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from optimization._tokens import CHARS_PER_TOKEN, estimate_tokens
from optimization.capabilities import ProviderCapabilities
from optimization.simulator.caching import CacheUsage, PromptCache
from optimization.simulator.prompt import BLOCK_OVERHEAD_TOKENS, prompt_hash, text_of
from optimization.simulator.validation import MessagesRequest

ECHO_WORDS = 8


@functools.lru_cache(maxsize=256)
def min_cacheable_tokens(model: str) -> int:
    """The model's minimum cacheable prompt length, from the shared capability table."""
    return ProviderCapabilities.detect("anthropic", model).min_cacheable_tokens


def request_hash(request: MessagesRequest) -> str:
    """Hash of what determines the answer: model, prompt blocks and tool choice."""
    return prompt_hash(request.model, request.blocks, request.tool_choice)


def _last_user_message(request: MessagesRequest) -> dict[str, Any]:
    users = [m for m in request.messages if m["role"] == "user"]
    return users[-1] if users else request.messages[-1]


def _echo_words(request: MessagesRequest) -> str:
    words = text_of(_last_user_message(request)["blocks"]).split()
    return " ".join(words[:ECHO_WORDS]) or "(no text)"


def _chosen_tool(request: MessagesRequest) -> dict[str, Any] | None:
    tools = [t for t in request.tools if t.get("type") in (None, "custom")]
    choice = request.tool_choice or {"type": "auto"}
    if not tools or choice["type"] == "none":
        return None
    if choice["type"] == "any":
        return tools[0]
    if choice["type"] == "tool":
        return next(t for t in tools if t["name"] == choice["name"])
    last_user = _last_user_message(request)
    if any(block.get("type") == "tool_result" for block in last_user["blocks"]):
        return None
    said = text_of(last_user["blocks"]).lower()
    return next((t for t in tools if t["name"].lower() in said), None)


def _value_for(schema: Any, words: str) -> Any:
    if not isinstance(schema, dict):
        return words
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer":
        return len(words.split())
    if kind == "number":
        return float(len(words.split()))
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return tool_input(schema, words)
    return words


def tool_input(schema: dict[str, Any], words: str) -> dict[str, Any]:
    """A deterministic input satisfying `schema`'s required properties."""
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    return {name: _value_for(properties.get(name), words) for name in required}


def _text_answer(request: MessagesRequest, digest: str) -> tuple[str, str, str | None]:
    if request.output_schema is not None:
        text = json.dumps(tool_input(request.output_schema, _echo_words(request)))
    else:
        text = f"echo:{digest[:12]} {_echo_words(request)}"
    limit = request.max_tokens * CHARS_PER_TOKEN
    cut, reason, sequence = len(text), "end_turn", None
    for stop in request.stop_sequences:
        at = text.find(stop)
        if 0 <= at < cut:
            cut, reason, sequence = at, "stop_sequence", stop
    if cut > limit:
        cut, reason, sequence = limit, "max_tokens", None
    return text[:cut], reason, sequence


class MessageAnswerer:
    """Answers validated requests; owns the instance's prompt cache."""

    def __init__(self, cache: PromptCache) -> None:
        self.cache = cache

    def usage_for(self, request: MessagesRequest, *, now: float) -> CacheUsage:
        """Read/write the cache for `request` and split its input tokens."""
        return self.cache.use(
            request.model,
            request.blocks,
            now=now,
            min_tokens=min_cacheable_tokens(request.model),
        )

    def answer(
        self, request: MessagesRequest, *, now: float, message_id: str, service_tier: str
    ) -> dict[str, Any]:
        """The Message object answering `request` at simulated time `now`."""
        digest = request_hash(request)
        usage = self.usage_for(request, now=now)
        tool = _chosen_tool(request)
        content: list[dict[str, Any]]
        stop_sequence: str | None = None
        if tool is not None:
            arguments = tool_input(tool.get("input_schema") or {}, _echo_words(request))
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{digest[:24]}",
                    "name": tool["name"],
                    "input": arguments,
                }
            ]
            output_tokens = estimate_tokens(json.dumps(arguments)) + BLOCK_OVERHEAD_TOKENS
            stop_reason = "tool_use"
        else:
            text, stop_reason, stop_sequence = _text_answer(request, digest)
            content = [{"type": "text", "text": text}]
            output_tokens = max(1, estimate_tokens(text))
        return {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": request.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": usage.as_usage(output_tokens, service_tier=service_tier),
        }
