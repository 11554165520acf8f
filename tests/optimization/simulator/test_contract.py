"""The official SDK (sync and async) and LangChain's ChatAnthropic work unchanged against the
simulator. Every test runs against the simulator, and against the real API too when
ANTHROPIC_API_KEY is set (model from ANTHROPIC_CONTRACT_MODEL, default claude-haiku-4-5), so
the simulator's shapes and messages can be checked against the real thing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from optimization.simulator import create_app
from optimization.simulator.testing import serve
from tests.optimization.simulator.conftest import MODEL

REAL_API = "https://api.anthropic.com"


@dataclass(frozen=True)
class Target:
    base_url: str
    api_key: str
    model: str

    def client(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.base_url, api_key=self.api_key, max_retries=0)

    def async_client(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=self.base_url, api_key=self.api_key, max_retries=0)

    def chat(self, **kwargs: Any) -> ChatAnthropic:
        return ChatAnthropic(  # type: ignore[call-arg]
            model=self.model, base_url=self.base_url, api_key=self.api_key, max_retries=0, **kwargs
        )


@pytest.fixture(
    params=["simulator", pytest.param("anthropic", marks=pytest.mark.real_provider)],
)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "anthropic":
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:
            pytest.skip("contract against the real Anthropic API: set ANTHROPIC_API_KEY to run it")
        yield Target(REAL_API, key, os.environ.get("ANTHROPIC_CONTRACT_MODEL", "claude-haiku-4-5"))
        return
    with serve(create_app()) as url:
        yield Target(url, "sk-simulator", MODEL)


def question(text: str = "Say hello in two words.") -> list[Any]:
    return [{"role": "user", "content": text}]


def test_the_sync_sdk_creates_a_message(target: Target) -> None:
    message = target.client().messages.create(
        model=target.model, max_tokens=32, messages=question()
    )
    assert message.id.startswith("msg_")
    assert (message.type, message.role) == ("message", "assistant")
    assert message.content[0].type == "text"
    assert message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0
    assert message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation is not None


async def test_the_async_sdk_creates_and_streams_messages(target: Target) -> None:
    client = target.async_client()
    message = await client.messages.create(model=target.model, max_tokens=32, messages=question())
    assert message.content[0].type == "text"
    async with client.messages.stream(
        model=target.model, max_tokens=32, messages=question()
    ) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == final.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens > 0
    await client.close()


def test_the_sync_sdk_streams_a_message(target: Target) -> None:
    with target.client().messages.stream(
        model=target.model, max_tokens=32, messages=question()
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces
    assert "".join(pieces) == final.content[0].text  # type: ignore[union-attr]


def test_count_tokens_counts(target: Target) -> None:
    counted = target.client().messages.count_tokens(model=target.model, messages=question())
    assert counted.input_tokens > 0


def test_invalid_requests_raise_the_sdks_bad_request_error(target: Target) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        target.client().messages.create(model=target.model, max_tokens=0, messages=question())
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
    assert caught.value.request_id


def test_more_than_four_breakpoints_get_the_real_message(target: Target) -> None:
    blocks = [
        {"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}}
        for i in range(5)
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        target.client().messages.create(
            model=target.model,
            max_tokens=8,
            messages=[{"role": "user", "content": blocks}],  # type: ignore[list-item]
        )
    assert "A maximum of 4 blocks with cache_control may be provided. Found 5." in str(caught.value)


def test_a_one_hour_breakpoint_after_a_five_minute_one_gets_the_real_message(
    target: Target,
) -> None:
    system = [
        {"type": "text", "text": "first", "cache_control": {"type": "ephemeral", "ttl": "5m"}},
        {"type": "text", "text": "second", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        target.client().messages.create(
            model=target.model,
            max_tokens=8,
            system=system,  # type: ignore[arg-type]
            messages=question(),
        )
    assert "a ttl='1h' cache_control block must not come after a ttl='5m'" in str(caught.value)


def test_a_batch_can_be_created_retrieved_listed_and_canceled(target: Target) -> None:
    client = target.client()
    batch = client.messages.batches.create(
        requests=[
            {
                "custom_id": "contract-1",
                "params": {"model": target.model, "max_tokens": 16, "messages": question()},
            }
        ]
    )
    assert batch.type == "message_batch"
    assert batch.processing_status == "in_progress"
    assert client.messages.batches.retrieve(batch.id).id == batch.id
    assert batch.id in [listed.id for listed in client.messages.batches.list(limit=20).data]
    canceled = client.messages.batches.cancel(batch.id)
    assert canceled.processing_status in ("canceling", "ended")
    assert canceled.cancel_initiated_at is not None


def test_chat_anthropic_invokes_and_reports_usage(target: Target) -> None:
    reply = target.chat(max_tokens=32).invoke("Say hello in two words.")
    assert isinstance(reply, AIMessage)
    assert reply.text
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > 0


async def test_chat_anthropic_streams_asynchronously(target: Target) -> None:
    chunks = [chunk async for chunk in target.chat(max_tokens=32).astream("Say hi.")]
    text = "".join(chunk.text for chunk in chunks)
    assert text
    assert any(chunk.usage_metadata for chunk in chunks)


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_chat_anthropic_binds_tools_and_gets_a_tool_call(target: Target) -> None:
    model = target.chat(max_tokens=128).bind_tools([get_weather], tool_choice="any")
    reply = model.invoke("What is the weather in Paris? Use get_weather.")
    assert isinstance(reply, AIMessage)
    assert reply.tool_calls
    call = reply.tool_calls[0]
    assert call["name"] == "get_weather"
    assert isinstance(call["args"]["city"], str)
    follow_up = (
        target.chat(max_tokens=64)
        .bind_tools([get_weather])
        .invoke(
            [
                ("human", "What is the weather in Paris? Use get_weather."),
                reply,
                {
                    "role": "tool",
                    "content": get_weather.invoke(call["args"]),
                    "tool_call_id": call["id"],
                },
            ]
        )
    )
    assert follow_up.text
