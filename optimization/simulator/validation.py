"""Checks a /v1/messages request body the way Anthropic's API does and parses it.

Messages follow the real API's wording where it is known (the 4-breakpoint limit, the TTL
ordering rule, "Field required", "Extra inputs are not permitted").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from optimization.simulator.errors import ApiError, invalid
from optimization.simulator.prompt import (
    TTL_SECONDS,
    PromptBlock,
    block_tokens,
    canonical,
    tool_tokens,
)

KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "tools",
        "tool_choice",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "metadata",
        "thinking",
        "service_tier",
        "cache_control",
        "container",
        "context_management",
        "mcp_servers",
        "output_config",
        "output_format",
        "inference_geo",
        "diagnostics",
        "speed",
    }
)
BLOCK_TYPES = (
    "text",
    "image",
    "document",
    "search_result",
    "thinking",
    "redacted_thinking",
    "tool_use",
    "tool_result",
    "server_tool_use",
    "web_search_tool_result",
    "container_upload",
)
ASSISTANT_ONLY = frozenset({"tool_use", "thinking", "redacted_thinking", "server_tool_use"})
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TTL_ORDER_MESSAGE = (
    "{path}.cache_control.ttl: a ttl='1h' cache_control block must not come after a "
    "ttl='5m' cache_control block. Note that blocks are processed in the following order: "
    "`tools`, `system`, `messages`."
)


@dataclass(frozen=True)
class MessagesRequest:
    """A validated /v1/messages request."""

    model: str
    max_tokens: int
    messages: list[dict[str, Any]]
    system: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    tool_choice: dict[str, Any] | None
    stop_sequences: list[str]
    stream: bool
    blocks: list[PromptBlock]
    # `output_config.format.schema` of a structured-output request (JSON answers only).
    output_schema: dict[str, Any] | None = None

    @property
    def breakpoints(self) -> list[int]:
        """Positions (into `blocks`) that carry cache_control, in prompt order."""
        return [i for i, block in enumerate(self.blocks) if block.ttl is not None]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cache_ttl(block: Any, path: str) -> str | None:
    if not isinstance(block, dict) or block.get("cache_control") is None:
        return None
    control = block["cache_control"]
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise invalid(f"{path}.cache_control.type: Input should be 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if ttl not in TTL_SECONDS:
        raise invalid(f"{path}.cache_control.ttl: Input should be '5m' or '1h'")
    return str(ttl)


def _check_block(block: Any, path: str, role: str) -> dict[str, Any]:
    if not isinstance(block, dict):
        raise invalid(f"{path}: Input should be a valid dictionary or object")
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        expected = ", ".join(f"'{name}'" for name in BLOCK_TYPES)
        raise invalid(
            f"{path}: Input tag '{kind}' found using 'type' does not match any of the "
            f"expected tags: {expected}"
        )
    if kind in ASSISTANT_ONLY and role != "assistant":
        raise invalid(f"{path}.type: '{kind}' blocks are only allowed in assistant messages")
    if kind == "tool_result" and role != "user":
        raise invalid(f"{path}.type: 'tool_result' blocks are only allowed in user messages")
    if kind == "text":
        if not isinstance(block.get("text"), str):
            raise invalid(f"{path}.text: Field required")
        if not block["text"]:
            raise invalid("messages: text content blocks must be non-empty")
    if kind == "tool_use" and not (isinstance(block.get("id"), str) and "name" in block):
        raise invalid(f"{path}: tool_use blocks need `id`, `name` and `input`")
    if kind == "tool_result" and not isinstance(block.get("tool_use_id"), str):
        raise invalid(f"{path}.tool_use_id: Field required")
    return block


def _content_blocks(content: Any, path: str, role: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        if not content:
            raise invalid(f"{path}: messages must have non-empty content")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid(f"{path}: Input should be a valid string or list of content blocks")
    return [_check_block(block, f"{path}.{i}", role) for i, block in enumerate(content)]


def _check_tool_pairing(messages: list[dict[str, Any]]) -> None:
    for index, message in enumerate(messages):
        if message["role"] != "assistant" or not isinstance(message["content"], list):
            continue
        ids = [b["id"] for b in message["content"] if b.get("type") == "tool_use"]
        if not ids:
            continue
        following = messages[index + 1]["content"] if index + 1 < len(messages) else []
        answered = {
            b.get("tool_use_id")
            for b in (following if isinstance(following, list) else [])
            if b.get("type") == "tool_result"
        }
        missing = [tool_id for tool_id in ids if tool_id not in answered]
        if missing and index + 1 < len(messages):
            raise invalid(
                f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )


def _check_tools(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise invalid("tools: Input should be a valid list")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise invalid(f"tools.{i}: Input should be a valid dictionary or object")
        if tool.get("type") not in (None, "custom"):
            continue  # server tools (web_search, ...) carry no schema
        if not isinstance(tool.get("name"), str) or not TOOL_NAME.match(tool["name"]):
            raise invalid(f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if not isinstance(tool.get("input_schema"), dict):
            raise invalid(f"tools.{i}.input_schema: Field required")
    choice = body.get("tool_choice")
    if choice is None:
        return tools, None
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if not tools and choice["type"] != "none":
        raise invalid("tool_choice may only be specified while providing tools.")
    if choice["type"] == "tool" and choice.get("name") not in {t.get("name") for t in tools}:
        raise invalid(f"tool_choice.name: Tool '{choice.get('name')}' not found in tools")
    return tools, choice


def _check_scalars(body: dict[str, Any], max_output_tokens: int) -> None:
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise invalid(f"{name}: Field required")
    for name in body:
        if name not in KNOWN_FIELDS:
            raise invalid(f"{name}: Extra inputs are not permitted")
    if not isinstance(body["model"], str) or not body["model"]:
        raise invalid("model: Input should be a valid string")
    if not body["model"].startswith("claude-"):
        raise ApiError(404, f"model: {body['model']}")
    max_tokens = body["max_tokens"]
    if not _is_int(max_tokens) or max_tokens < 1:
        raise invalid("max_tokens: Input should be a valid integer greater than or equal to 1")
    if max_tokens > max_output_tokens:
        raise invalid(
            f"max_tokens: {max_tokens} > {max_output_tokens}, which is the maximum allowed "
            f"number of output tokens for {body['model']}"
        )
    temperature = body.get("temperature")
    if temperature is not None and (
        not isinstance(temperature, int | float) or not 0 <= temperature <= 1
    ):
        raise invalid("temperature: Input should be less than or equal to 1")
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops)
    ):
        raise invalid("stop_sequences: Input should be a list of non-empty strings")
    if not isinstance(body.get("stream", False), bool):
        raise invalid("stream: Input should be a valid boolean")


def _check_messages(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise invalid("messages: at least one message is required")
    messages: list[dict[str, Any]] = []
    previous_role = None
    for i, message in enumerate(raw):
        if not isinstance(message, dict):
            raise invalid(f"messages.{i}: Input should be a valid dictionary or object")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise invalid(f"messages.{i}.content: Field required")
        if role == previous_role:
            raise invalid(
                f'messages: roles must alternate between "user" and "assistant", but found '
                f'multiple "{role}" roles in a row'
            )
        previous_role = role
        blocks = _content_blocks(message["content"], f"messages.{i}.content", role)
        messages.append({"role": role, "content": message["content"], "blocks": blocks})
    last = messages[-1]
    if last["role"] == "assistant":
        final = last["blocks"][-1]
        if final.get("type") == "text" and final["text"] != final["text"].rstrip():
            raise invalid("messages: final assistant content cannot end with trailing whitespace")
    _check_tool_pairing(messages)
    return messages


def _system_blocks(system: Any) -> list[dict[str, Any]]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"type": "text", "text": system}]
    if not isinstance(system, list):
        raise invalid("system: Input should be a valid string or list of text blocks")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise invalid(f"system.{i}.type: Input should be 'text'")
        _check_block(block, f"system.{i}", "system")
    return list(system)


def _prompt_blocks(
    tools: list[dict[str, Any]], system: list[dict[str, Any]], messages: list[dict[str, Any]]
) -> list[PromptBlock]:
    blocks = [
        PromptBlock(f"tools.{i}", "T" + canonical(t), tool_tokens(t), _cache_ttl(t, f"tools.{i}"))
        for i, t in enumerate(tools)
    ]
    blocks += [
        PromptBlock(
            f"system.{i}", "S" + canonical(b), block_tokens(b), _cache_ttl(b, f"system.{i}")
        )
        for i, b in enumerate(system)
    ]
    for m, message in enumerate(messages):
        for i, block in enumerate(message["blocks"]):
            # A block that opens a message is distinct from the same block continuing one.
            marker = f"M{message['role'][0]}{'^' if i == 0 else '+'}"
            path = f"messages.{m}.content.{i}"
            blocks.append(
                PromptBlock(
                    path, marker + canonical(block), block_tokens(block), _cache_ttl(block, path)
                )
            )
    return blocks


def _apply_top_level_cache_control(body: dict[str, Any], blocks: list[PromptBlock]) -> None:
    ttl = _cache_ttl(body, "cache_control") if "cache_control" in body else None
    if ttl is None:
        return
    last = blocks[-1]
    if last.ttl is not None and last.ttl != ttl:
        raise invalid(
            f"Top-level cache_control has ttl='{ttl}' but the target block already has "
            f"cache_control with ttl='{last.ttl}'"
        )
    blocks[-1] = PromptBlock(last.path, last.fingerprint, last.tokens, ttl)


def check_breakpoints(blocks: list[PromptBlock], max_breakpoints: int) -> None:
    """At most `max_breakpoints` cache_control blocks, and no 1h entry after a 5m one."""
    marked = [block for block in blocks if block.ttl is not None]
    if len(marked) > max_breakpoints:
        raise invalid(
            f"A maximum of {max_breakpoints} blocks with cache_control may be provided. "
            f"Found {len(marked)}."
        )
    seen_short = False
    for block in marked:
        if block.ttl == "5m":
            seen_short = True
        elif seen_short:
            raise invalid(TTL_ORDER_MESSAGE.format(path=block.path))


def parse_messages_request(
    body: Any, *, max_output_tokens: int = 128_000, max_breakpoints: int = 4
) -> MessagesRequest:
    """Validate a /v1/messages body; raises ApiError(400) naming the offending field."""
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    _check_scalars(body, max_output_tokens)
    messages = _check_messages(body["messages"])
    system = _system_blocks(body.get("system"))
    tools, tool_choice = _check_tools(body)
    blocks = _prompt_blocks(tools, system, messages)
    _apply_top_level_cache_control(body, blocks)
    check_breakpoints(blocks, max_breakpoints)
    return MessagesRequest(
        model=body["model"],
        max_tokens=body["max_tokens"],
        messages=messages,
        system=system,
        tools=tools,
        tool_choice=tool_choice,
        stop_sequences=list(body.get("stop_sequences") or []),
        stream=bool(body.get("stream", False)),
        blocks=blocks,
        output_schema=_output_schema(body.get("output_config")),
    )


def _output_schema(output_config: Any) -> dict[str, Any] | None:
    """The JSON schema a structured-output request asks the answer to follow, if any."""
    if output_config is None:
        return None
    if not isinstance(output_config, dict):
        raise invalid("output_config: Input should be a valid dictionary")
    answer_format = output_config.get("format")
    if answer_format is None:
        return None
    if not isinstance(answer_format, dict) or answer_format.get("type") != "json_schema":
        raise invalid("output_config.format.type: Input should be 'json_schema'")
    schema = answer_format.get("schema")
    if not isinstance(schema, dict):
        raise invalid("output_config.format.schema: Field required")
    return schema
