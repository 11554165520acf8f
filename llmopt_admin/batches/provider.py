"""The provider as a worker task sees it: the sync SDK and batch clients of the job's provider
(Anthropic, OpenAI, Azure OpenAI or Gemini) for one run, and which provider errors are worth
trying again later."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, TypeVar

import anthropic
import openai
from django.conf import settings
from google import genai
from google.genai import types

from llmopt_admin.batches.models import BatchJob, JobProvider
from llmopt_admin.batches.state_store import DjangoBatchStateStore
from optimization._anthropic_adapter import sdk_would_retry
from optimization._gemini_adapter import generate_content_json
from optimization._gemini_batch_core import raw_from_gemini
from optimization._gemini_batch_io import GeminiNotFoundError, gemini_would_retry, sdk_errors
from optimization._openai_adapter import openai_sdk_would_retry
from optimization.batch_client_sync import SyncAnthropicBatchClient
from optimization.batch_wire import RawBatchResult
from optimization.gemini_batch_client import SyncGeminiBatchClient
from optimization.openai_batch_client import SyncOpenAIBatchClient
from optimization.openai_batch_wire import raw_from_openai

logger = logging.getLogger(__name__)


T = TypeVar("T")


class Provider:
    """The SDK and batch clients for one task run, for the job's provider (Anthropic, OpenAI,
    Azure OpenAI or Gemini); close() releases their connections.

    `api_error`, `status_error` and `not_found` are the provider SDK's exception classes;
    `call_standard` makes one request through its standard API.
    """

    def __init__(self, job: BatchJob, positions: dict[str, int] | None = None) -> None:
        options: dict[str, Any] = {
            "model": job.model,
            "poll_initial": settings.LLMOPT_BATCH_POLL_INITIAL,
            "poll_max": settings.LLMOPT_BATCH_POLL_MAX,
            "state_store": DjangoBatchStateStore(job, positions=positions),
        }
        self.model = job.model
        self.batches: SyncAnthropicBatchClient | SyncOpenAIBatchClient | SyncGeminiBatchClient
        self.sdk: anthropic.Anthropic | openai.OpenAI | genai.Client
        if job.provider == JobProvider.GEMINI:
            self.sdk = _gemini_sdk()
            self.batches = SyncGeminiBatchClient(self.sdk, **options)
            self.not_found: type[Exception] = GeminiNotFoundError
        elif job.provider == JobProvider.ANTHROPIC:
            self.sdk = anthropic.Anthropic(
                base_url=settings.ANTHROPIC_BASE_URL,
                api_key=settings.ANTHROPIC_API_KEY,
                max_retries=settings.LLMOPT_PROVIDER_MAX_RETRIES,
            )
            self.batches = SyncAnthropicBatchClient(self.sdk, **options)
            self.not_found = anthropic.NotFoundError
        else:
            self.sdk = _openai_sdk(job.provider)
            self.batches = SyncOpenAIBatchClient(self.sdk, **options)
            self.not_found = openai.NotFoundError
        self.api_error: type[Exception] = self.batches.rules.api_error
        self.status_error: type[Exception] = self.batches.rules.status_error

    def call_standard(
        self, position: int, custom_id: str, params: dict[str, Any]
    ) -> RawBatchResult:
        """One request through the provider's standard API, as a succeeded result holding the
        response as the API sent it (what a batch result line holds). Raises `api_error`."""
        if isinstance(self.sdk, anthropic.Anthropic):
            message = self.sdk.messages.create(**params)
            return RawBatchResult.from_message(position, custom_id, _as_sent(message))
        if isinstance(self.sdk, genai.Client):
            with sdk_errors():
                response = generate_content_json(self.sdk, self.model, params)
            return raw_from_gemini(position, custom_id, response)
        completion = self.sdk.chat.completions.create(**params)
        return raw_from_openai(position, custom_id, _as_sent(completion))

    def chunks(
        self,
        source: Iterable[T],
        size: int,
        *,
        then: Callable[[list[T]], Any] | None = None,
    ) -> Iterator[Any]:
        """`source` a list of `size` items at a time (passed through `then` when given).

        The next chunk is read (and prepared) on a thread of its own while the caller stores
        this one: the caller's database waits release the GIL, so download and decoding
        overlap them. `source` and `then` must not touch the database: writes stay on the
        caller's thread and connection. An error of the source is raised here, at the chunk it
        broke.
        """
        items = iter(source)

        def take() -> Any:
            chunk = list(itertools.islice(items, size))
            if not chunk:
                return None  # the end
            return chunk if then is None else then(chunk)

        with ThreadPoolExecutor(1, thread_name_prefix="batch-results-download") as reader:
            pending = reader.submit(take)
            try:
                while (chunk := pending.result()) is not None:
                    pending = reader.submit(take)
                    yield chunk
            finally:
                # The caller may have stopped early: let the chunk in flight finish, then close
                # the source (and its download) here.
                wait([pending])
                close = getattr(items, "close", None)
                if close is not None:
                    close()

    def close(self) -> None:
        self.sdk.close()


@contextmanager
def provider_for(job: BatchJob, positions: dict[str, int] | None = None) -> Iterator[Provider]:
    provider = Provider(job, positions)
    try:
        yield provider
    finally:
        provider.close()


def _openai_sdk(provider: str) -> openai.OpenAI:
    """The sync SDK client of an OpenAI-family job, from the settings."""
    retries = settings.LLMOPT_PROVIDER_MAX_RETRIES  # one retry budget for every provider
    if provider == JobProvider.AZURE_OPENAI:
        # No deployment here: each request's `model` names its deployment, and /files and
        # /batches stay at the resource's root.
        return openai.AzureOpenAI(
            azure_endpoint=settings.AZURE_OPENAI_ENDPOINT,
            api_key=settings.AZURE_OPENAI_API_KEY,
            api_version=settings.AZURE_OPENAI_API_VERSION,
            max_retries=retries,
        )
    if provider == JobProvider.OPENAI:
        return openai.OpenAI(
            base_url=settings.OPENAI_BASE_URL, api_key=settings.OPENAI_API_KEY, max_retries=retries
        )
    raise ValueError(f"batch jobs cannot target provider {provider!r}")


def _gemini_sdk() -> genai.Client:
    """The google-genai client of a Gemini job, from the settings (the SDK's own retries, as
    many as the other providers'; a batch create still goes once)."""
    retries = settings.LLMOPT_PROVIDER_MAX_RETRIES  # one retry budget for every provider
    options = types.HttpOptions(
        base_url=settings.GEMINI_BASE_URL,
        retry_options=types.HttpRetryOptions(attempts=retries + 1),
    )
    return genai.Client(api_key=settings.GEMINI_API_KEY, http_options=options)


def _as_sent(response: Any) -> dict[str, Any]:
    """An SDK response object as the fields the API sent."""
    sent: dict[str, Any] = response.model_dump(mode="json", exclude_unset=True)
    return sent


def is_transient(exc: BaseException | None) -> bool:
    """Worth retrying later: what the provider SDK's own retry rule would send again
    (connection trouble, 408/409/429, 5xx and 529 overloaded, or as the server's
    `x-should-retry` says; Gemini: connection trouble, 408/409/429, 5xx)."""
    return sdk_would_retry(exc) or openai_sdk_would_retry(exc) or gemini_would_retry(exc)
