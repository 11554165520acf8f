"""Batch requests and a batch client for a ChatOpenAI or AzureChatOpenAI, from the model itself.

`openai_batch_requests` builds, per conversation, exactly the body the model would send (its
own `_get_request_payload`: chat completions, or the Responses API for a model that uses it),
minus the streaming options a batch cannot take;
`openai_batch_client` builds an `OpenAIBatchClient` on the model's own async SDK client, so
its key, base URL, organization, or Azure endpoint, API version and deployment, are the ones
the model calls with. For Azure the JSONL `model` is the deployment name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_openai import AzureChatOpenAI
from langchain_openai.chat_models.base import BaseChatOpenAI

from optimization._openai_adapter import async_client, request_payload, uses_responses_api
from optimization.batch_state import BatchStateStore
from optimization.batch_wire import BatchRequest, default_custom_id
from optimization.openai_batch_client import OpenAIBatchClient, default_endpoint

# Request options the SDK sends outside the body, which a JSONL line cannot carry.
_NOT_IN_BODY = ("extra_headers", "extra_query", "timeout")
_STREAMING = ("stream", "stream_options")


def _openai_model(model: BaseChatModel) -> BaseChatOpenAI:
    if not isinstance(model, BaseChatOpenAI):
        raise TypeError(f"{type(model).__name__} is not a ChatOpenAI or AzureChatOpenAI")
    return model


def _batch_body(model: BaseChatOpenAI, payload: dict[str, Any]) -> dict[str, Any]:
    for name in _NOT_IN_BODY:
        if payload.get(name) is not None:
            raise ValueError(f"{name} cannot be batched: a batch request carries its body only")
    body = {key: value for key, value in payload.items() if key not in _STREAMING}
    body.update(body.pop("extra_body", None) or {})  # the SDK merges it into the body too
    if isinstance(model, AzureChatOpenAI) and model.deployment_name:
        body["model"] = model.deployment_name
    if not body.get("model"):
        raise ValueError("model is required in a batch request: the model names none")
    return body


def openai_batch_requests(
    model: BaseChatModel,
    conversations: Sequence[Sequence[BaseMessage]],
    call_kwargs: Mapping[str, Any],
) -> list[BatchRequest]:
    """One request per conversation, custom_id `r<position>`, each body what `model` would
    send for it with `call_kwargs`, without streaming options.

    Raises ValueError for what cannot be batched: call options that move the model to the
    other API than its own (its batch client targets one endpoint), request options outside
    the body (extra_headers, extra_query, timeout), or a value that is not JSON. TypeError
    when `model` is not an OpenAI chat model.
    """
    chat_model = _openai_model(model)
    own_api = uses_responses_api(chat_model, {})
    kwargs = dict(call_kwargs)
    stop = kwargs.pop("stop", None)
    requests: list[BatchRequest] = []
    for position, messages in enumerate(conversations):
        payload = request_payload(chat_model, messages, stop=stop, **kwargs)
        if uses_responses_api(chat_model, payload) != own_api:
            raise ValueError(
                "these call options move the model to the other OpenAI API than its own: "
                "batch them with a model set to that API (use_responses_api)"
            )
        body = _batch_body(chat_model, payload)
        try:
            requests.append(BatchRequest.from_params(default_custom_id(position), body))
        except TypeError as exc:
            raise ValueError(
                f"a request parameter is not JSON and cannot be batched: {exc}"
            ) from exc
    return requests


def openai_batch_client(
    model: BaseChatModel,
    *,
    state_store: BatchStateStore | None,
    max_requests: int,
    **options: Any,
) -> OpenAIBatchClient:
    """An `OpenAIBatchClient` on `model`'s own async SDK client (see the module docstring);
    `options` are `OpenAIBatchClient`'s (poll_initial, timeout, endpoint, ...)."""
    chat_model = _openai_model(model)
    client = async_client(chat_model)
    options.setdefault(
        "endpoint", default_endpoint(client, responses=uses_responses_api(chat_model, {}))
    )
    name = chat_model.model_name
    if isinstance(chat_model, AzureChatOpenAI):
        name = chat_model.deployment_name or name
    return OpenAIBatchClient(
        client,
        model=name or "",
        state_store=state_store,
        max_requests=max_requests,
        **options,
    )


__all__ = ["openai_batch_client", "openai_batch_requests"]
