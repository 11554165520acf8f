"""ChatAnthropic: cache breakpoints planned per call, Message Batches for bulk calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import anthropic
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage

from optimization._anthropic_adapter import client_params
from optimization.batch_client import AnthropicBatchClient
from optimization.batch_wire import BatchRequest, prepare_requests
from optimization.families.base import CacheRequest, Plan, model_name_of, unchanged_request
from optimization.messages import request_template as anthropic_template

if TYPE_CHECKING:
    from langchain_anthropic import ChatAnthropic

    from optimization.batch_state import BatchStateStore
    from optimization.capabilities import ProviderCapabilities

ANTHROPIC_BATCH_API = "anthropic_message_batches"


def _chat_anthropic(model: BaseChatModel) -> ChatAnthropic:
    return cast("ChatAnthropic", model)


class AnthropicFamily:
    """ChatAnthropic, whichever PipesHub provider built it (anthropic, azureAI's Claude...)."""

    name = "anthropic"
    marks_cache = True

    def owns(self, model: BaseChatModel, provider: str) -> bool:
        """Every ChatAnthropic."""
        from langchain_anthropic import ChatAnthropic

        return isinstance(model, ChatAnthropic)

    def can_batch(self, capabilities: ProviderCapabilities) -> bool:
        """The Message Batches API only (not Bedrock's or Vertex AI's batch jobs)."""
        return capabilities.batch_api == ANTHROPIC_BATCH_API

    def endpoint(self, model: BaseChatModel) -> str | None:
        """The model's `anthropic_api_url`."""
        url = getattr(model, "anthropic_api_url", None)
        return url if isinstance(url, str) else None

    def client_key(self, model: BaseChatModel) -> tuple[object, ...]:
        """API key and base URL."""
        params = client_params(_chat_anthropic(model))
        return (params.get("api_key"), params.get("base_url"))

    def batch_client(
        self,
        model: BaseChatModel,
        *,
        state_store: BatchStateStore | None,
        max_requests: int,
        options: Mapping[str, Any],
    ) -> AnthropicBatchClient:
        """An AnthropicBatchClient on a new AsyncAnthropic built like the model's own."""
        return AnthropicBatchClient(
            anthropic.AsyncAnthropic(**client_params(_chat_anthropic(model))),
            model=model_name_of(model),
            max_requests=max_requests,
            **{"state_store": state_store, **options},
        )

    def check_batchable(self, model: BaseChatModel, call_kwargs: Mapping[str, Any]) -> None:
        """ValueError for params the Message Batches API cannot take (betas...)."""
        request_template(model, call_kwargs)

    def batch_requests(
        self,
        model: BaseChatModel,
        conversations: Sequence[Sequence[BaseMessage]],
        call_kwargs: Mapping[str, Any],
        plan: Plan | None,
    ) -> list[BatchRequest]:
        """Message Batches requests carrying the model's params and planned cache markers."""
        return prepare_requests(conversations, request_template(model, call_kwargs), plan=plan)

    def own_resources(self, copy: BaseChatModel) -> None:
        """Nothing: ChatAnthropic's copies may share its clients."""

    def cache_request(
        self,
        model: BaseChatModel,
        messages: Sequence[BaseMessage],
        kwargs: Mapping[str, Any],
        *,
        batch: bool = False,
    ) -> CacheRequest:
        """The call unchanged: Anthropic caches where the planner marks breakpoints."""
        return unchanged_request(messages, kwargs)

    async def acache_request(
        self, model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
    ) -> CacheRequest:
        """The call unchanged (see `cache_request`)."""
        return unchanged_request(messages, kwargs)


def request_template(model: BaseChatModel, call_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Every Message Batches param of a call but its messages; ValueError if unbatchable."""
    params = dict(call_kwargs)
    stop = params.pop("stop", None)
    return anthropic_template(_chat_anthropic(model), stop=stop, **params)
