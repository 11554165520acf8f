"""What the wrapper needs from a family of LangChain chat classes to cache and batch its calls."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage

from optimization.batch_wire import BatchRequest

if TYPE_CHECKING:
    from optimization._batch_core import BatchItemResult, BatchStatus, SubmittedBatch
    from optimization.batch_state import BatchStateStore
    from optimization.capabilities import ProviderCapabilities


def model_name_of(model: BaseChatModel) -> str:
    """The model id a chat model calls (`model`, `model_name`, `model_id` or deployment)."""
    for attribute in ("model", "model_name", "model_id", "deployment_name"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return "unknown"


# A CacheManager's `plan` (messages, tools) -> CachePlan, for families that mark breakpoints.
Plan = Callable[[Sequence[BaseMessage], list[dict[str, Any]] | None], Any]


@dataclass
class CacheRequest:
    """One call as a family sends it to raise its cache hits, and how it learns from the call.

    `names_entry`: the request names a provider-side cache entry (Gemini `cachedContents`) the
    provider may refuse; the plain call is then sent instead. `refused(exc)` says whether `exc`
    is that refusal (the entry is forgotten); `observe(usage)` learns from the call's usage
    metadata, whichever way it was sent.
    """

    messages: list[BaseMessage]
    kwargs: dict[str, Any]
    names_entry: bool = False
    refused: Callable[[BaseException], bool] | None = field(default=None, repr=False)
    observe: Callable[[Mapping[str, Any] | None], None] | None = field(default=None, repr=False)


def unchanged_request(messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]) -> CacheRequest:
    """The call as given: nothing to add, nothing to learn."""
    return CacheRequest(list(messages), dict(kwargs))


class BatchClient(Protocol):
    """The async batch client of one provider API (AnthropicBatchClient's public shape)."""

    async def submit(
        self, requests: Sequence[BatchRequest], *, meta: Mapping[str, Any] | None = None
    ) -> list[SubmittedBatch]:
        """Submit `requests` as one or more batches; position i is `requests[i]`."""
        ...

    async def poll(self, batch_id: str) -> BatchStatus:
        """Wait until the batch has ended."""
        ...

    async def collect(self, batches: Sequence[SubmittedBatch]) -> list[BatchItemResult]:
        """Every result of `batches`, in input order."""
        ...

    async def resume_open(self) -> dict[str, list[BatchItemResult]]:
        """Collect every batch the state store lists as open."""
        ...


class ModelFamily(Protocol):
    """How one family of chat classes (ChatAnthropic, the OpenAI ones, Gemini's) is optimized.

    `marks_cache` families get cache breakpoints planned by the shared CacheManager; the others
    cache on the provider's side, and `cache_request` / `acache_request` rewrite a call to help
    that (a routing key, an explicit cache entry named instead of the prefix it holds).
    """

    name: str
    marks_cache: bool

    def owns(self, model: BaseChatModel, provider: str) -> bool:
        """Whether this family optimizes `model` built for `provider`."""
        ...

    def can_batch(self, capabilities: ProviderCapabilities) -> bool:
        """Whether there is a batch client here for the provider's batch API."""
        ...

    def endpoint(self, model: BaseChatModel) -> str | None:
        """The API endpoint the model calls (keys the shared planner's memory)."""
        ...

    def client_key(self, model: BaseChatModel) -> tuple[object, ...]:
        """What decides which account and endpoint a batch goes to (credentials, URL)."""
        ...

    def batch_client(
        self,
        model: BaseChatModel,
        *,
        state_store: BatchStateStore | None,
        max_requests: int,
        options: Mapping[str, Any],
    ) -> BatchClient:
        """A new async batch client on the model's own account and endpoint."""
        ...

    def check_batchable(self, model: BaseChatModel, call_kwargs: Mapping[str, Any]) -> None:
        """Raise ValueError when calls with these params cannot go through the batch API."""
        ...

    def batch_requests(
        self,
        model: BaseChatModel,
        conversations: Sequence[Sequence[BaseMessage]],
        call_kwargs: Mapping[str, Any],
        plan: Plan | None,
    ) -> list[BatchRequest]:
        """One request per conversation, custom_id `r<i>`, as the model itself would send it.

        Raises ValueError when the call params cannot go through the batch API.
        """
        ...

    def own_resources(self, copy: BaseChatModel) -> None:
        """Give an optimized copy of `model` its own resources where the original's finalizer
        would close shared ones (the copy shares the original's field values)."""
        ...

    def cache_request(
        self,
        model: BaseChatModel,
        messages: Sequence[BaseMessage],
        kwargs: Mapping[str, Any],
        *,
        batch: bool = False,
    ) -> CacheRequest:
        """The call rewritten to raise the provider's own cache hit rate (the caller's own
        params win). `batch`: the call goes into a batch request (only its kwargs are used)."""
        ...

    async def acache_request(
        self, model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
    ) -> CacheRequest:
        """Async twin of `cache_request` for a single call."""
        ...
