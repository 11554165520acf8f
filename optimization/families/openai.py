"""OpenAI's and Azure OpenAI's chat classes: automatic caching steered by a routing key, and
the Batch API for bulk calls.

OpenAI caches every prompt prefix of 1,024 tokens or more on its own; what a client can do is
send requests that share a prefix with the same `prompt_cache_key`, so they reach the machines
holding that prefix (OpenAI "Prompt caching" guide, read 2026-11-30). The key here names the
static prefix, the bound tools and the leading system messages, so every conversation on the
same system prompt shares it and different prompts do not crowd one key. The caller's own
`prompt_cache_key` always wins. Azure OpenAI takes the key on GPT-5.6 and later models only
(learn.microsoft.com "Prompt caching", read 2026-11-30); older Azure deployments get none.

On OpenAI's own API the calls also ask for the extended 24 h retention where the model offers
it next to the in-memory one (gpt-4.1, gpt-5 to gpt-5.4, see `ProviderCapabilities.
prompt_cache_retentions`): it costs nothing more (cache prices are the same for both policies)
and keeps prefixes cached across long pauses. Chat Completions default to in-memory retention;
from GPT-5.5 on only 24 h exists. An organization with zero data retention may be refused the
extended policy: the wrapper then resends the call without these hints (`fallbackToStandard`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage

from optimization.capabilities import ProviderCapabilities
from optimization.families.base import CacheRequest, Plan, model_name_of, unchanged_request

if TYPE_CHECKING:
    from optimization.batch_state import BatchStateStore
    from optimization.batch_wire import BatchRequest
    from optimization.openai_batch_client import OpenAIBatchClient

OPENAI_BATCH_APIS = frozenset({"openai_batch", "azure_openai_global_batch"})
CACHE_KEY_PREFIX = "llmopt-"
# gpt-5.6, gpt-5.10, gpt-6, gpt-6.2-sol...: the generations Azure takes a cache key on.
_AZURE_KEYED_MODEL = re.compile(r"gpt-(?:5\.(?:[6-9]|\d{2,})|[6-9]|\d{2,})(?:[.-]|$)")


def prompt_cache_key(
    messages: Sequence[BaseMessage], tools: Sequence[Any] | None = None
) -> str | None:
    """A stable key naming the static prefix of a call (tools, then leading system messages).

    None when the call has neither: its prefix is the conversation itself, which OpenAI
    already routes by.
    """
    digest = hashlib.blake2b(digest_size=12)
    for tool in tools or ():
        digest.update(json.dumps(tool, sort_keys=True, default=str).encode())
        digest.update(b"\x00")
    static = bool(tools)
    for message in messages:
        if message.type != "system":
            break
        static = True
        digest.update(json.dumps(message.content, sort_keys=True, default=str).encode())
        digest.update(b"\x01")
    return CACHE_KEY_PREFIX + digest.hexdigest() if static else None


class OpenAIFamily:
    """ChatOpenAI on OpenAI's API and AzureChatOpenAI on Azure OpenAI (not the many other
    providers PipesHub reaches through ChatOpenAI: their caches and batch APIs differ)."""

    name = "openai"
    marks_cache = False

    def owns(self, model: BaseChatModel, provider: str) -> bool:
        """langchain-openai's chat classes built for openAI or azureOpenAI."""
        if provider not in ("openAI", "azureOpenAI"):
            return False
        from langchain_openai.chat_models.base import BaseChatOpenAI

        return isinstance(model, BaseChatOpenAI)

    def can_batch(self, capabilities: ProviderCapabilities) -> bool:
        """OpenAI's Batch API and Azure OpenAI's batch deployments."""
        return capabilities.batch_api in OPENAI_BATCH_APIS

    def endpoint(self, model: BaseChatModel) -> str | None:
        """The Azure endpoint or the OpenAI base URL (None: api.openai.com)."""
        for attribute in ("azure_endpoint", "openai_api_base"):
            value = getattr(model, attribute, None)
            if isinstance(value, str) and value:
                return value
        return None

    def client_key(self, model: BaseChatModel) -> tuple[object, ...]:
        """API key, endpoint, organization, and for Azure the deployment and API version."""
        key = getattr(model, "openai_api_key", None)
        secret = key.get_secret_value() if key is not None else None
        return (
            secret,
            self.endpoint(model),
            getattr(model, "openai_organization", None),
            getattr(model, "deployment_name", None),
            getattr(model, "openai_api_version", None),
        )

    def batch_client(
        self,
        model: BaseChatModel,
        *,
        state_store: BatchStateStore | None,
        max_requests: int,
        options: Mapping[str, Any],
    ) -> OpenAIBatchClient:
        """An OpenAIBatchClient on the model's own account and endpoint."""
        from optimization.openai_batches import openai_batch_client

        return openai_batch_client(
            model, state_store=state_store, max_requests=max_requests, **options
        )

    def check_batchable(self, model: BaseChatModel, call_kwargs: Mapping[str, Any]) -> None:
        """ValueError for params the Batch API cannot take."""
        from optimization.openai_batches import openai_batch_requests

        openai_batch_requests(model, [[]], call_kwargs)

    def batch_requests(
        self,
        model: BaseChatModel,
        conversations: Sequence[Sequence[BaseMessage]],
        call_kwargs: Mapping[str, Any],
        plan: Plan | None,
    ) -> list[BatchRequest]:
        """Batch API requests carrying exactly what the model sends for each conversation."""
        from optimization.openai_batches import openai_batch_requests

        return openai_batch_requests(model, conversations, call_kwargs)

    def own_resources(self, copy: BaseChatModel) -> None:
        """Nothing: the OpenAI classes' copies may share their clients."""

    def cache_request(
        self,
        model: BaseChatModel,
        messages: Sequence[BaseMessage],
        kwargs: Mapping[str, Any],
        *,
        batch: bool = False,
    ) -> CacheRequest:
        """The call with a `prompt_cache_key` for its static prefix and the extended retention,
        where the API takes them (the caller's own params win)."""
        hints = _cache_hints(model, messages, kwargs)
        if not hints:
            return unchanged_request(messages, kwargs)
        return CacheRequest(list(messages), {**hints, **kwargs})

    async def acache_request(
        self, model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
    ) -> CacheRequest:
        """`cache_request` (nothing to wait for)."""
        return self.cache_request(model, messages, kwargs)


def _cache_hints(
    model: BaseChatModel, messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    azure = bool(getattr(model, "azure_endpoint", None))
    if azure and not _AZURE_KEYED_MODEL.search(model_name_of(model)):
        return {}
    hints: dict[str, Any] = {}
    key = prompt_cache_key(messages, kwargs.get("tools"))
    if key is not None:
        hints["prompt_cache_key"] = key
    if not azure:
        offered = ProviderCapabilities.detect("openAI", model_name_of(model))
        if "in_memory" in offered.prompt_cache_retentions:
            hints["prompt_cache_retention"] = offered.extended_cache_retention
    return {name: value for name, value in hints.items() if value is not None}
