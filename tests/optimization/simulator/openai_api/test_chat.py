"""POST /v1/chat/completions on the simulator, through the official SDK over real HTTP."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import openai
import pytest

from optimization.simulator import Clock
from optimization.simulator.ledger import params_hash
from optimization.simulator.state import Simulator

MODEL = "gpt-4o"
LONG = "You answer questions about the handbook. " + "Policy clause number seven. " * 900
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


def ask(text: str, *, system: str | None = None) -> list[Any]:
    messages: list[Any] = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": text}]


def simulator_of(sim_app: Any) -> Simulator:
    simulator: Simulator = sim_app.state.simulator
    return simulator


def test_a_completion_echoes_the_question_with_its_usage(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model=MODEL, messages=ask("What is the capital of France?")
    )
    [choice] = completion.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content is not None
    assert choice.message.content.endswith("What is the capital of France?")
    assert completion.model == MODEL
    assert completion.object == "chat.completion"
    usage = completion.usage
    assert usage is not None
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0


def test_the_same_request_gets_the_same_answer(openai_client: openai.OpenAI) -> None:
    answers = {
        openai_client.chat.completions.create(model=MODEL, messages=ask("Hi"))
        .choices[0]
        .message.content
        for _ in range(2)
    }
    assert len(answers) == 1


async def test_the_async_sdk_gets_the_same_answer_as_the_sync_one(
    base_url: str, openai_client: openai.OpenAI
) -> None:
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="sk-test") as sdk:
        answer = await sdk.chat.completions.create(model=MODEL, messages=ask("Hello there"))
    sync = openai_client.chat.completions.create(model=MODEL, messages=ask("Hello there"))
    assert answer.choices[0].message.content == sync.choices[0].message.content


def test_a_stream_with_include_usage_ends_with_a_usage_chunk(openai_client: openai.OpenAI) -> None:
    question = ask("Tell me a short story about a lighthouse keeper please")
    whole = openai_client.chat.completions.create(model=MODEL, messages=question)
    chunks = list(
        openai_client.chat.completions.create(
            model=MODEL, messages=question, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert set(finishes[:-1]) == {None}
    assert chunks[-1].choices == []
    assert chunks[-1].usage == whole.usage
    assert all(c.usage is None for c in chunks[:-1])


def test_a_stream_without_include_usage_carries_no_usage(openai_client: openai.OpenAI) -> None:
    chunks = list(
        openai_client.chat.completions.create(model=MODEL, messages=ask("Hi"), stream=True)
    )
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_a_repeated_long_prefix_is_read_from_the_cache_in_128_token_steps(
    openai_client: openai.OpenAI,
) -> None:
    first = openai_client.chat.completions.create(model=MODEL, messages=ask("One", system=LONG))
    second = openai_client.chat.completions.create(model=MODEL, messages=ask("Two", system=LONG))
    assert first.usage is not None
    assert second.usage is not None
    assert first.usage.prompt_tokens_details is not None
    assert second.usage.prompt_tokens_details is not None
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached is not None
    assert cached >= 1024
    assert cached % 128 == 0
    # the shared prefix is the system prompt: everything but the question, rounded down
    assert second.usage.prompt_tokens - 128 < cached + 128
    assert cached <= second.usage.prompt_tokens


def test_a_prefix_below_1024_tokens_is_never_cached(openai_client: openai.OpenAI) -> None:
    short = "Policy clause number seven. " * 100
    for text in ("One", "Two", "Three"):
        usage = openai_client.chat.completions.create(
            model=MODEL, messages=ask(text, system=short)
        ).usage
        assert usage is not None
        assert usage.prompt_tokens_details is not None
        assert usage.prompt_tokens_details.cached_tokens == 0


def test_prompt_cache_key_routes_requests_to_their_own_cache(openai_client: openai.OpenAI) -> None:
    def cached(text: str, key: str) -> int:
        usage = openai_client.chat.completions.create(
            model=MODEL, messages=ask(text, system=LONG), prompt_cache_key=key
        ).usage
        assert usage is not None
        assert usage.prompt_tokens_details is not None
        return usage.prompt_tokens_details.cached_tokens or 0

    assert cached("One", "tenant-a") == 0
    assert cached("Two", "tenant-b") == 0  # another key: another machine, a cold cache
    assert cached("Three", "tenant-a") > 0


def test_a_cached_prefix_expires_after_ten_idle_minutes_unless_kept_24h(
    openai_client: openai.OpenAI, clock: Clock
) -> None:
    def cached(text: str, **retention: Any) -> int:
        usage = openai_client.chat.completions.create(
            model=MODEL, messages=ask(text, system=LONG), **retention
        ).usage
        assert usage is not None
        assert usage.prompt_tokens_details is not None
        return usage.prompt_tokens_details.cached_tokens or 0

    cached("One")
    clock.advance(599)
    assert cached("Two") > 0  # still there, and kept ten more minutes
    clock.advance(601)
    extended = {"extra_body": {"prompt_cache_retention": "24h"}}
    assert cached("Three", **extended) == 0  # expired, and written again for 24 hours
    clock.advance(3600)
    assert cached("Four", **extended) > 0


def test_a_required_tool_choice_is_answered_with_a_call_filling_the_schema(
    openai_client: openai.OpenAI,
) -> None:
    completion = openai_client.chat.completions.create(
        model=MODEL, messages=ask("Weather in Paris"), tools=[WEATHER], tool_choice="required"
    )
    [choice] = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Weather in Paris", "days": 3}


def test_a_streamed_tool_call_reassembles_into_the_whole_one(openai_client: openai.OpenAI) -> None:
    arguments = ""
    names = []
    for chunk in openai_client.chat.completions.create(
        model=MODEL,
        messages=ask("What is get_weather in Rome"),
        tools=[WEATHER],
        stream=True,
    ):
        for call in chunk.choices[0].delta.tool_calls or []:
            if call.function and call.function.name:
                names.append(call.function.name)
            arguments += (call.function.arguments or "") if call.function else ""
    assert names == ["get_weather"]
    assert json.loads(arguments)["days"] == 5


def test_max_completion_tokens_cuts_the_answer_with_finish_reason_length(
    openai_client: openai.OpenAI,
) -> None:
    completion = openai_client.chat.completions.create(
        model=MODEL, messages=ask("A rather long question with many words"), max_completion_tokens=2
    )
    assert completion.choices[0].finish_reason == "length"
    assert len(completion.choices[0].message.content or "") == 8


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"model": MODEL, "messages": []}, "messages", "empty_array"),
        ({"model": MODEL}, "messages", "missing_required_parameter"),
        (
            {"model": MODEL, "messages": [{"role": "robot", "content": "x"}]},
            "messages[0].role",
            "invalid_value",
        ),
        (
            {"model": MODEL, "messages": ask("x"), "stream_options": {"include_usage": True}},
            "stream_options",
            None,
        ),
        ({"model": MODEL, "messages": ask("x"), "colour": "blue"}, None, None),
        ({"messages": ask("x")}, None, None),
    ],
)
def test_a_bad_request_is_a_400_in_openais_error_shape(
    base_url: str, body: dict[str, Any], param: str | None, code: str | None
) -> None:
    response = httpx.post(
        f"{base_url}/v1/chat/completions", json=body, headers={"authorization": "Bearer sk-test"}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code)
    assert response.headers["x-request-id"].startswith("req_")


def test_a_request_without_a_key_is_a_401(base_url: str) -> None:
    response = httpx.post(f"{base_url}/v1/chat/completions", json={"model": MODEL})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_key_outside_the_allowed_ones_is_refused_by_the_sdk(sim_app: Any, base_url: str) -> None:
    simulator_of(sim_app).settings = dataclasses.replace(
        simulator_of(sim_app).settings, api_keys=frozenset({"sk-good"})
    )
    with (
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-bad", max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.chat.completions.create(model=MODEL, messages=ask("x"))
    assert caught.value.code == "invalid_api_key"


def test_a_rate_limit_fault_is_a_429_with_retry_after(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client.chat.completions.create(
            model=MODEL, messages=ask("x"), extra_headers={"x-simulator-faults": "rate_limit=1"}
        )
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "1"


def test_an_overloaded_fault_is_a_503_server_error(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        openai_client.chat.completions.create(
            model=MODEL, messages=ask("x"), extra_headers={"x-simulator-faults": "overloaded=1"}
        )
    assert caught.value.status_code == 503


def test_a_lost_response_is_a_connection_error_yet_answered_and_counted(
    openai_client: openai.OpenAI, sim_app: Any
) -> None:
    body: dict[str, Any] = {"model": MODEL, "messages": ask("Count me")}
    with pytest.raises(openai.APIConnectionError):
        openai_client.chat.completions.create(
            **body, extra_headers={"x-simulator-faults": "lose_response=1"}
        )
    assert simulator_of(sim_app).counts().messages[params_hash(body)] == 1


def test_a_broken_stream_ends_with_an_error_the_sdk_raises(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model=MODEL,
        messages=ask("A question long enough for several chunks of text"),
        stream=True,
        extra_headers={"x-simulator-faults": "stream_error=1"},
    )
    with pytest.raises(openai.APIError, match="server had an error"):
        list(stream)
