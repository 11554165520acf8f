"""ChatGoogleGenerativeAI: implicit caching on Google's side, explicit context caches where the
observed reuse pays for them, Gemini Batch Mode for bulk calls.

langchain-google-genai and google-genai are optional, so they are imported only once a model
could be theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage

from optimization.batch_wire import BatchRequest
from optimization.families.base import CacheRequest, Plan, unchanged_request

if TYPE_CHECKING:
    from optimization.batch_state import BatchStateStore
    from optimization.capabilities import ProviderCapabilities
    from optimization.gemini_batch_client import GeminiBatchClient

GEMINI_BATCH_API = "gemini_batch"


class GeminiFamily:
    """ChatGoogleGenerativeAI on the Gemini Developer API (not its Vertex AI backend)."""

    name = "gemini"
    marks_cache = False  # Gemini 2.5+ caches repeated prefixes itself; entries are named

    def owns(self, model: BaseChatModel, provider: str) -> bool:
        """Every ChatGoogleGenerativeAI that talks to the Gemini Developer API."""
        try:
            from optimization._gemini_adapter import gemini_chat_model
        except ImportError:  # langchain-google-genai not installed: no model can be one
            return False
        try:
            gemini_chat_model(model)
        except ValueError:
            return False
        return True

    def can_batch(self, capabilities: ProviderCapabilities) -> bool:
        """Gemini's Batch Mode only (not Vertex AI batch prediction)."""
        return capabilities.batch_api == GEMINI_BATCH_API

    def endpoint(self, model: BaseChatModel) -> str | None:
        """The base URL of the model's google-genai client."""
        from optimization.gemini_batches import gemini_endpoint

        return gemini_endpoint(model) or None

    def client_key(self, model: BaseChatModel) -> tuple[object, ...]:
        """API key and base URL."""
        from optimization.gemini_batches import gemini_client_key

        return gemini_client_key(model)

    def batch_client(
        self,
        model: BaseChatModel,
        *,
        state_store: BatchStateStore | None,
        max_requests: int,
        options: Mapping[str, Any],
    ) -> GeminiBatchClient:
        """A GeminiBatchClient on the model's own google-genai client."""
        from optimization.gemini_batches import gemini_batch_client

        return gemini_batch_client(
            model, state_store=state_store, max_requests=max_requests, **options
        )

    def check_batchable(self, model: BaseChatModel, call_kwargs: Mapping[str, Any]) -> None:
        """ValueError for call params a batch request cannot carry."""
        from optimization.gemini_batches import check_gemini_batchable

        check_gemini_batchable(model, call_kwargs)

    def batch_requests(
        self,
        model: BaseChatModel,
        conversations: Sequence[Sequence[BaseMessage]],
        call_kwargs: Mapping[str, Any],
        plan: Plan | None,
    ) -> list[BatchRequest]:
        """Inline batch requests as the model itself would send them (`plan` is unused: no
        breakpoints to place)."""
        from optimization.gemini_batches import gemini_batch_requests

        return gemini_batch_requests(model, conversations, call_kwargs)

    def own_resources(self, copy: BaseChatModel) -> None:
        """A google-genai client of its own where the release closes it on finalization."""
        from optimization._gemini_adapter import own_client

        own_client(copy)

    def cache_request(
        self,
        model: BaseChatModel,
        messages: Sequence[BaseMessage],
        kwargs: Mapping[str, Any],
        *,
        batch: bool = False,
    ) -> CacheRequest:
        """The call naming an explicit cache entry where the observed reuse pays for one
        (`optimization.gemini_explicit_cache`); a batch request is left as it is."""
        if batch:
            return unchanged_request(messages, kwargs)
        from optimization.gemini_explicit_cache import explicit_cache_request

        return explicit_cache_request(model, messages, kwargs)

    async def acache_request(
        self, model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
    ) -> CacheRequest:
        """Async twin of `cache_request`."""
        from optimization.gemini_explicit_cache import aexplicit_cache_request

        return await aexplicit_cache_request(model, messages, kwargs)


__all__ = ["GEMINI_BATCH_API", "GeminiFamily"]
