"""Request checks, token estimates and tool inputs, tested directly on the parsing functions."""

from __future__ import annotations

from typing import Any

import pytest

from optimization.simulator.errors import ApiError
from optimization.simulator.messages import tool_input
from optimization.simulator.prompt import MEDIA_BLOCK_TOKENS, block_tokens
from optimization.simulator.validation import parse_messages_request

MODEL = "claude-sonnet-4-6"


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    }
    base.update(changes)
    return base


def user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


TOOL = {"name": "t", "input_schema": {"type": "object"}}


@pytest.mark.parametrize(
    ("request_body", "expected"),
    [
        ([], "Request body must be a JSON object"),
        (body(model=5), "model: Input should be a valid string"),
        (body(temperature=1.5), "temperature"),
        (body(stop_sequences=[""]), "stop_sequences"),
        (body(stream="yes"), "stream: Input should be a valid boolean"),
        (body(messages=["hi"]), "messages.0: Input should be a valid dictionary"),
        (body(messages=[{"role": "user"}]), "messages.0.content: Field required"),
        (body(messages=user(5)), "messages.0.content: Input should be a valid string or list"),
        (body(messages=user("")), "messages.0.content: messages must have non-empty content"),
        (body(messages=user(["x"])), "messages.0.content.0: Input should be a valid dictionary"),
        (
            body(messages=user([{"type": "tool_use", "id": "a", "name": "t", "input": {}}])),
            "only allowed in assistant messages",
        ),
        (
            body(
                messages=[
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "a"}]},
                ]
            ),
            "only allowed in user messages",
        ),
        (body(messages=user([{"type": "text"}])), "messages.0.content.0.text: Field required"),
        (
            body(
                messages=[
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": [{"type": "tool_use", "name": "t"}]},
                ]
            ),
            "tool_use blocks need",
        ),
        (body(messages=user([{"type": "tool_result"}])), "tool_use_id: Field required"),
        (body(tools={"name": "t"}), "tools: Input should be a valid list"),
        (body(tools=["t"]), "tools.0: Input should be a valid dictionary"),
        (body(tools=[{"name": "bad name", "input_schema": {}}]), "tools.0.name"),
        (body(tools=[{"name": "t"}]), "tools.0.input_schema: Field required"),
        (body(tools=[TOOL], tool_choice={"type": "maybe"}), "tool_choice.type"),
        (body(tools=[TOOL], tool_choice={"type": "tool", "name": "u"}), "Tool 'u' not found"),
        (body(system=5), "system: Input should be a valid string or list"),
        (body(system=[{"type": "image"}]), "system.0.type: Input should be 'text'"),
    ],
)
def test_it_rejects_malformed_requests_naming_the_field(request_body: Any, expected: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_messages_request(request_body)
    assert caught.value.status == 400
    assert expected in caught.value.message


def test_it_accepts_server_tools_without_a_schema_and_an_empty_system() -> None:
    parsed = parse_messages_request(
        body(system="", tools=[{"type": "web_search_20250305", "name": "web_search"}])
    )
    assert parsed.system == []
    assert len(parsed.blocks) == 2  # the tool and the user message


def test_a_trailing_tool_use_without_a_following_message_is_allowed() -> None:
    parsed = parse_messages_request(
        body(
            messages=[
                {"role": "user", "content": "a"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "x", "name": "t", "input": {}}],
                },
            ]
        )
    )
    assert parsed.messages[-1]["role"] == "assistant"


@pytest.mark.parametrize(
    ("block", "tokens"),
    [
        ({"type": "text", "text": "abcdefgh"}, 2),
        ({"type": "image", "source": {"type": "base64", "data": "x" * 9999}}, MEDIA_BLOCK_TOKENS),
        ({"type": "document", "source": {"type": "text", "data": "a" * 40}}, 18),
        ({"type": "thinking", "thinking": "a" * 40, "signature": "s"}, 10),
        (
            {
                "type": "tool_result",
                "tool_use_id": "x",
                "content": [{"type": "text", "text": "abcd"}],
            },
            9,
        ),
    ],
)
def test_block_token_estimates_follow_the_documented_rule(
    block: dict[str, Any], tokens: int
) -> None:
    assert block_tokens(block) == tokens


def test_tool_inputs_fill_every_required_property_by_type() -> None:
    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "flag": {"type": "boolean"},
            "items": {"type": "array"},
            "nested": {
                "type": "object",
                "properties": {"inner": {"type": "string"}},
                "required": ["inner"],
            },
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "maybe": {"type": ["null", "integer"]},
            "untyped": True,
            "optional": {"type": "string"},
        },
        "required": [
            "text",
            "count",
            "ratio",
            "flag",
            "items",
            "nested",
            "unit",
            "maybe",
            "untyped",
        ],
    }
    assert tool_input(schema, "two words") == {
        "text": "two words",
        "count": 2,
        "ratio": 2.0,
        "flag": True,
        "items": [],
        "nested": {"inner": "two words"},
        "unit": "celsius",
        "maybe": 2,
        "untyped": "two words",
    }
