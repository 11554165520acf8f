"""POST /v1/responses answered through the chat completions machinery.

A Responses API body is read as the chat completions body it amounts to (`as_chat_body`:
`instructions` → a system message, `input` items → messages, function calls and their
outputs → tool calls and tool messages, `tools`, `tool_choice`, `max_output_tokens`,
`text.format`), answered and cached exactly as /v1/chat/completions would answer it, and the
completion written back as a Response object (`as_response`). So the answer, the token counts
and `cached_tokens` are the same for a prompt whichever API carries it.
"""

from __future__ import annotations

from typing import Any

from optimization.simulator.openai_api.errors import invalid

KNOWN_FIELDS = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "max_output_tokens",
        "stream",
        "stream_options",
        "prompt_cache_key",
        "prompt_cache_retention",
        "text",
        "temperature",
        "top_p",
        "metadata",
        "parallel_tool_calls",
        "store",
        "reasoning",
        "include",
        "truncation",
        "user",
        "service_tier",
        "safety_identifier",
        "background",
        "max_tool_calls",
        "top_logprobs",
        "previous_response_id",
    }
)
# Passed on to the chat completions reading unchanged.
_SHARED = ("model", "prompt_cache_key", "prompt_cache_retention", "temperature", "top_p")
_PART_TYPES = {"input_text": "text", "output_text": "text", "text": "text"}


def _part(part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") in _PART_TYPES:
        return {"type": "text", "text": part.get("text", "")}
    if isinstance(part, dict) and part.get("type") == "input_image":
        return {"type": "image_url", "image_url": {"url": part.get("image_url", "")}}
    return part


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    given = body.get("input")
    if isinstance(given, str):
        return [*messages, {"role": "user", "content": given}]
    if not isinstance(given, list) or not given:
        raise invalid("Missing required parameter: 'input'.", param="input")
    for i, item in enumerate(given):
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message":
            content = item.get("content")
            parts = [_part(p) for p in content] if isinstance(content, list) else content
            messages.append({"role": item.get("role"), "content": parts})
        elif kind == "function_call":
            call = {"name": item.get("name"), "arguments": item.get("arguments", "")}
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": item.get("call_id"), "type": "function", "function": call}
                    ],
                }
            )
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": item.get("call_id"),
                    "content": output if isinstance(output, str) else str(output),
                }
            )
        elif kind != "reasoning":
            raise invalid(
                f"Invalid 'input[{i}]': unsupported item type {kind!r}.", param=f"input[{i}]"
            )
    return messages


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    tools = []
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else tool
            raise invalid(
                f"Invalid 'tools[{i}]': the simulator answers function tools only, not {kind!r}.",
                param=f"tools[{i}]",
            )
        function = {key: tool[key] for key in ("name", "description", "parameters") if key in tool}
        tools.append({"type": "function", "function": function})
    return tools


def as_chat_body(body: Any) -> dict[str, Any]:
    """The chat completions body a Responses API body amounts to (400 when it is not valid)."""
    if not isinstance(body, dict):
        raise invalid("Invalid request body: expected a JSON object.")
    for name in body:
        if name not in KNOWN_FIELDS:
            raise invalid(f"Unrecognized request argument supplied: {name}")
    if body.get("previous_response_id"):
        raise invalid(
            "previous_response_id: the simulator keeps no responses; send the whole input.",
            param="previous_response_id",
        )
    chat: dict[str, Any] = {key: body[key] for key in _SHARED if key in body}
    chat["messages"] = _messages(body)
    tools = _tools(body)
    if tools:
        chat["tools"] = tools
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif choice is not None:
        chat["tool_choice"] = choice
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    text_format = (body.get("text") or {}).get("format") or {}
    if text_format.get("type") == "json_schema":
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": text_format.get("name", "output"),
                "schema": text_format.get("schema", {}),
            },
        }
    return chat


def _output(completion: dict[str, Any], item_id: str) -> list[dict[str, Any]]:
    message = completion["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    if calls:
        return [
            {
                "type": "function_call",
                "id": f"fc_{call['id'][5:]}",
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
                "status": "completed",
            }
            for call in calls
        ]
    text: dict[str, Any] = {
        "type": "output_text",
        "text": message["content"] or "",
        "annotations": [],
        "logprobs": [],
    }
    return [
        {
            "type": "message",
            "id": item_id,
            "status": "completed",
            "role": "assistant",
            "content": [text],
        }
    ]


def as_response(
    body: dict[str, Any], completion: dict[str, Any], response_id: str
) -> dict[str, Any]:
    """The Response object for `body` answered by the chat `completion`."""
    usage = completion["usage"]
    cut = completion["choices"][0]["finish_reason"] == "length"
    return {
        "id": response_id,
        "object": "response",
        "created_at": completion["created"],
        "status": "incomplete" if cut else "completed",
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": completion["model"],
        "output": _output(completion, f"msg_{response_id[5:]}"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": {
            "input_tokens": usage["prompt_tokens"],
            "input_tokens_details": {
                "cached_tokens": usage["prompt_tokens_details"]["cached_tokens"],
                "cache_write_tokens": 0,  # automatic caching bills no writes
            },
            "output_tokens": usage["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["total_tokens"],
        },
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }
