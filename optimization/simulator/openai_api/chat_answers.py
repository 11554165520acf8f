"""Deterministic chat completions, in the Anthropic simulator's style.

The text is `echo:<hash> <first words of the last user message>` (`<hash>`: 12 hex digits over
model, prompt and tool choice), cut at the first `stop` string (finish_reason "stop") or at
`max_completion_tokens` (finish_reason "length"). A tool call is answered instead when
`tool_choice` is "required" (first tool) or names a function, or, with "auto", when the last
message is the user's and names a tool: its arguments fill the schema's required properties
(`optimization.simulator.messages.tool_input`), finish_reason "tool_calls". With a
`json_schema` response format the text is a JSON object filled the same way.
"""

from __future__ import annotations

import json
from typing import Any

from optimization._tokens import CHARS_PER_TOKEN, estimate_tokens
from optimization.simulator.caching import PromptCache
from optimization.simulator.messages import ECHO_WORDS, tool_input
from optimization.simulator.openai_api.chat import (
    CACHE_INCREMENT,
    MIN_CACHED_TOKENS,
    ChatRequest,
)
from optimization.simulator.prompt import BLOCK_OVERHEAD_TOKENS, prompt_hash

FINGERPRINT = "fp_simulator"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _echo_words(request: ChatRequest) -> str:
    users = [m for m in request.messages if m["role"] == "user"]
    last = users[-1] if users else request.messages[-1]
    words = _text(last.get("content")).split()
    return " ".join(words[:ECHO_WORDS]) or "(no text)"


def _chosen_tool(request: ChatRequest) -> dict[str, Any] | None:
    functions: list[dict[str, Any]] = [tool["function"] for tool in request.tools]
    choice = request.tool_choice
    if not functions or choice == "none":
        return None
    if choice == "required":
        return functions[0]
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        return next(f for f in functions if f["name"] == name)
    last = request.messages[-1]
    if last["role"] != "user":
        return None
    said = _text(last.get("content")).lower()
    return next((f for f in functions if f["name"].lower() in said), None)


def _text_answer(request: ChatRequest, digest: str) -> tuple[str, str]:
    if request.output_schema is not None:
        text = json.dumps(tool_input(request.output_schema, _echo_words(request)))
    else:
        text = f"echo:{digest[:12]} {_echo_words(request)}"
    cut, reason = len(text), "stop"
    for stop in request.stop:
        at = text.find(stop)
        if 0 <= at < cut:
            cut = at
    if request.max_tokens is not None and cut > request.max_tokens * CHARS_PER_TOKEN:
        cut, reason = request.max_tokens * CHARS_PER_TOKEN, "length"
    return text[:cut], reason


def cached_tokens(cache: PromptCache, request: ChatRequest, *, now: float) -> int:
    """Tokens of `request` read from the cache (and its prefixes written for later ones)."""
    usage = cache.use(
        request.cache_namespace, request.blocks, now=now, min_tokens=MIN_CACHED_TOKENS
    )
    read = usage.tokens.cache_read_tokens
    return read // CACHE_INCREMENT * CACHE_INCREMENT if read >= MIN_CACHED_TOKENS else 0


def usage_object(prompt_tokens: int, completion_tokens: int, cached: int) -> dict[str, Any]:
    """The chat completion's `usage`."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def answer_chat(
    request: ChatRequest, cache: PromptCache, *, now: float, completion_id: str
) -> dict[str, Any]:
    """The chat.completion object answering `request` at simulated time `now`."""
    digest = prompt_hash(request.model, request.blocks, request.tool_choice)
    cached = cached_tokens(cache, request, now=now)
    tool = _chosen_tool(request)
    message: dict[str, Any] = {"role": "assistant", "refusal": None, "annotations": []}
    if tool is not None:
        arguments = json.dumps(tool_input(tool.get("parameters") or {}, _echo_words(request)))
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": f"call_{digest[:24]}",
                "type": "function",
                "function": {"name": tool["name"], "arguments": arguments},
            }
        ]
        completion_tokens = estimate_tokens(arguments) + BLOCK_OVERHEAD_TOKENS
        finish_reason = "tool_calls"
    else:
        text, finish_reason = _text_answer(request, digest)
        message["content"] = text
        completion_tokens = max(1, estimate_tokens(text))
    choices = [
        {"index": i, "message": message, "logprobs": None, "finish_reason": finish_reason}
        for i in range(request.n)
    ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(now),
        "model": request.model,
        "choices": choices,
        "usage": usage_object(request.prompt_tokens, completion_tokens * request.n, cached),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
