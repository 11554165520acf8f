"""THE one LangChain → Anthropic converter, built on langchain-anthropic's own conversion.

`ChatAnthropic` already knows how to turn LangChain messages into a Messages API request
(system lifted to `system`, tool calls and results, images, content blocks, `cache_control`)
and how to turn a response back into an `AIMessage`. This module reuses that code instead of
writing a second copy, and only adds what batching needs: the same request as a plain dict,
fast enough to prepare 100,000 of them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from langchain_anthropic import ChatAnthropic
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.messages.tool import tool_call_chunk as create_tool_call_chunk

from optimization import _anthropic_adapter as adapter

# Keys of ChatAnthropic's payload that the Message Batches API cannot carry per request:
# `betas` travel as a header on the beta endpoint, and `stream` is meaningless there.
_NOT_BATCHABLE = ("betas", "stream")
_PLACEHOLDER: list[BaseMessage] = [HumanMessage(content=".")]


def _plain_turns(messages: Sequence[BaseMessage]) -> tuple[str | None, list[dict[str, Any]]] | None:
    """The conversion of the commonest batch shape, or None when `messages` is not that shape.

    That shape: an optional leading SystemMessage, then HumanMessage / AIMessage turns that
    alternate, each with non-empty string content, no tool calls, ending on a HumanMessage.
    For it `_format_messages` merges, strips and drops nothing, so its output is exactly
    `system=<str>` and one `{"role", "content"}` dict per turn; building that directly is ~3x
    faster. Anything else returns None and goes through `_format_messages` itself (a property
    test holds the two equal).
    """
    system: str | None = None
    turns: list[dict[str, Any]] = []
    previous = ""
    for index, message in enumerate(messages):
        content = message.content
        kind = type(message)
        if not isinstance(content, str) or not content:
            return None
        if kind is SystemMessage and index == 0:
            system = content
            continue
        if kind is HumanMessage:
            role = "user"
        elif kind is AIMessage and not message.tool_calls and not message.invalid_tool_calls:  # type: ignore[attr-defined]
            role = "assistant"
        else:
            return None
        if role == previous:
            return None
        turns.append({"role": role, "content": content})
        previous = role
    if previous != "user":
        return None
    return system, turns


def format_messages(
    messages: Sequence[BaseMessage], *, model: str | None = None
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """`(system, messages)` for the Messages API, exactly as `ChatAnthropic` formats them."""
    plain = _plain_turns(messages)
    if plain is not None:
        return plain
    return adapter.format_messages(messages, model=model)


def messages_to_anthropic_params(
    messages: Sequence[BaseMessage], **model_params: Any
) -> dict[str, Any]:
    """Anthropic Messages API params for `messages` plus `model_params` (model, max_tokens, ...).

    System messages are lifted to `system`, tool calls/results, images and content blocks
    (including `cache_control`) are converted exactly as `ChatAnthropic` converts them.
    `None` values in `model_params` are dropped, as `ChatAnthropic` drops them.
    """
    system, formatted = format_messages(messages, model=model_params.get("model"))
    params: dict[str, Any] = {k: v for k, v in model_params.items() if v is not None}
    params["messages"] = formatted
    if system:
        params["system"] = system
    return params


def request_template(
    chat_model: ChatAnthropic, *, stop: list[str] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Every request param `chat_model` would send, except the messages themselves.

    Built by `ChatAnthropic._get_request_payload` (bound tools, tool_choice, stop sequences,
    temperature, max_tokens, thinking, ...), so batched requests carry exactly what a
    standard call would. Merge it with `messages_to_anthropic_params(messages, **template)`.
    Raises ValueError for params the Message Batches API cannot take per request (betas).
    """
    payload = adapter.request_payload(chat_model, _PLACEHOLDER, stop=stop, **kwargs)
    payload.pop("messages", None)
    payload.pop("system", None)
    # With anthropic>=1, langchain-anthropic moves temperature/top_p/top_k into `extra_body`,
    # which the SDK merges into the JSON body. Batch params ARE that JSON body: merge them here,
    # or the API rejects every batched request ("extra_body: Extra inputs are not permitted").
    extra_body = payload.pop("extra_body", None)
    if isinstance(extra_body, Mapping):
        payload.update(extra_body)
    unsupported = [key for key in _NOT_BATCHABLE if payload.get(key)]
    if unsupported:
        raise ValueError(
            f"request params {unsupported} cannot be sent through the Message Batches API"
        )
    for key in _NOT_BATCHABLE:
        payload.pop(key, None)
    return payload


def anthropic_message_to_ai_message(
    message: Any, *, response_metadata: Mapping[str, Any] | None = None
) -> AIMessage:
    """An `AIMessage` from an Anthropic `Message`, as `ChatAnthropic` builds it.

    Content, tool calls and `usage_metadata` (with cache_read / cache_creation details) come
    from ChatAnthropic's own output formatting; `response_metadata` gets the API response's
    fields (model, stop_reason, id, ...) plus anything given here (e.g. the batch id).
    """
    result = adapter.format_output(message)
    generation = result.generations[0]
    ai_message = cast(AIMessage, generation.message)
    ai_message.response_metadata.update(result.llm_output or {})
    if response_metadata:
        ai_message.response_metadata.update(response_metadata)
    return ai_message


def message_to_chunk(message: AIMessage) -> AIMessageChunk:
    """`message` as the one and last chunk of a stream (tool calls as complete chunks)."""
    return AIMessageChunk(
        content=message.content,
        id=message.id,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        usage_metadata=message.usage_metadata,
        tool_call_chunks=[
            create_tool_call_chunk(
                name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=index
            )
            for index, call in enumerate(message.tool_calls)
        ],
        chunk_position="last",
    )


__all__ = [
    "anthropic_message_to_ai_message",
    "format_messages",
    "message_to_chunk",
    "messages_to_anthropic_params",
    "request_template",
]
