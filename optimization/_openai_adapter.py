"""Every private or version-dependent API of langchain-openai we use.

Supported: langchain-openai 1.x. `tests/optimization/test_openai_adapter.py` fails, naming the
function, when a release removes or changes one of them.

- `BaseChatOpenAI._get_request_payload`: every request param a call would send;
- `BaseChatOpenAI._use_responses_api`: whether the model calls the Responses API;
- `langchain_openai.chat_models.base._convert_dict_to_message` and `_create_usage_metadata`:
  a chat completion's message and usage → an AIMessage with usage_metadata, exactly as
  `BaseChatOpenAI._create_chat_result` builds it (which needs a model instance);
- `langchain_openai.chat_models.base._construct_lc_result_from_responses_api`: a Responses
  API Response → ChatResult, as ChatOpenAI builds it on the Responses API;
- `BaseChatOpenAI.root_async_client`: the `openai.AsyncOpenAI` / `AsyncAzureOpenAI` the model
  built from its own settings (key, base URL, organization, Azure endpoint and version);
- the openai SDK's `BaseClient._should_retry`: which error statuses its retry rule sends again,
  and `BaseClient._parse_retry_after_header`: how it reads the wait a refusal asks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import openai
from langchain_core.messages import AIMessage, BaseMessage
from langchain_openai.chat_models.base import (
    BaseChatOpenAI,
    _construct_lc_result_from_responses_api,
    _convert_dict_to_message,
    _create_usage_metadata,
)
from openai._base_client import BaseClient
from openai.types.responses import Response


def request_payload(
    chat_model: BaseChatOpenAI,
    messages: Sequence[BaseMessage],
    *,
    stop: list[str] | None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The request body `chat_model` would send for `messages` and call `kwargs`."""
    return dict(chat_model._get_request_payload(list(messages), stop=stop, **kwargs))


def uses_responses_api(chat_model: BaseChatOpenAI, payload: Mapping[str, Any]) -> bool:
    """True when `chat_model` would send `payload` to the Responses API."""
    return bool(chat_model._use_responses_api(dict(payload)))


def async_client(chat_model: BaseChatOpenAI) -> openai.AsyncOpenAI:
    """The async SDK client `chat_model` calls the API with (Azure's for AzureChatOpenAI)."""
    client = chat_model.root_async_client
    if not isinstance(client, openai.AsyncOpenAI):
        raise TypeError(f"{type(chat_model).__name__} has no async OpenAI client")
    return client


def ai_message_from_completion(
    completion: Mapping[str, Any], *, response_metadata: Mapping[str, Any] | None = None
) -> AIMessage:
    """The AIMessage of a chat completion's first choice, with its usage_metadata (cache reads
    from `prompt_tokens_details.cached_tokens`) and response metadata, as ChatOpenAI builds it.
    """
    choice = completion["choices"][0]
    message = _convert_dict_to_message(choice["message"])
    if not isinstance(message, AIMessage):
        raise TypeError(f"a chat completion's message is not an AIMessage: {message!r}")
    usage = completion.get("usage")
    if usage:
        message.usage_metadata = _create_usage_metadata(dict(usage), completion.get("service_tier"))
    message.response_metadata = {
        **message.response_metadata,
        "token_usage": usage,
        "model_provider": "openai",
        "model_name": completion.get("model"),
        "system_fingerprint": completion.get("system_fingerprint", ""),
        "id": completion.get("id"),
        "finish_reason": choice.get("finish_reason"),
        **(response_metadata or {}),
    }
    return message


def ai_message_from_response(
    response: Mapping[str, Any], *, response_metadata: Mapping[str, Any] | None = None
) -> AIMessage:
    """The AIMessage of a Responses API Response, with its usage_metadata (cache reads from
    `input_tokens_details.cached_tokens`), as ChatOpenAI builds it on the Responses API."""
    result = _construct_lc_result_from_responses_api(Response.model_validate(dict(response)))
    message = result.generations[0].message
    if not isinstance(message, AIMessage):
        raise TypeError(f"a Response's message is not an AIMessage: {message!r}")
    message.response_metadata = {**message.response_metadata, **(response_metadata or {})}
    return message


def openai_sdk_would_retry(exc: BaseException | None) -> bool:
    """Whether the openai SDK's own retry rule sends again the request that raised `exc`.

    A lost connection or a timeout always; an error status as the SDK's `_should_retry`
    decides (the server's `x-should-retry` header when sent, else 408, 409, 429 and 5xx).
    """
    if isinstance(exc, openai.APIConnectionError):  # APITimeoutError included
        return True
    if isinstance(exc, openai.APIStatusError):
        return bool(BaseClient._should_retry(cast(Any, _RetryRule()), exc.response))
    return False


def openai_server_retry_after(exc: BaseException) -> float | None:
    """The seconds the server asked to wait before trying again, as the openai SDK reads them
    (`retry-after-ms`, else `retry-after` in seconds or as a date); None when it did not say."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    seconds = BaseClient._parse_retry_after_header(cast(Any, None), exc.response.headers)
    return None if seconds is None else float(seconds)


class _RetryRule:
    """What `BaseClient._should_retry` reads of its client: only how retry-after is parsed."""

    _parse_retry_after_header = BaseClient._parse_retry_after_header


__all__ = [
    "ai_message_from_completion",
    "ai_message_from_response",
    "async_client",
    "openai_sdk_would_retry",
    "openai_server_retry_after",
    "request_payload",
    "uses_responses_api",
]
