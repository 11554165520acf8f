"""The one LangChain -> Anthropic converter, checked against ChatAnthropic's own payloads."""

from __future__ import annotations

import anthropic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from optimization import _anthropic_adapter as adapter
from optimization.messages import (
    _plain_turns,
    anthropic_message_to_ai_message,
    format_messages,
    messages_to_anthropic_params,
    request_template,
)


def chat(**kwargs: object) -> ChatAnthropic:
    return ChatAnthropic(
        model="claude-sonnet-4-5", api_key="sk-test", base_url="http://127.0.0.1:9", **kwargs
    )


CONVERSATION = [
    SystemMessage(content="You are terse."),
    HumanMessage(content="What is the weather in Paris?"),
    AIMessage(
        content="",
        tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "toolu_1"}],
    ),
    ToolMessage(content="18C and sunny", tool_call_id="toolu_1"),
    HumanMessage(
        content=[
            {"type": "text", "text": "And this picture?", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source_type": "base64", "mime_type": "image/png", "data": "iVBO"},
        ]
    ),
]


def test_it_builds_the_same_request_as_chat_anthropic_would_send() -> None:
    model = chat(temperature=0.2, stop_sequences=["END"])
    expected = model._get_request_payload(CONVERSATION)
    expected.update(expected.pop("extra_body", None) or {})  # what the SDK puts on the wire
    template = request_template(model)
    assert messages_to_anthropic_params(CONVERSATION, **template) == expected


def test_it_lifts_system_messages_and_converts_tool_calls_and_results() -> None:
    params = messages_to_anthropic_params(CONVERSATION, model="claude-sonnet-4-5", max_tokens=10)
    assert params["system"] == "You are terse."
    roles = [m["role"] for m in params["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert params["messages"][1]["content"][0]["type"] == "tool_use"
    tool_result = params["messages"][2]["content"][0]
    assert tool_result["type"] == "tool_result"
    assert tool_result["tool_use_id"] == "toolu_1"


def test_it_keeps_cache_control_and_images_on_content_blocks() -> None:
    params = messages_to_anthropic_params(CONVERSATION, model="claude-sonnet-4-5", max_tokens=10)
    blocks = params["messages"][2]["content"]
    text = next(b for b in blocks if b.get("type") == "text" and "picture" in b["text"])
    assert text["cache_control"] == {"type": "ephemeral"}
    assert any(b.get("type") == "image" for b in blocks)


def test_it_drops_params_left_unset() -> None:
    params = messages_to_anthropic_params(
        [HumanMessage(content="hi")], model="m", max_tokens=5, temperature=None
    )
    assert "temperature" not in params
    assert "system" not in params


def test_the_template_carries_bound_tools_and_call_params() -> None:
    model = chat()
    tools = [{"name": "weather", "description": "Weather", "input_schema": {"type": "object"}}]
    template = request_template(model, stop=["X"], tools=tools, tool_choice={"type": "auto"})
    assert template["tools"] == tools
    assert template["tool_choice"] == {"type": "auto"}
    assert template["stop_sequences"] == ["X"]
    assert "messages" not in template


def test_the_template_refuses_params_the_batch_api_cannot_carry() -> None:
    with pytest.raises(ValueError, match="betas"):
        request_template(chat(betas=["context-1m-2025-08-07"]))


def test_it_turns_an_api_message_into_an_ai_message_with_cache_usage() -> None:
    message = anthropic.types.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hello"}],
            "stop_reason": "end_turn",
            "usage": {
                "input_tokens": 10,
                "output_tokens": 3,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 50,
            },
        }
    )
    ai = anthropic_message_to_ai_message(message, response_metadata={"batch_id": "b1"})
    assert ai.content == "Hello"
    assert ai.response_metadata["model"] == "claude-sonnet-4-5"
    assert ai.response_metadata["batch_id"] == "b1"
    assert ai.usage_metadata is not None
    assert ai.usage_metadata["input_tokens"] == 160
    assert ai.usage_metadata["input_token_details"]["cache_read"] == 100
    assert ai.usage_metadata["input_token_details"]["cache_creation"] == 50


def test_it_turns_tool_use_blocks_into_tool_calls() -> None:
    message = anthropic.types.Message.model_validate(
        {
            "id": "msg_2",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {"c": 1}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    )
    ai = anthropic_message_to_ai_message(message)
    assert ai.tool_calls[0]["name"] == "weather"
    assert ai.tool_calls[0]["args"] == {"c": 1}


# --- the plain-conversation fast path equals ChatAnthropic's conversion ---------------------

_TEXT = st.text(alphabet=st.sampled_from("ab \n"), max_size=4)


@st.composite
def conversations(draw: st.DrawFn) -> list[BaseMessage]:
    """Mostly plain conversations, with the shapes the fast path must hand over mixed in."""
    kinds = st.sampled_from(["system", "human", "ai", "ai_tool", "blocks"])
    messages: list[BaseMessage] = []
    for kind in draw(st.lists(kinds, min_size=1, max_size=6)):
        text = draw(_TEXT)
        if kind == "system":
            messages.append(SystemMessage(text))
        elif kind == "human":
            messages.append(HumanMessage(text))
        elif kind == "ai":
            messages.append(AIMessage(text))
        elif kind == "ai_tool":
            call = {"name": "f", "args": {}, "id": "toolu_1"}
            messages.append(AIMessage(text, tool_calls=[call]))
        else:
            messages.append(HumanMessage([{"type": "text", "text": text or "x"}]))
    return messages


@settings(max_examples=300, deadline=None)
@given(conversations())
def test_format_messages_equals_chat_anthropics_own_conversion(messages: list[BaseMessage]) -> None:
    try:
        expected = adapter.format_messages(messages, model="claude-sonnet-4-5")
    except ValueError as error:
        with pytest.raises(ValueError, match=str(error)[:30]):
            format_messages(messages, model="claude-sonnet-4-5")
        return
    assert format_messages(messages, model="claude-sonnet-4-5") == expected


def test_the_common_batch_shape_takes_the_fast_path_and_others_do_not() -> None:
    plain = [SystemMessage("s"), HumanMessage("q"), AIMessage("a"), HumanMessage("q2")]
    assert _plain_turns(plain) == (
        "s",
        [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "q2"},
        ],
    )
    assert _plain_turns([HumanMessage("q"), AIMessage("a  ")]) is None  # final turn is stripped
    assert _plain_turns([HumanMessage("q"), HumanMessage("r")]) is None  # merged
    assert _plain_turns([HumanMessage("")]) is None
