"""POST /v1/responses on the simulator, through the official SDK and ChatOpenAI over HTTP."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from optimization.simulator import Clock

MODEL = "gpt-4o"
LONG = "You answer questions about the handbook. " + "Policy clause number seven. " * 900
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_a_response_answers_like_the_chat_completion_of_the_same_prompt(
    openai_client: openai.OpenAI,
) -> None:
    response = openai_client.responses.create(
        model=MODEL, instructions="Be brief.", input="What is the capital of France?"
    )
    chat = openai_client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
    )
    assert response.status == "completed"
    assert response.output_text == chat.choices[0].message.content
    assert response.usage is not None
    assert chat.usage is not None
    assert response.usage.input_tokens == chat.usage.prompt_tokens
    assert response.usage.output_tokens == chat.usage.completion_tokens


def test_a_repeated_long_prefix_is_read_from_the_cache(openai_client: openai.OpenAI) -> None:
    def cached(text: str) -> int:
        usage = openai_client.responses.create(model=MODEL, instructions=LONG, input=text).usage
        assert usage is not None
        return usage.input_tokens_details.cached_tokens

    assert cached("One") == 0
    second = cached("Two")
    assert second >= 1024
    assert second % 128 == 0


def test_a_streamed_response_ends_with_the_whole_response(openai_client: openai.OpenAI) -> None:
    question = "Tell me about lighthouses and their keepers"
    whole = openai_client.responses.create(model=MODEL, input=question)
    with openai_client.responses.stream(model=MODEL, input=question) as stream:
        events = list(stream)
        final = stream.get_final_response()
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == whole.output_text == final.output_text
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.usage == whole.usage


def test_a_required_tool_is_called_and_its_output_answered(openai_client: openai.OpenAI) -> None:
    called = openai_client.responses.create(
        model=MODEL, input="Weather in Paris", tools=[WEATHER], tool_choice="required"
    )
    [call] = called.output
    assert call.type == "function_call"
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Weather in Paris"}
    answered = openai_client.responses.create(
        model=MODEL,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather in Paris"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
        ],
    )
    assert answered.output[0].type == "message"
    assert answered.output_text


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "web_search_preview"}]}, "tools[0]"),
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ],
)
def test_what_the_simulator_cannot_answer_is_a_400_naming_it(
    openai_client: openai.OpenAI, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model=MODEL, input="x", **extra)
    assert caught.value.param == param


def test_max_output_tokens_makes_an_incomplete_response(openai_client: openai.OpenAI) -> None:
    response = openai_client.responses.create(
        model=MODEL, input="A long question with many words in it", max_output_tokens=2
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


def test_chat_openai_on_the_responses_api_invokes_streams_and_calls_tools(base_url: str) -> None:
    settings: dict[str, Any] = {"api_key": "sk-test", "max_retries": 0}
    model = ChatOpenAI(model=MODEL, base_url=f"{base_url}/v1", use_responses_api=True, **settings)
    reply = model.invoke("Hello responses")
    assert isinstance(reply, AIMessage)
    assert reply.text.endswith("Hello responses")
    assert reply.usage_metadata is not None
    streamed = "".join(chunk.text for chunk in model.stream("Hello stream"))
    assert streamed.endswith("Hello stream")
    call = model.bind_tools([get_weather], tool_choice="required").invoke("Rome")
    assert isinstance(call, AIMessage)
    assert call.tool_calls[0]["args"] == {"city": "Rome"}


def test_a_responses_batch_writes_response_bodies(
    openai_client: openai.OpenAI, clock: Clock
) -> None:
    line = {
        "custom_id": "r0",
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": MODEL, "input": "Question 0"},
    }
    uploaded = openai_client.files.create(
        file=("in.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch"
    )
    batch = openai_client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
    )
    clock.advance(10)
    done = openai_client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert done.output_file_id is not None
    [result] = [
        json.loads(x) for x in openai_client.files.content(done.output_file_id).text.splitlines()
    ]
    body = result["response"]["body"]
    assert body["object"] == "response"
    assert body["output"][0]["content"][0]["text"].endswith("Question 0")
