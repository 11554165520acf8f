"""The private langchain-openai APIs the adapter relies on still exist, in a shape it can call.

When a langchain-openai release changes one, the failing test names it.
"""

from __future__ import annotations

import email.utils
import inspect
import time

import httpx
import langchain_openai.chat_models.base as base
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import AzureChatOpenAI, ChatOpenAI

from optimization import _openai_adapter as adapter

MODEL = "gpt-4o-mini"


def chat_model(**kwargs: object) -> ChatOpenAI:
    return ChatOpenAI(model=MODEL, api_key="sk-test", base_url="http://127.0.0.1:9/v1", **kwargs)  # type: ignore[arg-type]


def test_get_request_payload_still_builds_the_chat_completions_body() -> None:
    assert hasattr(base.BaseChatOpenAI, "_get_request_payload"), (
        "BaseChatOpenAI._get_request_payload"
    )
    payload = adapter.request_payload(
        chat_model(temperature=0.5), [SystemMessage("rules"), HumanMessage("hi")], stop=["END"]
    )
    assert payload["model"] == MODEL, "BaseChatOpenAI._get_request_payload: model"
    assert payload["stop"] == ["END"]
    assert payload["temperature"] == 0.5
    assert payload["messages"] == [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "hi"},
    ]


def test_use_responses_api_still_tells_which_api_a_model_calls() -> None:
    assert hasattr(base.BaseChatOpenAI, "_use_responses_api"), "BaseChatOpenAI._use_responses_api"
    assert not adapter.uses_responses_api(chat_model(), {"model": MODEL})
    assert adapter.uses_responses_api(chat_model(use_responses_api=True), {"model": MODEL})


def test_convert_dict_to_message_still_reads_a_completion_message() -> None:
    assert "_dict" in inspect.signature(base._convert_dict_to_message).parameters, (
        "langchain_openai.chat_models.base._convert_dict_to_message"
    )
    message = adapter.ai_message_from_completion(
        {
            "id": "chatcmpl-1",
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": '{"x": 1}'},
                            }
                        ],
                    },
                    "finish_reason": "tool_calls",
                }
            ],
            "usage": {
                "prompt_tokens": 2000,
                "completion_tokens": 5,
                "total_tokens": 2005,
                "prompt_tokens_details": {"cached_tokens": 1920},
            },
        },
        response_metadata={"batch_id": "batch_1"},
    )
    assert isinstance(message, AIMessage)
    assert message.tool_calls == [
        {"name": "f", "args": {"x": 1}, "id": "call_1", "type": "tool_call"}
    ]
    assert message.response_metadata["finish_reason"] == "tool_calls"
    assert message.response_metadata["batch_id"] == "batch_1"


def test_create_usage_metadata_still_reports_cached_tokens_as_cache_read() -> None:
    usage = base._create_usage_metadata(
        {
            "prompt_tokens": 2000,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 1920},
        }
    )
    assert usage["input_token_details"].get("cache_read") == 1920, (
        "langchain_openai.chat_models.base._create_usage_metadata"
    )
    assert usage["input_tokens"] == 2000


def test_root_async_client_is_still_the_sdk_client_the_model_calls_with() -> None:
    openai_client = adapter.async_client(chat_model())
    assert isinstance(openai_client, openai.AsyncOpenAI), "BaseChatOpenAI.root_async_client"
    assert str(openai_client.base_url) == "http://127.0.0.1:9/v1/"
    azure = AzureChatOpenAI(
        azure_endpoint="http://127.0.0.1:9",
        azure_deployment="dep",
        api_key="k",  # type: ignore[arg-type]
        api_version="2024-10-21",
    )
    assert isinstance(adapter.async_client(azure), openai.AsyncAzureOpenAI)


def test_construct_lc_result_from_responses_api_still_reads_a_response() -> None:
    assert hasattr(base, "_construct_lc_result_from_responses_api"), (
        "langchain_openai.chat_models.base._construct_lc_result_from_responses_api"
    )
    message = adapter.ai_message_from_response(
        {
            "id": "resp_1",
            "object": "response",
            "created_at": 1,
            "status": "completed",
            "model": MODEL,
            "output": [
                {
                    "type": "message",
                    "id": "msg_1",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "hello", "annotations": []}],
                }
            ],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": {
                "input_tokens": 2000,
                "input_tokens_details": {"cached_tokens": 1920, "cache_write_tokens": 0},
                "output_tokens": 1,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 2001,
            },
        },
        response_metadata={"batch_id": "batch_1"},
    )
    assert message.text == "hello"
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_token_details"]["cache_read"] == 1920
    assert message.response_metadata["batch_id"] == "batch_1"


def openai_status_error(
    status: int, headers: dict[str, str] | None = None
) -> openai.APIStatusError:
    """The error the openai SDK raises for an answer with `status` and `headers`."""
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/batches")
    response = httpx.Response(status, headers=headers or {}, request=request)
    return openai.APIStatusError(f"HTTP {status}", response=response, body=None)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 400, 401, 403, 404, 422])
def test_the_openai_sdk_retry_rule_still_sorts_error_statuses(status: int) -> None:
    retried = status in (408, 409, 429) or status >= 500
    assert adapter.openai_sdk_would_retry(openai_status_error(status)) is retried, (
        f"openai._base_client.BaseClient._should_retry changed its answer for HTTP {status}"
    )


def test_the_openai_sdk_retry_rule_obeys_x_should_retry_and_retries_lost_connections() -> None:
    assert not adapter.openai_sdk_would_retry(openai_status_error(500, {"x-should-retry": "false"}))
    assert adapter.openai_sdk_would_retry(openai_status_error(400, {"x-should-retry": "true"}))
    request = httpx.Request("GET", "http://127.0.0.1:9/v1/batches/b")
    assert adapter.openai_sdk_would_retry(openai.APIConnectionError(request=request))
    assert not adapter.openai_sdk_would_retry(ValueError("not from the provider"))
    assert not adapter.openai_sdk_would_retry(None)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_the_openai_sdk_still_reads_the_servers_retry_after(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert adapter.openai_server_retry_after(openai_status_error(429, headers)) == seconds, (
        "openai._base_client.BaseClient._parse_retry_after_header changed"
    )


def test_the_openai_sdk_still_reads_a_retry_after_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    seconds = adapter.openai_server_retry_after(openai_status_error(429, {"retry-after": when}))
    assert seconds is not None, "openai._base_client.BaseClient._parse_retry_after_header: dates"
    assert 25 <= seconds <= 31
    request = httpx.Request("GET", "http://127.0.0.1:9/v1/batches/b")
    assert adapter.openai_server_retry_after(openai.APIConnectionError(request=request)) is None
