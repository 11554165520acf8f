"""The official `openai` SDK (sync and async) and langchain-openai's ChatOpenAI work unchanged
against the simulator. Every test runs against the simulator, and against the real OpenAI API
too when OPENAI_API_KEY is set (model from OPENAI_CONTRACT_MODEL, default gpt-4o-mini), so the
simulator's shapes and messages can be checked against the real thing. AzureChatOpenAI runs
against the simulator's Azure paths."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import AzureChatOpenAI, ChatOpenAI

from optimization.simulator import create_app
from optimization.simulator.testing import serve

REAL_API = "https://api.openai.com/v1"
SIMULATED_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class Target:
    base_url: str
    api_key: str
    model: str

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0)

    def async_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0)

    def chat(self, **kwargs: Any) -> ChatOpenAI:
        settings: dict[str, Any] = {"api_key": self.api_key, "max_retries": 0, **kwargs}
        return ChatOpenAI(model=self.model, base_url=self.base_url, **settings)


@pytest.fixture(
    params=["simulator", pytest.param("openai", marks=pytest.mark.real_provider)],
)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "openai":
        key = os.environ.get("OPENAI_API_KEY")
        if not key:
            pytest.skip("contract against the real OpenAI API: set OPENAI_API_KEY to run it")
        yield Target(REAL_API, key, os.environ.get("OPENAI_CONTRACT_MODEL", "gpt-4o-mini"))
        return
    with serve(create_app()) as url:
        yield Target(f"{url}/v1", "sk-simulator", SIMULATED_MODEL)


def question(text: str = "Say hello in two words.") -> list[Any]:
    return [{"role": "user", "content": text}]


def test_the_sync_sdk_creates_a_completion(target: Target) -> None:
    completion = target.client().chat.completions.create(
        model=target.model, max_completion_tokens=16, messages=question()
    )
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    [choice] = completion.choices
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0


async def test_the_async_sdk_streams_with_usage_last(target: Target) -> None:
    async with target.async_client() as client:
        stream = await client.chat.completions.create(
            model=target.model,
            max_completion_tokens=16,
            messages=question(),
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_an_empty_message_list_is_refused_naming_the_param(target: Target) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        target.client().chat.completions.create(model=target.model, messages=[])
    assert caught.value.param == "messages"
    assert caught.value.code == "empty_array"
    assert caught.value.type == "invalid_request_error"
    assert caught.value.request_id


def test_an_unknown_argument_is_refused_by_name(target: Target) -> None:
    with pytest.raises(openai.BadRequestError, match="Unrecognized request argument supplied: foo"):
        target.client().chat.completions.create(
            model=target.model, messages=question(), extra_body={"foo": 1}
        )


def test_stream_options_without_streaming_are_refused(target: Target) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        target.client().chat.completions.create(
            model=target.model, messages=question(), stream_options={"include_usage": True}
        )
    assert caught.value.param == "stream_options"


def test_a_batch_is_uploaded_created_retrieved_listed_and_cancelled(target: Target) -> None:
    client = target.client()
    line = {
        "custom_id": "contract-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": target.model, "max_completion_tokens": 8, "messages": question()},
    }
    uploaded = client.files.create(
        file=("contract.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch"
    )
    assert uploaded.purpose == "batch"
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"llmopt": "contract"},
    )
    assert batch.object == "batch"
    assert batch.status in ("validating", "in_progress")
    assert batch.metadata == {"llmopt": "contract"}
    assert client.batches.retrieve(batch.id).input_file_id == uploaded.id
    assert batch.id in [listed.id for listed in client.batches.list(limit=20).data]
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.status in ("cancelling", "cancelled", "failed", "completed")


def test_chat_openai_invokes_and_reports_usage(target: Target) -> None:
    reply = target.chat(max_tokens=16).invoke("Say hello in two words.")
    assert isinstance(reply, AIMessage)
    assert reply.text
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > 0
    assert reply.usage_metadata["input_token_details"]["cache_read"] == 0


async def test_chat_openai_streams_with_usage(target: Target) -> None:
    model = target.chat(max_tokens=16, stream_usage=True)
    chunks = [chunk async for chunk in model.astream("Say hi.")]
    assert "".join(chunk.text for chunk in chunks)
    usage = [chunk.usage_metadata for chunk in chunks if chunk.usage_metadata]
    assert len(usage) == 1
    assert usage[0]["output_tokens"] > 0


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_chat_openai_binds_tools_and_answers_after_the_tool_result(target: Target) -> None:
    model = target.chat(max_tokens=64).bind_tools([get_weather], tool_choice="required")
    asked = HumanMessage("What is the weather in Paris? Use get_weather.")
    reply = model.invoke([asked])
    assert isinstance(reply, AIMessage)
    [call] = reply.tool_calls
    assert call["name"] == "get_weather"
    assert isinstance(call["args"]["city"], str)
    result = ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"] or "")
    follow_up = target.chat(max_tokens=32).bind_tools([get_weather]).invoke([asked, reply, result])
    assert isinstance(follow_up, AIMessage)
    assert not follow_up.tool_calls
    assert follow_up.text


def test_azure_chat_openai_invokes_streams_and_calls_tools_on_a_deployment() -> None:
    with serve(create_app()) as url:
        settings: dict[str, Any] = {"api_key": "azure-key", "max_retries": 0}
        model = AzureChatOpenAI(
            azure_endpoint=url, azure_deployment="prod", api_version="2024-10-21", **settings
        )
        reply = model.invoke("Hello deployment")
        assert isinstance(reply, AIMessage)
        assert reply.response_metadata["model_name"] == "prod"
        assert str(reply.content).endswith("Hello deployment")
        chunks = list(model.stream("Hello again", stream_usage=True))
        assert "".join(chunk.text for chunk in chunks).endswith("Hello again")
        assert any(chunk.usage_metadata for chunk in chunks)
        call = model.bind_tools([get_weather], tool_choice="required").invoke("Rome weather")
        assert isinstance(call, AIMessage)
        assert call.tool_calls[0]["name"] == "get_weather"
