"""The private APIs the adapter relies on still exist, in a shape it can call.

When a langchain-anthropic or anthropic release changes one, the failing test names it.
"""

from __future__ import annotations

import email.utils
import importlib
import inspect
import time
from types import ModuleType
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


def sdk_http_library() -> ModuleType:
    """httpx2 or httpx: the library under the SDK's own HTTP client class."""
    client = anthropic.Anthropic(api_key="sk-test")
    name = next(
        base.__module__.split(".")[0]
        for base in type(client._client).__mro__
        if base.__module__.startswith("httpx")
    )
    return importlib.import_module(name)


def test_the_transport_errors_are_those_of_the_sdks_http_library() -> None:
    http_library = sdk_http_library().__name__
    assert any(error.__module__.startswith(http_library) for error in adapter.TRANSPORT_ERRORS), (
        f"anthropic's HTTP library {http_library} has no TransportError"
    )


def status_error(status: int, headers: dict[str, str] | None = None) -> anthropic.APIStatusError:
    """The error the SDK raises for an answer with `status` and `headers`."""
    http = sdk_http_library()
    request = http.Request("POST", "http://127.0.0.1:9/v1/messages/batches")
    response = http.Response(status, headers=headers or {}, request=request)
    return anthropic.APIStatusError(f"HTTP {status}", response=response, body=None)


# What the SDK documents it retries: connection errors, 408, 409, 429 and >= 500.
RETRIED = [408, 409, 429, 500, 502, 503, 529]
NOT_RETRIED = [400, 401, 403, 404, 413, 422]


@pytest.mark.parametrize("status", RETRIED + NOT_RETRIED)
def test_the_sdk_retry_rule_still_sorts_error_statuses(status: int) -> None:
    assert adapter.sdk_would_retry(status_error(status)) is (status in RETRIED), (
        f"anthropic._base_client.BaseClient._should_retry changed its answer for HTTP {status}"
    )


def test_the_sdk_retry_rule_still_obeys_the_servers_x_should_retry_header() -> None:
    told_not_to = status_error(500, {"x-should-retry": "false"})
    told_to = status_error(400, {"x-should-retry": "true"})
    assert not adapter.sdk_would_retry(told_not_to), (
        "anthropic._base_client.BaseClient._should_retry"
    )
    assert adapter.sdk_would_retry(told_to), "anthropic._base_client.BaseClient._should_retry"


def test_the_sdk_retry_rule_retries_lost_connections_and_nothing_else() -> None:
    request = sdk_http_library().Request("GET", "http://127.0.0.1:9/v1/messages/batches/b")
    assert adapter.sdk_would_retry(anthropic.APIConnectionError(request=request))
    assert adapter.sdk_would_retry(anthropic.APITimeoutError(request=request))
    assert not adapter.sdk_would_retry(ValueError("not from the provider"))
    assert not adapter.sdk_would_retry(None)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_the_sdk_still_reads_the_servers_retry_after(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert adapter.server_retry_after(status_error(429, headers)) == seconds, (
        "anthropic._base_client.BaseClient._parse_retry_after_header changed"
    )


def test_the_sdk_still_reads_a_retry_after_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = adapter.server_retry_after(status_error(429, {"retry-after": when}))
    assert seconds is not None, "anthropic._base_client.BaseClient._parse_retry_after_header: dates"
    assert 25 <= seconds <= 31
