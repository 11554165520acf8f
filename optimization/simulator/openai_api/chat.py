"""A /v1/chat/completions request checked the way OpenAI checks it, and its cacheable prompt.

Automatic prompt caching (OpenAI's prompt caching guide): the prompt is tools, the response
format's schema, then every message part, in order. A request reads the longest prefix an
earlier request of the same model (and the same `prompt_cache_key`, which routes requests to
one cache) has already sent, provided it reaches 1,024 tokens; `cached_tokens` reports it
rounded down to a multiple of 128. Entries live 10 minutes after their last use
(`prompt_cache_retention: "in_memory"`, the default) or 24 hours (`"24h"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from optimization._tokens import estimate_tokens
from optimization.capabilities import OPENAI_MIN_CACHEABLE
from optimization.simulator.openai_api.errors import invalid
from optimization.simulator.prompt import (
    BLOCK_OVERHEAD_TOKENS,
    MEDIA_BLOCK_TOKENS,
    PromptBlock,
    canonical,
    tool_tokens,
)

CACHE_INCREMENT = 128
MIN_CACHED_TOKENS = OPENAI_MIN_CACHEABLE
RETENTION_SECONDS = {"in_memory": 600.0, "24h": 86_400.0}
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat completions request."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    tool_choice: Any
    max_tokens: int | None
    stop: list[str]
    n: int
    stream: bool
    include_usage: bool
    cache_key: str | None
    retention: str
    output_schema: dict[str, Any] | None
    blocks: list[PromptBlock]

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the request."""
        return sum(block.tokens for block in self.blocks)

    @property
    def cache_namespace(self) -> str:
        """What a cached prefix is filed under: the model and the routing key."""
        return f"{self.model}\x1f{self.cache_key or ''}"


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise invalid(
            f"Invalid '{name}': expected an integer >= 1, got {value!r}.",
            param=name,
            code="invalid_value",
        )
    return value


def _check_messages(messages: Any) -> list[dict[str, Any]]:
    if messages is None:
        raise invalid(
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        raise invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
            "an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(
                f"Invalid type for 'messages[{i}]': expected an object.",
                param=f"messages[{i}]",
                code="invalid_type",
            )
        if message.get("role") not in ROLES:
            raise invalid(
                f"Invalid value: {message.get('role')!r}. Supported values are: "
                + ", ".join(f"'{role}'" for role in ROLES)
                + ".",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
        if message["role"] == "tool" and not message.get("tool_call_id"):
            raise invalid(
                f"Missing required parameter: 'messages[{i}].tool_call_id'.",
                param=f"messages[{i}].tool_call_id",
                code="missing_required_parameter",
            )
    return messages


def _tool_name(tool: Any, i: int) -> str:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise invalid(
            f"Missing required parameter: 'tools[{i}].function.name'.",
            param=f"tools[{i}].function.name",
            code="missing_required_parameter",
        )
    return str(function["name"])


def _check_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise invalid("Invalid type for 'tools': expected an array.", param="tools")
    names = [_tool_name(tool, i) for i, tool in enumerate(tools)]
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise invalid(
                f"Invalid value for 'tool_choice': tool {name!r} is not in 'tools'.",
                param="tool_choice",
            )
    elif choice not in (None, "none", "auto", "required"):
        raise invalid(
            f"Invalid value: {choice!r}. Supported values are: 'none', 'auto', and 'required'.",
            param="tool_choice",
            code="invalid_value",
        )
    return tools


def _part_tokens(part: Any) -> int:
    if isinstance(part, str):
        return estimate_tokens(part)
    if isinstance(part, dict) and part.get("type") == "text":
        return estimate_tokens(str(part.get("text", "")))
    if isinstance(part, dict) and part.get("type") in ("image_url", "input_audio", "file"):
        return MEDIA_BLOCK_TOKENS
    return estimate_tokens(canonical(part)) + BLOCK_OVERHEAD_TOKENS


def prompt_blocks(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    schema: dict[str, Any] | None,
    retention: str,
) -> list[PromptBlock]:
    """The prompt as cacheable blocks: tools, the output schema, each message's parts."""
    blocks = [
        PromptBlock(f"tools[{i}]", canonical(tool), tool_tokens(tool), retention)
        for i, tool in enumerate(tools)
    ]
    if schema is not None:
        blocks.append(
            PromptBlock("response_format", canonical(schema), tool_tokens(schema), retention)
        )
    for i, message in enumerate(messages):
        content = message.get("content")
        parts = content if isinstance(content, list) else [content or ""]
        for j, part in enumerate(parts):
            fingerprint = canonical({"role": message["role"], "part": part})
            blocks.append(
                PromptBlock(
                    f"messages[{i}].content[{j}]", fingerprint, _part_tokens(part), retention
                )
            )
        extras = {key: message[key] for key in ("tool_calls", "tool_call_id") if key in message}
        if extras:
            blocks.append(
                PromptBlock(
                    f"messages[{i}].tool_calls",
                    canonical(extras),
                    estimate_tokens(canonical(extras)) + BLOCK_OVERHEAD_TOKENS,
                    retention,
                )
            )
    return blocks


def _output_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    response_format = body.get("response_format")
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema")
    return schema if isinstance(schema, dict) else {}


def _stop(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise invalid("Invalid 'stop': expected a string or up to 4 strings.", param="stop")


def parse_chat_request(body: Any, *, deployment: str | None = None) -> ChatRequest:
    """Validate a chat completions body (400 in OpenAI's words); `deployment` is Azure's,
    which names the model when the body does not."""
    if not isinstance(body, dict):
        raise invalid("Invalid request body: expected a JSON object.")
    for name in body:
        if name not in KNOWN_FIELDS:
            raise invalid(f"Unrecognized request argument supplied: {name}")
    model = body.get("model") or deployment
    if not isinstance(model, str) or not model:
        raise invalid("you must provide a model parameter")
    messages = _check_messages(body.get("messages"))
    tools = _check_tools(body)
    stream = bool(body.get("stream"))
    options = body.get("stream_options")
    if options is not None and not stream:
        raise invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            param="stream_options",
        )
    retention = body.get("prompt_cache_retention") or "in_memory"
    if retention not in RETENTION_SECONDS:
        raise invalid(
            f"Invalid value: {retention!r}. Supported values are: 'in_memory' and '24h'.",
            param="prompt_cache_retention",
            code="invalid_value",
        )
    max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
    schema = _output_schema(body)
    return ChatRequest(
        model=model,
        messages=messages,
        tools=tools,
        tool_choice=body.get("tool_choice"),
        max_tokens=max_tokens,
        stop=_stop(body),
        n=_positive_int(body, "n") or 1,
        stream=stream,
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        cache_key=body.get("prompt_cache_key"),
        retention=retention,
        output_schema=schema,
        blocks=prompt_blocks(messages, tools, schema, retention),
    )
