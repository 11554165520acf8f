"""google-genai and ChatGoogleGenerativeAI work unchanged against the simulator's Gemini API.

Every test runs against the simulator, and against the real Gemini API too when
GOOGLE_API_KEY or GEMINI_API_KEY is set (model from GEMINI_CONTRACT_MODEL, default
gemini-2.5-flash-lite), so the simulator's shapes can be checked against the real thing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.tools import tool
from langchain_google_genai import ChatGoogleGenerativeAI

from optimization.simulator import create_app
from optimization.simulator.testing import serve

REAL_API = "https://generativelanguage.googleapis.com"


@dataclass(frozen=True)
class Target:
    base_url: str | None  # None: the SDK's own default (the real API)
    api_key: str
    model: str

    def client(self) -> genai.Client:
        options = types.HttpOptions(base_url=self.base_url) if self.base_url else None
        return genai.Client(api_key=self.api_key, http_options=options)

    def chat(self, **kwargs: Any) -> ChatGoogleGenerativeAI:
        """The chat model as PipesHub builds it (model, temperature, max_tokens=None, ...)."""
        extra = {"base_url": self.base_url} if self.base_url else {}
        return ChatGoogleGenerativeAI(  # type: ignore[call-arg]
            model=self.model,
            temperature=0.2,
            max_tokens=None,
            max_retries=2,
            google_api_key=self.api_key,
            **extra,
            **kwargs,
        )


@pytest.fixture(params=["simulator", pytest.param("gemini", marks=pytest.mark.real_provider)])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "gemini":
        key = os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
        if not key:
            pytest.skip("contract against the real Gemini API: set GOOGLE_API_KEY to run it")
        yield Target(None, key, os.environ.get("GEMINI_CONTRACT_MODEL", "gemini-2.5-flash-lite"))
        return
    with serve(create_app()) as url:
        yield Target(url, "simulator-key", "gemini-2.5-flash")


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"sunny in {city}"


def test_the_sdk_generates_content_with_usage(target: Target) -> None:
    client = target.client()
    answer = client.models.generate_content(model=target.model, contents="Say hello.")
    assert answer.text
    assert answer.candidates
    assert answer.candidates[0].finish_reason == types.FinishReason.STOP
    usage = answer.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count
    assert usage.candidates_token_count
    assert usage.total_token_count is not None
    assert usage.total_token_count >= usage.prompt_token_count + usage.candidates_token_count


async def test_the_async_sdk_streams_with_cumulative_usage(target: Target) -> None:
    client = target.client()
    chunks = [
        chunk
        async for chunk in await client.aio.models.generate_content_stream(
            model=target.model, contents="Count from one to twenty in words."
        )
    ]
    assert "".join(chunk.text or "" for chunk in chunks)
    last = chunks[-1]
    assert last.candidates
    assert last.candidates[0].finish_reason is not None
    assert last.usage_metadata is not None
    assert last.usage_metadata.prompt_token_count


def test_the_sdk_counts_tokens(target: Target) -> None:
    client = target.client()  # held: a client collected mid-call closes its connection
    counted = client.models.count_tokens(model=target.model, contents="Count me.")
    assert counted.total_tokens


def test_an_unknown_batch_is_a_404_not_found(target: Target) -> None:
    client = target.client()
    with pytest.raises(errors.ClientError) as caught:
        client.batches.get(name="batches/doesnotexist123")
    assert caught.value.code in (404, 400)  # Google answers 404 for a well-formed id


def test_chat_google_generative_ai_invokes_with_usage(target: Target) -> None:
    reply = target.chat().invoke("Say hello.")
    assert isinstance(reply, AIMessage)
    assert reply.content
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_tokens"] > 0
    assert "cache_read" in reply.usage_metadata.get("input_token_details", {})
    assert reply.response_metadata["finish_reason"] == "STOP"


def test_chat_google_generative_ai_streams_with_usage(target: Target) -> None:
    chunks = list(target.chat().stream("Count from one to ten in words."))
    assert len(chunks) >= 1
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    assert isinstance(whole, AIMessageChunk)
    assert whole.content
    assert whole.usage_metadata is not None
    assert whole.usage_metadata["input_tokens"] > 0
    assert whole.usage_metadata["output_tokens"] > 0


def test_chat_google_generative_ai_calls_a_tool(target: Target) -> None:
    model = target.chat().bind_tools([get_weather], tool_choice="get_weather")
    reply = model.invoke("What is the weather in Paris? Use get_weather.")
    assert isinstance(reply, AIMessage)
    [call] = reply.tool_calls
    assert call["name"] == "get_weather"
    assert isinstance(call["args"].get("city"), str)


def test_a_batch_is_listed_under_its_display_name_and_can_be_cancelled(target: Target) -> None:
    # What GeminiBatchClient relies on to find a batch whose create response was lost.
    client = target.client()
    name = f"llmopt-contract-{uuid.uuid4().hex}"
    request = {"contents": [{"role": "user", "parts": [{"text": "Say hi."}]}]}
    job = client.batches.create(
        model=target.model,
        src=[request],  # type: ignore[list-item]
        config={"display_name": name},
    )
    try:
        assert job.name
        assert job.name.startswith("batches/")
        assert job.display_name == name
        listed = next(
            (
                listed
                for listed in client.batches.list(config={"page_size": 50})
                if listed.name == job.name
            ),
            None,
        )
        assert listed is not None
        assert listed.display_name == name
        assert listed.create_time is not None
    finally:
        assert job.name
        client.batches.cancel(name=job.name)
    state = client.batches.get(name=job.name).state
    assert state in (
        types.JobState.JOB_STATE_PENDING,
        types.JobState.JOB_STATE_RUNNING,
        types.JobState.JOB_STATE_CANCELLED,
        types.JobState.JOB_STATE_SUCCEEDED,
    )
