"""Every private or version-dependent API of langchain-anthropic and the anthropic SDK we use.

Supported: langchain-anthropic 1.5.3 (PipesHub's pin, on anthropic 0.x) up to the newest 1.x
(on anthropic 1.x and 2.x). `tests/optimization/test_anthropic_adapter.py` fails, naming the
function, when a release removes or changes one of them.

- `_format_messages(messages[, model=])`: ChatAnthropic's LangChain → Messages API conversion
  (the `model` argument arrived after 1.5.3);
- `ChatAnthropic._get_request_payload`: every request param a call would send;
- `ChatAnthropic._format_output`: an API `Message` → `ChatResult` (never reads `self`);
- `ChatAnthropic._client_params`: the SDK client's arguments (key, base URL, headers, retries);
- the SDK's streamed batch results: `with_streaming_response.results` from anthropic 1.x,
  the JSONL decoder's underlying response before (sync and async twins);
- the transport errors of the SDK's HTTP library: httpx2 from anthropic 2.x, httpx before;
- the SDK's retry rule (`_base_client.BaseClient._should_retry`) and its reading of the
  server's wait (`BaseClient._parse_retry_after_header`), methods that never read `self`. The
  base class's rule, not `Anthropic`'s: that one adds a 401 retry that re-mints a cached
  credential token, a side effect of the client's own auth, not a judgement of the error.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

import anthropic
from anthropic._base_client import BaseClient as _BaseClient
from langchain_anthropic import ChatAnthropic
from langchain_anthropic.chat_models import _format_messages
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult

_FORMAT_TAKES_MODEL = "model" in inspect.signature(_format_messages).parameters

FormattedMessages = tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]


def format_messages(messages: Sequence[BaseMessage], *, model: str | None) -> FormattedMessages:
    """`(system, messages)` exactly as ChatAnthropic converts them for `model`."""
    convert: Any = _format_messages
    if _FORMAT_TAKES_MODEL:
        return cast(FormattedMessages, convert(list(messages), model=model))
    return cast(FormattedMessages, convert(list(messages)))


def request_payload(
    chat_model: ChatAnthropic,
    messages: list[BaseMessage],
    *,
    stop: list[str] | None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The request body `chat_model` would send for `messages` and call `kwargs`."""
    return dict(chat_model._get_request_payload(messages, stop=stop, **kwargs))


def format_output(message: Any) -> ChatResult:
    """ChatAnthropic's `ChatResult` for an API `Message` (no client is built)."""
    return ChatAnthropic._format_output(cast(ChatAnthropic, None), message)


def client_params(chat_model: ChatAnthropic) -> dict[str, Any]:
    """The arguments `chat_model` builds its SDK clients with (api_key, base_url, ...)."""
    return dict(chat_model._client_params)


@contextmanager
def streamed_batch_results_sync(
    client: anthropic.Anthropic, batch_id: str
) -> Iterator[tuple[Iterator[bytes], Any]]:
    """The sync twin of `streamed_batch_results`."""
    streaming = client.messages.batches.with_streaming_response
    if hasattr(streaming, "results"):
        with streaming.results(batch_id) as streamed:
            yield streamed.iter_bytes(), streamed.http_request
        return
    # anthropic 0.x: `results` streams through a JSONL decoder over the raw response.
    decoder: Any = client.messages.batches.results(batch_id)
    try:
        yield decoder.http_response.iter_bytes(), decoder.http_response.request
    finally:
        decoder.close()


@asynccontextmanager
async def streamed_batch_results(
    client: anthropic.AsyncAnthropic, batch_id: str
) -> AsyncIterator[tuple[AsyncIterator[bytes], Any]]:
    """The raw bytes of a batch's results file as they arrive, and the HTTP request for them.

    The request is the SDK's own httpx (or, from anthropic 2.x, httpx2) request object.
    """
    streaming = client.messages.batches.with_streaming_response
    if hasattr(streaming, "results"):
        async with streaming.results(batch_id) as streamed:
            yield streamed.iter_bytes(), streamed.http_request
        return
    # anthropic 0.x: `results` streams through a JSONL decoder over the raw response.
    decoder: Any = await client.messages.batches.results(batch_id)
    try:
        yield decoder.http_response.aiter_bytes(), decoder.http_response.request
    finally:
        await decoder.close()


def _transport_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = []
    for name in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(name).TransportError)
        except ImportError:
            continue
    return tuple(errors)


# What the SDK's HTTP library raises when a connection breaks while a body is being read.
TRANSPORT_ERRORS = _transport_errors()


def sdk_would_retry(exc: BaseException | None) -> bool:
    """Whether the SDK's own retry rule sends again the request that raised `exc`.

    A lost connection or a timeout always; an error status as the SDK's `_should_retry`
    decides (the server's `x-should-retry` header when sent, else 408, 409, 429 and 5xx).
    """
    if isinstance(exc, anthropic.APIConnectionError):  # APITimeoutError included
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return bool(_BaseClient._should_retry(cast(Any, None), exc.response))
    return False


def server_retry_after(exc: anthropic.APIStatusError) -> float | None:
    """The seconds the server asked to wait before trying again, as the SDK reads them
    (`retry-after-ms`, else `retry-after` in seconds or as a date); None when it did not say."""
    seconds = _BaseClient._parse_retry_after_header(cast(Any, None), exc.response.headers)
    return None if seconds is None else float(seconds)


__all__ = [
    "TRANSPORT_ERRORS",
    "client_params",
    "format_messages",
    "format_output",
    "request_payload",
    "sdk_would_retry",
    "server_retry_after",
    "streamed_batch_results",
    "streamed_batch_results_sync",
]
