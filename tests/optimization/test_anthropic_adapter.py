"""The private APIs the adapter relies on still exist, in a shape it can call.

When a langchain-anthropic or anthropic release changes one, the failing test names it.
"""

from __future__ import annotations

import inspect
from typing import Any

import anthropic
import langchain_anthropic.chat_models as chat_models
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from optimization import _anthropic_adapter as adapter

MODEL = "claude-sonnet-4-5"


def chat_model() -> ChatAnthropic:
    return ChatAnthropic(model=MODEL, api_key="sk-test", base_url="http://127.0.0.1:9")


def test_langchain_anthropic_format_messages_still_takes_a_message_list() -> None:
    parameters = inspect.signature(chat_models._format_messages).parameters
    assert "messages" in parameters, "langchain_anthropic.chat_models._format_messages changed"
    system, formatted = adapter.format_messages(
        [SystemMessage("rules"), HumanMessage("hi")], model=MODEL
    )
    assert system == "rules"
    assert formatted == [{"role": "user", "content": "hi"}]


def test_chat_anthropic_get_request_payload_still_builds_the_request_body() -> None:
    assert hasattr(ChatAnthropic, "_get_request_payload"), "ChatAnthropic._get_request_payload"
    payload = adapter.request_payload(chat_model(), [HumanMessage("hi")], stop=["END"])
    assert payload["model"] == MODEL
    assert payload["stop_sequences"] == ["END"]
    assert payload["messages"] == [{"role": "user", "content": "hi"}]


def test_chat_anthropic_format_output_still_reads_an_api_message_without_self() -> None:
    assert hasattr(ChatAnthropic, "_format_output"), "ChatAnthropic._format_output"
    message = anthropic.types.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [{"type": "text", "text": "hello"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        }
    )
    result = adapter.format_output(message)
    reply = result.generations[0].message
    assert isinstance(reply, AIMessage)
    assert reply.content == "hello"
    assert reply.usage_metadata is not None


def test_chat_anthropic_client_params_still_name_the_key_and_base_url() -> None:
    params = adapter.client_params(chat_model())
    assert params["api_key"] == "sk-test", "ChatAnthropic._client_params"
    assert params["base_url"] == "http://127.0.0.1:9"
    anthropic.AsyncAnthropic(**params)  # the SDK still takes them


@pytest.mark.parametrize("sdk", [anthropic.Anthropic, anthropic.AsyncAnthropic])
def test_the_sdk_still_streams_batch_results_one_way_or_the_other(sdk: type[Any]) -> None:
    client = sdk(api_key="sk-test", base_url="http://127.0.0.1:9")
    streaming = client.messages.batches.with_streaming_response
    assert hasattr(streaming, "results") or hasattr(client.messages.batches, "results"), (
        "anthropic: messages.batches(.with_streaming_response).results"
    )


def test_the_transport_errors_are_those_of_the_sdks_http_library() -> None:
    client = anthropic.Anthropic(api_key="sk-test")
    http_library = next(  # httpx2 or httpx, under the SDK's own wrapper class
        base.__module__.split(".")[0]
        for base in type(client._client).__mro__
        if base.__module__.startswith("httpx")
    )
    assert any(error.__module__.startswith(http_library) for error in adapter.TRANSPORT_ERRORS), (
        f"anthropic's HTTP library {http_library} has no TransportError"
    )
