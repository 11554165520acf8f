"""openai_batch_requests and openai_batch_client: what a ChatOpenAI or AzureChatOpenAI would
send, batched through the model's own client settings, against the simulator over HTTP."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool
from langchain_openai import AzureChatOpenAI, ChatOpenAI

from optimization.batch_state import InMemoryBatchStateStore
from optimization.openai_batch_client import AZURE_ENDPOINT, OPENAI_ENDPOINT
from optimization.openai_batches import openai_batch_client, openai_batch_requests
from optimization.simulator.ledger import params_hash
from tests.optimization.simulators import FAST, LiveSimulator, MakeSimulator

MODEL = "gpt-4o-mini"
FAST_POLL = {"poll_initial": 0.02, "poll_max": 0.05}


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


def chat(simulator: LiveSimulator, **kwargs: Any) -> ChatOpenAI:
    settings: dict[str, Any] = {"api_key": "sk-test", "max_retries": 0, **kwargs}
    return ChatOpenAI(model=MODEL, base_url=f"{simulator.url}/v1", **settings)


def azure(simulator: LiveSimulator, **kwargs: Any) -> AzureChatOpenAI:
    return AzureChatOpenAI(
        azure_endpoint=simulator.url,
        azure_deployment="prod-gpt4o",
        api_key="azure-key",  # type: ignore[arg-type]
        api_version="2024-10-21",
        max_retries=0,
        **kwargs,
    )


def conversations(count: int) -> list[list[BaseMessage]]:
    return [[SystemMessage("Be brief."), HumanMessage(f"Question {i}")] for i in range(count)]


def test_each_body_is_what_the_model_sends_for_that_conversation(simulator: LiveSimulator) -> None:
    model = chat(simulator, temperature=0.2, max_tokens=40, stream_usage=True)
    [request] = openai_batch_requests(model, conversations(1), {"stop": ["END"]})
    assert request.custom_id == "r0"
    model.invoke(conversations(1)[0], stop=["END"])  # the real call, over HTTP
    # the model sent the same body plus the streaming switch a batch cannot take
    sent = simulator.counts().messages
    assert sent == {params_hash({**request.params, "stream": False}): 1}
    assert "stream" not in request.params
    assert "stream_options" not in request.params


def test_custom_ids_follow_the_input_positions(simulator: LiveSimulator) -> None:
    requests = openai_batch_requests(chat(simulator), conversations(3), {})
    assert [request.custom_id for request in requests] == ["r0", "r1", "r2"]
    assert [request.params["messages"][1]["content"] for request in requests] == [
        "Question 0",
        "Question 1",
        "Question 2",
    ]


def test_bound_tools_and_extra_body_are_in_the_body(simulator: LiveSimulator) -> None:
    model = chat(simulator, extra_body={"prompt_cache_key": "tenant-7"})
    bound = model.bind_tools([get_weather], tool_choice="required")
    [request] = openai_batch_requests(model, conversations(1), bound.kwargs)  # type: ignore[attr-defined]
    params = request.params
    assert params["tools"][0]["function"]["name"] == "get_weather"
    assert params["tool_choice"] == "required"
    assert params["prompt_cache_key"] == "tenant-7"
    assert "extra_body" not in params


def test_azure_bodies_name_the_deployment_and_max_completion_tokens(
    simulator: LiveSimulator,
) -> None:
    [request] = openai_batch_requests(azure(simulator, max_tokens=30), conversations(1), {})
    assert request.params["model"] == "prod-gpt4o"
    assert request.params["max_completion_tokens"] == 30
    assert "max_tokens" not in request.params


@pytest.mark.parametrize(
    ("model_kwargs", "call_kwargs", "match"),
    [
        ({}, {"truncation": "auto"}, "other OpenAI API than its own"),
        ({}, {"extra_headers": {"x": "1"}}, "extra_headers cannot be batched"),
        ({}, {"timeout": 5}, "timeout cannot be batched"),
        ({}, {"logit_bias": {1: object()}}, "not JSON"),
    ],
)
def test_what_cannot_be_batched_is_a_value_error(
    simulator: LiveSimulator, model_kwargs: dict[str, Any], call_kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        openai_batch_requests(chat(simulator, **model_kwargs), conversations(1), call_kwargs)


def test_a_model_of_another_provider_is_a_type_error() -> None:
    model = ChatAnthropic(model="claude-sonnet-4-5", api_key="sk-test")  # type: ignore[call-arg,arg-type]
    with pytest.raises(TypeError, match="ChatAnthropic is not a ChatOpenAI"):
        openai_batch_requests(model, conversations(1), {})


async def test_a_chat_openai_batch_runs_with_the_models_own_key_and_base_url(
    make_simulator: MakeSimulator,
) -> None:
    simulator = make_simulator(dataclasses.replace(FAST, api_keys=frozenset({"sk-test"})))
    model = chat(simulator)
    store = InMemoryBatchStateStore()
    client = openai_batch_client(model, state_store=store, max_requests=2, **FAST_POLL)
    assert client.endpoint == OPENAI_ENDPOINT
    assert client.state_store is store
    results = await client.run(openai_batch_requests(model, conversations(5), {}))
    assert [item.position for item in results] == [0, 1, 2, 3, 4]
    assert all(item.succeeded for item in results)
    assert all(
        f"Question {item.position}" in str(item.message.content) for item in results if item.message
    )
    assert len(simulator.state.openai.batches.list()) == 3
    wrong_key = chat(simulator, api_key="sk-wrong")
    refused = openai_batch_client(wrong_key, state_store=None, max_requests=10, **FAST_POLL)
    with pytest.raises(Exception, match="Incorrect API key"):
        await refused.submit(openai_batch_requests(wrong_key, conversations(1), {}))


async def test_an_azure_batch_runs_on_the_deployment(simulator: LiveSimulator) -> None:
    model = azure(simulator)
    client = openai_batch_client(model, state_store=None, max_requests=10, **FAST_POLL)
    assert client.endpoint == AZURE_ENDPOINT
    assert client.model == "prod-gpt4o"
    results = await client.run(openai_batch_requests(model, conversations(2), {}))
    assert all(item.succeeded for item in results)
    assert {item.message.response_metadata["model_name"] for item in results if item.message} == {
        "prod-gpt4o"
    }


async def test_a_model_on_the_responses_api_batches_responses_with_cache_reads(
    simulator: LiveSimulator,
) -> None:
    model = chat(simulator, use_responses_api=True)
    long_system = [SystemMessage("Policy clause. " * 1500)]
    conversations = [[*long_system, HumanMessage(f"Question {i}")] for i in range(3)]
    requests = openai_batch_requests(model, conversations, {})
    assert "input" in requests[0].params
    assert "messages" not in requests[0].params
    client = openai_batch_client(model, state_store=None, max_requests=10, **FAST_POLL)
    assert client.endpoint == "/v1/responses"
    results = await client.run(requests)
    assert all(item.succeeded for item in results)
    for item in results:
        assert item.message is not None
        assert f"Question {item.position}" in item.message.text
    reads = [item for item in results if item.usage.cache_read_tokens]
    assert len(reads) == 2
    message = reads[0].message
    assert message is not None
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_token_details"]["cache_read"] == (
        reads[0].usage.cache_read_tokens
    )


async def test_batched_tool_calls_come_back_as_tool_calls(simulator: LiveSimulator) -> None:
    model = chat(simulator)
    bound = model.bind_tools([get_weather], tool_choice="required")
    requests = openai_batch_requests(model, conversations(2), bound.kwargs)  # type: ignore[attr-defined]
    client = openai_batch_client(model, state_store=None, max_requests=10, **FAST_POLL)
    results = await client.run(requests)
    for item in results:
        assert item.message is not None
        [call] = item.message.tool_calls
        assert call["name"] == "get_weather"
        assert call["args"] == {"city": f"Question {item.position}"}
