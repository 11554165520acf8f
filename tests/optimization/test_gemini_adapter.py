"""The private APIs `optimization._gemini_adapter` relies on still exist, in a shape it can call.

When a langchain-google-genai or google-genai release changes one, the failing test names it.
"""

from __future__ import annotations

import inspect

import langchain_google_genai.chat_models as chat_models
import pytest
from google import genai
from google.genai import _api_client, _common, types
from google.genai import batches as genai_batches
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_google_genai import ChatGoogleGenerativeAI

from optimization import _gemini_adapter as adapter

MODEL = "gemini-2.5-flash"


def chat_model() -> ChatGoogleGenerativeAI:
    return ChatGoogleGenerativeAI(  # type: ignore[call-arg]
        model=MODEL, google_api_key="test-key", base_url="http://127.0.0.1:9", temperature=0.3
    )


def test_chat_google_generative_ai_prepare_request_still_prepares_a_call() -> None:
    assert hasattr(ChatGoogleGenerativeAI, "_prepare_request"), (
        "ChatGoogleGenerativeAI._prepare_request"
    )
    prepared = adapter.prepared_request(
        chat_model(), [SystemMessage("rules"), HumanMessage("hi")], stop=["END"]
    )
    assert set(prepared) >= {"model", "contents", "config"}, (
        "ChatGoogleGenerativeAI._prepare_request"
    )
    assert isinstance(prepared["config"], types.GenerateContentConfig)
    assert prepared["config"].stop_sequences == ["END"]


def test_google_genai_inlined_request_to_mldev_still_gives_the_rest_request() -> None:
    assert hasattr(genai_batches, "_InlinedRequest_to_mldev"), (
        "google.genai.batches._InlinedRequest_to_mldev"
    )
    assert hasattr(_common, "convert_to_dict"), "google.genai._common.convert_to_dict"
    assert hasattr(_common, "encode_unserializable_types"), (
        "google.genai._common.encode_unserializable_types"
    )
    model = chat_model()
    prepared = adapter.prepared_request(
        model, [SystemMessage("rules"), HumanMessage("hi")], stop=None
    )
    assert model.client is not None
    body = adapter.inline_request_json(model.client, prepared)
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert body["systemInstruction"] == {"parts": [{"text": "rules"}]}
    assert body["generationConfig"]["temperature"] == 0.3
    assert "httpOptions" not in body
    assert "http_options" not in body


def test_langchain_google_genai_response_to_result_still_builds_the_ai_message() -> None:
    assert hasattr(chat_models, "_response_to_result"), (
        "langchain_google_genai.chat_models._response_to_result"
    )
    response = types.GenerateContentResponse.model_validate(
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "hello"}]}, "finishReason": "STOP"}
            ],
            "usageMetadata": {
                "promptTokenCount": 3000,
                "cachedContentTokenCount": 2048,
                "candidatesTokenCount": 2,
                "totalTokenCount": 3002,
            },
        }
    )
    message = adapter.ai_message(response)
    assert isinstance(message, AIMessage), "langchain_google_genai.chat_models._response_to_result"
    assert message.content == "hello"
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_token_details"]["cache_read"] == 2048
    # A blocked prompt (no candidate) is an empty answer, as the chat model itself returns it.
    empty = adapter.ai_message(types.GenerateContentResponse(candidates=[]))
    assert empty is not None
    assert empty.content == ""


def test_the_sdk_client_still_sends_raw_requests_through_its_api_client() -> None:
    client = genai.Client(
        api_key="k", http_options=types.HttpOptions(base_url="http://127.0.0.1:9")
    )
    api_client = client.aio._api_client
    assert isinstance(api_client, _api_client.BaseApiClient), "google.genai Client._api_client"
    parameters = inspect.signature(api_client.async_request).parameters
    assert list(parameters)[:4] == ["http_method", "path", "request_dict", "http_options"], (
        "google.genai BaseApiClient.async_request"
    )


def test_a_client_still_tells_its_base_url() -> None:
    model = chat_model()
    assert model.client is not None
    assert adapter.client_base_url(model.client) == "http://127.0.0.1:9", (
        "google.genai Client._api_client._http_options.base_url"
    )


def test_the_chat_model_still_says_which_backend_it_uses() -> None:
    assert getattr(chat_model(), "_use_vertexai", None) is False, (
        "ChatGoogleGenerativeAI._use_vertexai"
    )


def test_a_model_of_another_class_or_on_vertex_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="ChatGoogleGenerativeAI"):
        adapter.gemini_chat_model(object())  # type: ignore[arg-type]


def test_the_transport_errors_include_those_of_the_sdks_http_library() -> None:
    client = genai.Client(api_key="k")
    http_library = type(client._api_client._httpx_client).__mro__[1].__module__.split(".")[0]
    assert any(error.__module__.startswith(http_library) for error in adapter.TRANSPORT_ERRORS), (
        f"google-genai's HTTP library {http_library} has no TransportError in the adapter"
    )
