"""Deterministic answers to generateContent requests, with implicit and explicit caching usage.

The answer mirrors the Anthropic simulator's (`optimization.simulator.messages`): the text is
`echo:<hash> <first words of the last user turn>`, `<hash>` covering the model, prompt and tool
config, so caching never changes an answer. Function calling: with `functionCallingConfig.mode`
ANY (the first allowed function) and with AUTO when the last user turn names a function and
holds no functionResponse, the answer is one functionCall part whose args fill the schema's
required properties. `responseMimeType: application/json` with a schema: the text is a JSON
object filled the same way. `maxOutputTokens` truncates (finishReason MAX_TOKENS), the first
`stopSequences` match cuts (finishReason STOP).

Usage follows ai.google.dev: `promptTokenCount` counts the whole prompt, cached part included;
`cachedContentTokenCount` is the part read from a cache — the `cachedContent` entry the request
names, or else (implicit caching) the longest earlier prefix of at least the model's minimum.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from optimization._tokens import CHARS_PER_TOKEN, estimate_tokens
from optimization.simulator.caching import PromptCache
from optimization.simulator.gemini_api.cached_contents import CachedContentStore, minimum_tokens
from optimization.simulator.gemini_api.errors import invalid_argument
from optimization.simulator.gemini_api.request import GeminiRequest
from optimization.simulator.messages import ECHO_WORDS, tool_input
from optimization.simulator.prompt import BLOCK_OVERHEAD_TOKENS, PromptBlock


def _lower_types(schema: Any) -> Any:
    """A schema with Gemini's upper-case OpenAPI types (`OBJECT`) in JSON-schema case."""
    if isinstance(schema, dict):
        return {
            key: value.lower() if key == "type" and isinstance(value, str) else _lower_types(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_lower_types(item) for item in schema]
    return schema


def _texts(parts: list[dict[str, Any]]) -> str:
    return " ".join(part["text"] for part in parts if isinstance(part.get("text"), str))


def _last_user_parts(request: GeminiRequest) -> list[dict[str, Any]]:
    users = [turn for turn in request.contents if turn["role"] == "user"]
    return users[-1]["parts"] if users else []


def _echo_words(request: GeminiRequest) -> str:
    words = _texts(_last_user_parts(request)).split()
    return " ".join(words[:ECHO_WORDS]) or "(no text)"


def _chosen_function(
    request: GeminiRequest, functions: list[dict[str, Any]], tool_config: dict[str, Any]
) -> dict[str, Any] | None:
    calling = tool_config.get("functionCallingConfig") or {}
    mode = calling.get("mode", "AUTO")
    if not functions or mode == "NONE":
        return None
    allowed = calling.get("allowedFunctionNames") or []
    candidates = [f for f in functions if not allowed or f["name"] in allowed]
    if mode == "ANY":
        return candidates[0] if candidates else None
    last = request.contents[-1]["parts"] if request.contents else []
    if any("functionResponse" in part for part in last):
        return None
    said = _texts(_last_user_parts(request)).lower()
    return next((f for f in candidates if f["name"].lower() in said), None)


def _schema_of(function: dict[str, Any]) -> dict[str, Any]:
    schema = function.get("parametersJsonSchema") or function.get("parameters") or {}
    return dict(_lower_types(schema))


def _text_answer(request: GeminiRequest, digest: str) -> tuple[str, str]:
    generation = request.generation
    schema = generation.get("responseJsonSchema") or generation.get("responseSchema")
    if generation.get("responseMimeType") == "application/json" and schema:
        text = json.dumps(tool_input(_lower_types(schema), _echo_words(request)))
    else:
        text = f"echo:{digest[:12]} {_echo_words(request)}"
    reason = "STOP"
    for stop in generation.get("stopSequences") or []:
        at = text.find(stop)
        if at >= 0:
            text = text[:at]
    limit = generation.get("maxOutputTokens")
    if limit is not None and len(text) > limit * CHARS_PER_TOKEN:
        text, reason = text[: limit * CHARS_PER_TOKEN], "MAX_TOKENS"
    return text, reason


def usage_metadata(prompt: int, cached: int, candidates: int) -> dict[str, Any]:
    """The API's `usageMetadata` (cached tokens are part of the prompt count)."""
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if cached:
        usage["cachedContentTokenCount"] = cached
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    return usage


class GeminiAnswerer:
    """Answers validated requests; owns the implicit cache, reads the explicit ones."""

    def __init__(self, cache: PromptCache, cached_contents: CachedContentStore) -> None:
        self.cache = cache
        self.cached_contents = cached_contents

    def _prompt(
        self, request: GeminiRequest, now: float
    ) -> tuple[list[PromptBlock], GeminiRequest, int]:
        """Blocks of the whole prompt, the request holding its tools, and the explicit-cache
        tokens (0 without a cachedContent)."""
        if request.cached_content is None:
            return request.blocks, request, 0
        entry = self.cached_contents.get(request.cached_content, now=now)
        if entry.prompt.model != request.model:
            raise invalid_argument(
                f"Model used by GenerateContent request (models/{request.model}) and "
                f"CachedContent (models/{entry.prompt.model}) has to be the same."
            )
        return entry.prompt.blocks + request.blocks, entry.prompt, entry.tokens

    def answer(self, request: GeminiRequest, *, now: float, response_id: str) -> dict[str, Any]:
        """The GenerateContentResponse answering `request` at simulated time `now`."""
        blocks, holder, explicit = self._prompt(request, now)
        prompt_tokens = sum(block.tokens for block in blocks)
        if explicit:
            cached = explicit
        else:
            use = self.cache.use(
                request.model, blocks, now=now, min_tokens=minimum_tokens(request.model)
            )
            cached = use.tokens.cache_read_tokens
        digest = hashlib.sha256(request.model.encode())
        for block in blocks:
            digest.update(block.fingerprint.encode() + b"\x1e")
        digest.update(json.dumps(holder.tool_config, sort_keys=True).encode())
        hexdigest = digest.hexdigest()
        function = _chosen_function(request, holder.functions, holder.tool_config)
        if function is not None:
            args = tool_input(_schema_of(function), _echo_words(request))
            parts: list[dict[str, Any]] = [
                {"functionCall": {"name": function["name"], "args": args}}
            ]
            output = estimate_tokens(json.dumps(args)) + BLOCK_OVERHEAD_TOKENS
            reason = "STOP"
        else:
            text, reason = _text_answer(request, hexdigest)
            parts = [{"text": text}]
            output = max(1, estimate_tokens(text))
        return {
            "candidates": [
                {"content": {"parts": parts, "role": "model"}, "finishReason": reason, "index": 0}
            ],
            "usageMetadata": usage_metadata(prompt_tokens, cached, output),
            "modelVersion": request.model,
            "responseId": response_id,
        }
