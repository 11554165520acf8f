"""POST /v1/messages and count_tokens: validation, deterministic answers, streaming, errors."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from tests.optimization.simulator.conftest import MODEL

HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}


def ask(client: anthropic.Anthropic, text: str, **params: Any) -> anthropic.types.Message:
    params.setdefault("max_tokens", 256)
    return client.messages.create(
        model=MODEL, messages=[{"role": "user", "content": text}], **params
    )


def test_it_answers_with_text_derived_from_the_last_user_message(
    client: anthropic.Anthropic,
) -> None:
    message = ask(client, "what colour is the sky today")
    assert message.type == "message"
    assert message.role == "assistant"
    assert message.model == MODEL
    assert message.id.startswith("msg_")
    assert message.stop_reason == "end_turn"
    text = message.content[0].text  # type: ignore[union-attr]
    assert text.startswith("echo:")
    assert text.endswith("what colour is the sky today")


def test_it_gives_the_same_answer_to_the_same_request_and_different_ones_otherwise(
    client: anthropic.Anthropic,
) -> None:
    first = ask(client, "same question")
    again = ask(client, "same question")
    other = ask(client, "same question", system="be terse")
    assert first.content == again.content
    assert first.content != other.content


def test_it_reports_usage_that_adds_up_to_the_prompt_estimate(client: anthropic.Anthropic) -> None:
    message = ask(client, "x" * 400)
    counted = client.messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "x" * 400}]
    )
    assert message.usage.input_tokens == counted.input_tokens == 100
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.output_tokens > 0


def test_it_stops_at_max_tokens(client: anthropic.Anthropic) -> None:
    message = ask(client, "one two three four five six seven eight", max_tokens=3)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3
    assert len(message.content[0].text) == 12  # type: ignore[union-attr]


def test_it_stops_at_the_first_stop_sequence_found(client: anthropic.Anthropic) -> None:
    message = ask(client, "alpha beta STOP gamma", stop_sequences=["gamma", "STOP"])
    assert message.stop_reason == "stop_sequence"
    assert message.stop_sequence == "STOP"
    assert message.content[0].text.endswith("alpha beta ")  # type: ignore[union-attr]


def test_it_calls_the_tool_that_tool_choice_demands(client: anthropic.Anthropic) -> None:
    tool = {
        "name": "lookup",
        "description": "Look a word up.",
        "input_schema": {
            "type": "object",
            "properties": {"word": {"type": "string"}, "count": {"type": "integer"}},
            "required": ["word", "count"],
        },
    }
    message = ask(client, "define serendipity", tools=[tool], tool_choice={"type": "any"})
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use"
    assert block.name == "lookup"
    assert block.input == {"word": "define serendipity", "count": 2}


def test_it_answers_in_text_when_a_tool_result_comes_back(client: anthropic.Anthropic) -> None:
    tool = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}
    message = client.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[tool],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "please lookup it"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}],
            },
        ],
    )
    assert message.stop_reason == "end_turn"
    assert message.content[0].text.endswith("42")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}, "model: Field"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens: Field"),
        ({"model": MODEL, "max_tokens": 0, "messages": []}, "max_tokens: Input should be"),
        ({"model": MODEL, "max_tokens": 10, "messages": []}, "at least one message"),
        (
            {
                "model": MODEL,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            },
            "roles must alternate",
        ),
        (
            {"model": MODEL, "max_tokens": 10, "messages": [{"role": "robot", "content": "a"}]},
            "messages.0.role",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "video"}]}],
            },
            "Input tag 'video'",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}],
            },
            "text content blocks must be non-empty",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "a"}],
                "extra_body_field": 1,
            },
            "extra_body_field: Extra inputs are not permitted",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "a"}],
                "tool_choice": {"type": "any"},
            },
            "tool_choice may only be specified while providing tools.",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 10,
                "messages": [
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "trailing "},
                ],
            },
            "cannot end with trailing whitespace",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 10,
                "messages": [
                    {"role": "user", "content": "a"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t1", "name": "x", "input": {}}],
                    },
                    {"role": "user", "content": "no result"},
                ],
            },
            "`tool_use` ids were found without `tool_result` blocks immediately after: t1",
        ),
        (
            {"model": MODEL, "max_tokens": 999_999, "messages": [{"role": "user", "content": "a"}]},
            "maximum allowed number of output tokens",
        ),
    ],
)
def test_it_rejects_invalid_requests_naming_the_field(
    base_url: str, params: dict[str, Any], expected: str
) -> None:
    response = httpx.post(f"{base_url}/v1/messages", json=params, headers=HEADERS)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert expected in body["error"]["message"]
    assert body["request_id"] == response.headers["request-id"]


def test_it_answers_404_for_unknown_models(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(
            model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "a"}]
        )
    assert caught.value.body["error"] == {"type": "not_found_error", "message": "model: gpt-4o"}  # type: ignore[index]


def test_it_requires_an_api_key_and_a_version_header(base_url: str) -> None:
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "a"}]}
    missing_key = httpx.post(f"{base_url}/v1/messages", json=body)
    assert missing_key.status_code == 401
    assert missing_key.json()["error"]["type"] == "authentication_error"
    assert missing_key.headers["request-id"].startswith("req_")
    missing_version = httpx.post(f"{base_url}/v1/messages", json=body, headers={"x-api-key": "k"})
    assert missing_version.status_code == 400
    assert "anthropic-version" in missing_version.json()["error"]["message"]


def test_it_rejects_keys_outside_the_configured_set() -> None:
    from optimization.simulator import SimulatorSettings, create_app
    from optimization.simulator.testing import serve

    app = create_app(SimulatorSettings(api_keys=frozenset({"good"})))
    with serve(app) as url:
        bad = anthropic.Anthropic(base_url=url, api_key="bad", max_retries=0)
        with pytest.raises(anthropic.AuthenticationError):
            ask(bad, "hi")
        good = anthropic.Anthropic(base_url=url, api_key="good", max_retries=0)
        assert ask(good, "hi").stop_reason == "end_turn"


def test_it_answers_unknown_paths_and_malformed_json_in_the_api_error_shape(base_url: str) -> None:
    missing = httpx.get(f"{base_url}/v1/nothing", headers=HEADERS)
    assert missing.status_code == 404
    assert missing.json()["error"] == {"type": "not_found_error", "message": "Not Found"}
    wrong_method = httpx.get(f"{base_url}/v1/messages", headers=HEADERS)
    assert wrong_method.status_code == 405
    broken = httpx.post(f"{base_url}/v1/messages", content=b"{not json", headers=HEADERS)
    assert broken.status_code == 400
    assert "error parsing the body" in broken.json()["error"]["message"]


def test_it_rejects_bodies_above_the_size_limit_with_413(base_url: str) -> None:
    from optimization.simulator import SimulatorSettings, create_app
    from optimization.simulator.testing import serve

    with serve(create_app(SimulatorSettings(max_request_bytes=1000))) as url:
        body = {
            "model": MODEL,
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "a" * 2000}],
        }
        response = httpx.post(f"{url}/v1/messages", json=body, headers=HEADERS)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


def test_it_streams_events_in_the_api_order(base_url: str) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "stream": True,
        "messages": [{"role": "user", "content": "stream these seven words for me please"}],
    }
    with httpx.stream("POST", f"{base_url}/v1/messages", json=body, headers=HEADERS) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    datas = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data:")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    text = "".join(d["delta"]["text"] for d in datas if d["type"] == "content_block_delta")
    assert text.endswith("stream these seven words for me please")
    final = next(d for d in datas if d["type"] == "message_delta")
    assert final["delta"]["stop_reason"] == "end_turn"
    assert final["usage"]["output_tokens"] > 1


def test_the_sdk_stream_helper_rebuilds_the_same_message(client: anthropic.Anthropic) -> None:
    plain = ask(client, "identical either way")
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=[{"role": "user", "content": "identical either way"}]
    ) as stream:
        pieces = list(stream.text_stream)
        streamed = stream.get_final_message()
    assert "".join(pieces) == plain.content[0].text  # type: ignore[union-attr]
    assert streamed.usage.input_tokens == plain.usage.input_tokens
    assert streamed.usage.output_tokens == plain.usage.output_tokens


def test_it_streams_tool_calls_as_json_deltas(client: anthropic.Anthropic) -> None:
    tool = {
        "name": "search",
        "input_schema": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    }
    with client.messages.stream(
        model=MODEL,
        max_tokens=100,
        tools=[tool],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "search"},
        messages=[{"role": "user", "content": "find cheap flights"}],
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].input == {"q": "find cheap flights"}  # type: ignore[union-attr]


def test_count_tokens_rejects_generation_parameters(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.count_tokens(
            model=MODEL,
            messages=[{"role": "user", "content": "a"}],
            extra_body={"max_tokens": 5},
        )
    assert "max_tokens: Extra inputs are not permitted" in str(caught.value)


def test_count_tokens_counts_tools_and_system(client: anthropic.Anthropic) -> None:
    bare = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "a"}])
    fuller = client.messages.count_tokens(
        model=MODEL,
        system="s" * 400,
        tools=[{"name": "t", "input_schema": {"type": "object"}}],
        messages=[{"role": "user", "content": "a"}],
    )
    assert fuller.input_tokens > bare.input_tokens + 100


@pytest.mark.parametrize(
    ("text", "choice", "expected"),
    [
        ("please use lookup now", None, "tool_use"),
        ("nothing to see here", None, "end_turn"),
        ("please use lookup now", {"type": "none"}, "end_turn"),
    ],
)
def test_auto_tool_choice_calls_a_tool_only_when_the_user_names_it(
    client: anthropic.Anthropic, text: str, choice: dict[str, str] | None, expected: str
) -> None:
    tool = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}
    extra = {"tool_choice": choice} if choice else {}
    message = ask(client, text, tools=[tool], **extra)
    assert message.stop_reason == expected
