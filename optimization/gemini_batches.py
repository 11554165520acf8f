"""What the wrapper calls to batch a ChatGoogleGenerativeAI: its requests and its batch client.

`gemini_batch_requests` encodes each conversation exactly as the chat model would send it
(through its own request preparation and google-genai's wire conversion), custom ids `r0`,
`r1`, ...; `gemini_batch_client` builds a `GeminiBatchClient` on the chat model's own
google-genai client, so the API key, base URL and headers are the model's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage
from pydantic import SecretStr, ValidationError

from optimization._gemini_adapter import (
    client_base_url,
    detached_client,
    gemini_chat_model,
    genai_client,
    inline_request_json,
    prepared_request,
)
from optimization.batch_state import BatchStateStore
from optimization.batch_wire import BatchRequest, default_custom_id
from optimization.gemini_batch_client import GeminiBatchClient

# Call arguments a batch request cannot honour: a batch answers once, later, in full.
UNBATCHABLE = frozenset({"stream", "callbacks", "run_manager"})


def gemini_batch_requests(
    model: BaseChatModel,
    conversations: Sequence[Sequence[BaseMessage]],
    call_kwargs: Mapping[str, Any],
) -> list[BatchRequest]:
    """One inline batch request per conversation, custom id `r<position>`, in order.

    Each body is the REST `GenerateContentRequest` the model would send for that conversation
    and `call_kwargs` (contents, systemInstruction, tools, toolConfig, generationConfig, ...).
    Raises ValueError for a model that is not a ChatGoogleGenerativeAI on the Gemini
    Developer API, or for call arguments that cannot be batched (naming them).
    """
    chat = gemini_chat_model(model)
    kwargs = dict(call_kwargs)
    refused = sorted(UNBATCHABLE & kwargs.keys())
    if refused:
        raise ValueError(f"cannot batch a Gemini call with {', '.join(refused)}")
    stop = kwargs.pop("stop", None)
    client = genai_client(chat)
    requests = []
    for position, messages in enumerate(conversations):
        try:
            prepared = prepared_request(chat, messages, stop=stop, **kwargs)
            body = inline_request_json(client, prepared)
        except (TypeError, ValidationError) as exc:
            raise ValueError(f"cannot batch a Gemini call with {sorted(kwargs)}: {exc}") from exc
        requests.append(BatchRequest.from_params(default_custom_id(position), body))
    return requests


def check_gemini_batchable(model: BaseChatModel, call_kwargs: Mapping[str, Any]) -> None:
    """Raise ValueError when calls with `call_kwargs` cannot go through Gemini's batch API."""
    gemini_batch_requests(model, [[HumanMessage("?")]], call_kwargs)


def gemini_client_key(model: BaseChatModel) -> tuple[object, ...]:
    """What decides which account and endpoint a batch goes to: API key and base URL."""
    chat = gemini_chat_model(model)
    key = chat.google_api_key
    secret = key.get_secret_value() if isinstance(key, SecretStr) else key
    return (secret, gemini_endpoint(chat))


def gemini_endpoint(model: BaseChatModel) -> str:
    """The base URL the model's google-genai client calls."""
    return client_base_url(genai_client(gemini_chat_model(model)))


def gemini_batch_client(
    model: BaseChatModel,
    *,
    state_store: BatchStateStore | None,
    max_requests: int,
    **options: Any,
) -> GeminiBatchClient:
    """A batch client on a google-genai client built as `model`'s own (key, base URL, headers).

    `options` are `GeminiBatchClient`'s (poll_initial, poll_max, timeout, max_bytes, ...).
    Raises ValueError for a model that is not a ChatGoogleGenerativeAI on the Gemini
    Developer API.
    """
    chat = gemini_chat_model(model)
    return GeminiBatchClient(
        detached_client(chat),
        model=chat.model,
        state_store=state_store,
        max_requests=max_requests,
        **options,
    )


__all__ = [
    "check_gemini_batchable",
    "gemini_batch_client",
    "gemini_batch_requests",
    "gemini_client_key",
    "gemini_endpoint",
]
