"""Every private API of langchain-google-genai and google-genai we use, in one place.

Supported: langchain-google-genai 4.x (on google-genai). `tests/optimization/
test_gemini_adapter.py` fails, naming the function, when a release removes or changes one.

- `ChatGoogleGenerativeAI._prepare_request(messages, stop=, **kwargs)`: the model, contents and
  `GenerateContentConfig` a call would send (tools, tool choice, generation settings);
- `langchain_google_genai.chat_models._response_to_result(response)`: a
  `GenerateContentResponse` → `ChatResult`, as the chat model builds its answers;
- `google.genai.batches._InlinedRequest_to_mldev(api_client, request)`, with
  `google.genai._common.convert_to_dict` and `encode_unserializable_types`: an inline batch
  request as the SDK puts it on the wire (REST JSON: contents, systemInstruction, tools,
  toolConfig, generationConfig);
- `Client.aio._api_client.async_request(method, path, body, http_options)`: a raw REST call
  through the SDK's own auth, base URL and headers (the batch create, whose body we build);
- `Client._api_client._http_options.base_url`: where a client sends its requests;
- `ChatGoogleGenerativeAI._use_vertexai`: which backend the model talks to;
- `ChatGoogleGenerativeAI.validate_environment()`: builds the model's client (called again on a
  copy that must not share the original's, see `own_client`).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from google import genai
from google.genai import _common, types
from google.genai import batches as genai_batches
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_google_genai import ChatGoogleGenerativeAI
from langchain_google_genai.chat_models import _response_to_result

# The create is sent exactly once: a retry after a lost response would make a second batch.
SEND_ONCE = types.HttpOptions(retry_options=types.HttpRetryOptions(attempts=1))


def gemini_chat_model(model: BaseChatModel) -> ChatGoogleGenerativeAI:
    """`model` as a ChatGoogleGenerativeAI on the Gemini Developer API (ValueError otherwise)."""
    if not isinstance(model, ChatGoogleGenerativeAI):
        raise ValueError(f"expected a ChatGoogleGenerativeAI, got {type(model).__name__}")
    if getattr(model, "_use_vertexai", False):
        raise ValueError(
            "this ChatGoogleGenerativeAI talks to Vertex AI, whose batch prediction is not "
            "the Gemini Batch API: it cannot be batched here"
        )
    return model


def _closes_client_when_collected() -> bool:
    """True on releases whose ChatGoogleGenerativeAI closes `self.client` in `__del__` (4.3,
    PipesHub's pin); later ones close a shared client wrapper only when its last reference
    goes, so sharing the client is safe there."""
    return "__del__" in ChatGoogleGenerativeAI.__dict__


def _rebuilt_client(chat_model: ChatGoogleGenerativeAI) -> None:
    # Field writes bypass validation (it would build a client on the assignment already).
    object.__setattr__(chat_model, "client", None)
    cast(Any, chat_model).validate_environment()  # a pydantic "after" validator, callable


def own_client(copy: BaseChatModel) -> None:
    """Give `copy`, a shallow copy of a ChatGoogleGenerativeAI, a client of its own where the
    release closes the client when the model it was built for is collected."""
    chat_model = cast(ChatGoogleGenerativeAI, copy)
    if _closes_client_when_collected() and chat_model.client is not None:
        _rebuilt_client(chat_model)


def detached_client(model: ChatGoogleGenerativeAI) -> genai.Client:
    """A google-genai client built as `model` builds its own, that outlives `model` (for a batch
    client kept after the chat model is gone)."""
    if not _closes_client_when_collected():
        return genai_client(model)
    builder = model.model_copy()
    _rebuilt_client(builder)
    client = genai_client(builder)
    object.__setattr__(builder, "client", None)  # nothing left for its `__del__` to close
    return client


def genai_client(model: ChatGoogleGenerativeAI) -> genai.Client:
    """The google-genai client `model` calls the API with (its key, base URL, headers)."""
    if model.client is None:
        raise ValueError("this ChatGoogleGenerativeAI has no google-genai client")
    return model.client


def client_base_url(client: genai.Client) -> str:
    """The base URL `client` sends its requests to."""
    return str(client._api_client._http_options.base_url or "")


def prepared_request(
    model: ChatGoogleGenerativeAI,
    messages: Sequence[BaseMessage],
    *,
    stop: list[str] | None,
    **kwargs: Any,
) -> dict[str, Any]:
    """`{"model", "contents", "config"}` exactly as `model` prepares a call."""
    return dict(model._prepare_request(list(messages), stop=stop, **kwargs))


def inline_request_json(client: genai.Client, prepared: Mapping[str, Any]) -> dict[str, Any]:
    """The REST JSON of one inline batch request (`GenerateContentRequest`) for `prepared`.

    The per-call `http_options` (timeout, retries) are the SDK's own business and never sent.
    """
    request = types.InlinedRequest(
        model=prepared["model"], contents=prepared["contents"], config=prepared["config"]
    )
    wire = genai_batches._InlinedRequest_to_mldev(client._api_client, request)
    wire = _common.encode_unserializable_types(_common.convert_to_dict(wire))
    return cast(dict[str, Any], wire["request"])


def ai_message(response: types.GenerateContentResponse) -> AIMessage | None:
    """The AIMessage ChatGoogleGenerativeAI builds for `response` (None if it builds none)."""
    result = _response_to_result(response)
    if not result.generations:
        return None
    message = result.generations[0].message
    return message if isinstance(message, AIMessage) else None


async def post_json(client: genai.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST `body` to `path` (relative to the API version) once, through the SDK; its JSON."""
    return _json_of(await client.aio._api_client.async_request("post", path, body, SEND_ONCE))


def post_json_sync(client: genai.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """`post_json` with the sync SDK client."""
    return _json_of(client._api_client.request("post", path, body, SEND_ONCE))


def generate_content_json(
    client: genai.Client, model: str, request: dict[str, Any]
) -> dict[str, Any]:
    """One standard `generateContent` call with a REST `GenerateContentRequest` body; the
    response JSON as the API sent it (the client's own retry options apply)."""
    path = f"models/{model.removeprefix('models/')}:generateContent"
    return _json_of(client._api_client.request("post", path, request))


def _json_of(response: types.HttpResponse) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(response.body) if response.body else {})


def _transport_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = []
    for module, name in (
        ("httpx", "TransportError"),
        ("httpx2", "TransportError"),
        ("aiohttp", "ClientError"),
    ):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


# What the SDK's HTTP library raises when a connection breaks or times out (google-genai
# passes these through unwrapped).
TRANSPORT_ERRORS = _transport_errors()


__all__ = [
    "SEND_ONCE",
    "TRANSPORT_ERRORS",
    "ai_message",
    "client_base_url",
    "detached_client",
    "gemini_chat_model",
    "genai_client",
    "generate_content_json",
    "inline_request_json",
    "own_client",
    "post_json",
    "post_json_sync",
    "prepared_request",
]
