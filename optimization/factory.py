"""`get_generator_model`: PipesHub's model factory, passed through `optimize`.

Same signature and config shape as PipesHub's backend/python/app/utils/aimodels.py
(`config["configuration"]`, `isDefault`, comma-separated model names whose first is the
default, PipesHub's Claude output-token caps), for backends that have no factory of their own:
`get_generator_model` is `optimized_factory(build_generator_model)`, the one path through
`optimize` that a decorated backend factory takes too.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from optimization.dropin import optimized_factory

logger = logging.getLogger(__name__)

DEFAULT_LLM_TIMEOUT = 360.0
# PipesHub's output-token caps for Claude (aimodels.py).
MAX_OUTPUT_TOKENS = 4096
MAX_OUTPUT_TOKENS_CLAUDE_MODERN = 16384
MAX_OUTPUT_TOKENS_CLAUDE_4_5 = 64000
_CLAUDE_VERSION = re.compile(
    r"claude[-_]?(opus|sonnet|haiku|fable|mythos)[-_]?(\d+)(?:[-_.](\d+))?"
)
# Claude models newer than 4.6 whose id carries no version number.
_CLAUDE_UNVERSIONED_MODERN = ("claude-mythos-preview",)
_ANTHROPIC_EFFORTS = ("low", "medium", "high", "xhigh", "max")

# provider id -> (module, class, pip package) for providers built through one LangChain class
_OPENAI_STYLE = ("langchain_openai", "ChatOpenAI", "langchain-openai")
_CLASSES: dict[str, tuple[str, str, str]] = {
    "anthropic": ("langchain_anthropic", "ChatAnthropic", "langchain-anthropic"),
    "bedrock": ("langchain_aws", "ChatBedrock", "langchain-aws"),
    "azureOpenAI": ("langchain_openai", "AzureChatOpenAI", "langchain-openai"),
    "cohere": ("langchain_cohere", "ChatCohere", "langchain-cohere"),
    "fireworks": ("langchain_fireworks", "ChatFireworks", "langchain-fireworks"),
    "gemini": ("langchain_google_genai", "ChatGoogleGenerativeAI", "langchain-google-genai"),
    "vertexAI": ("langchain_google_vertexai", "ChatVertexAI", "langchain-google-vertexai"),
    "groq": ("langchain_groq", "ChatGroq", "langchain-groq"),
    "mistral": ("langchain_mistralai", "ChatMistralAI", "langchain-mistralai"),
    "ollama": ("langchain_ollama", "ChatOllama", "langchain-ollama"),
    "xai": ("langchain_xai", "ChatXAI", "langchain-xai"),
    "together": ("langchain_together", "ChatTogether", "langchain-together"),
    "openAI": _OPENAI_STYLE,
    "openAICompatible": _OPENAI_STYLE,
    "lmStudio": _OPENAI_STYLE,
    "litellmProxy": _OPENAI_STYLE,
    "openRouter": _OPENAI_STYLE,
    "minimax": _OPENAI_STYLE,
    "azureAI": _OPENAI_STYLE,
}
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
MINIMAX_BASE_URL = "https://api.minimax.io/v1"


def anthropic_max_tokens(model_name: str) -> int:
    """PipesHub's output cap for a Claude model: 64K for 4.5, 16K for 4.6+ and 5.x, else 4096.

    These are PipesHub's request defaults, below every model's real limit (128K synchronous on
    the 5.x models, Opus 4.8 and Sonnet 4.6+; 300K on the Batch API with the
    output-300k-2026-03-24 beta; see optimization.capabilities).
    """
    lowered = model_name.lower()
    if any(name in lowered for name in _CLAUDE_UNVERSIONED_MODERN):
        return MAX_OUTPUT_TOKENS_CLAUDE_MODERN
    match = _CLAUDE_VERSION.search(lowered)
    if match:
        major = int(match.group(2))
        minor = int(match.group(3)) if match.group(3) is not None else None
        if major >= 5:
            return MAX_OUTPUT_TOKENS_CLAUDE_MODERN
        if major == 4 and minor == 5:
            return MAX_OUTPUT_TOKENS_CLAUDE_4_5
        if major == 4 and minor is not None and minor >= 6:
            return MAX_OUTPUT_TOKENS_CLAUDE_MODERN
    if "4.5" in lowered:
        return MAX_OUTPUT_TOKENS_CLAUDE_4_5
    return MAX_OUTPUT_TOKENS


def anthropic_supports_sampling(model_name: str) -> bool:
    """False for Claude models that reject temperature (Opus 4.7+, any 5.x), as PipesHub says.

    Anthropic's overview pages confirm a 400 for non-default temperature/top_p/top_k on Sonnet 5,
    Sonnet 5.5, Haiku 5.5 and Fable 5.1. Fable, Mythos and Mythos Preview are all treated as
    refusing: omitting temperature is always accepted, sending it might not be.
    """
    lowered = model_name.lower()
    if any(name in lowered for name in _CLAUDE_UNVERSIONED_MODERN):
        return False
    match = _CLAUDE_VERSION.search(lowered)
    if not match:
        return True
    tier, major = match.group(1), int(match.group(2))
    minor = int(match.group(3)) if match.group(3) is not None else None
    if major >= 5 or tier in ("fable", "mythos"):
        return False
    return not (tier == "opus" and major == 4 and minor is not None and minor >= 7)


def resolve_model_name(provider: str, config: Mapping[str, Any], model_name: str | None) -> str:
    """The model to build: `model_name`, or the first configured one.

    Raises ValueError when no model is configured, or when a non-default entry is asked for a
    model outside its comma-separated list.
    """
    configured = config["configuration"].get("model")
    if not configured:
        raise ValueError(f"Provider '{provider}' configuration is missing a 'model' name.")
    names = [name.strip() for name in str(configured).split(",") if name.strip()]
    if not names:
        raise ValueError(f"Provider '{provider}' configuration has an empty 'model' field.")
    if model_name is None:
        return names[0]
    if not config.get("isDefault") and model_name not in names:
        raise ValueError(f"Model name {model_name} not found in {configured}")
    return model_name


def _load_class(provider: str) -> Callable[..., BaseChatModel]:
    module_name, class_name, package = _CLASSES[provider]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(
            f"provider {provider!r} needs the {package!r} package: pip install {package}"
        ) from exc
    cls: Callable[..., BaseChatModel] = getattr(module, class_name)
    return cls


def _temperature(configuration: Mapping[str, Any], config: Mapping[str, Any]) -> Any:
    return 1 if config.get("isReasoning") else configuration.get("temperature", 0.2)


def _anthropic_kwargs(
    model_name: str,
    configuration: Mapping[str, Any],
    config: Mapping[str, Any],
    reasoning_effort: str | None,
    base_url: str | None,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": model_name,
        "timeout": DEFAULT_LLM_TIMEOUT,
        "max_retries": 2,
        "api_key": configuration.get("apiKey"),
        "max_tokens": configuration.get("maxTokens") or anthropic_max_tokens(model_name),
    }
    base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL")
    if base_url:
        kwargs["base_url"] = base_url
    if anthropic_supports_sampling(model_name):
        kwargs["temperature"] = configuration.get("temperature", 0.2)
    if config.get("isReasoning"):
        effort = reasoning_effort or "high"
        kwargs["reasoning_effort"] = effort if effort in _ANTHROPIC_EFFORTS else "low"
    return kwargs


def base_model_kwargs(
    provider: str,
    config: Mapping[str, Any],
    model_name: str,
    reasoning_effort: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Which LangChain class (by provider id in `_CLASSES`) and which kwargs PipesHub builds.

    Pure: nothing is imported or constructed, so every provider's parameters are checkable
    without its package installed.
    """
    configuration: Mapping[str, Any] = config["configuration"]
    if provider == "anthropic" or (provider == "azureAI" and "claude" in model_name):
        # Claude on Azure AI Foundry speaks Anthropic's API: langchain-openai is not needed.
        base_url = configuration.get("endpoint") if provider == "azureAI" else None
        base_url = base_url or configuration.get("baseUrl")
        return "anthropic", _anthropic_kwargs(
            model_name, configuration, config, reasoning_effort, base_url
        )
    if provider not in _CLASSES:
        raise ValueError(f"Unsupported provider type: {provider}")
    common: dict[str, Any] = {"model": model_name, "timeout": DEFAULT_LLM_TIMEOUT}
    kwargs: dict[str, Any]
    if provider in (
        "openAI",
        "openAICompatible",
        "lmStudio",
        "litellmProxy",
        "openRouter",
        "azureAI",
    ):
        base_url = {"openRouter": OPENROUTER_BASE_URL}.get(provider, configuration.get("endpoint"))
        api_key = configuration.get("apiKey") or ("lm-studio" if provider == "lmStudio" else None)
        kwargs = {
            **common,
            "temperature": _temperature(configuration, config),
            "api_key": api_key,
            "base_url": base_url,
            "stream_usage": True,
        }
        if provider == "openAI":
            kwargs["organization"] = configuration.get("organizationId")
    elif provider == "minimax":
        temperature = max(0.01, min(1.0, float(configuration.get("temperature", 0.2))))
        kwargs = {
            **common,
            "temperature": temperature,
            "api_key": configuration.get("apiKey"),
            "base_url": MINIMAX_BASE_URL,
            "stream_usage": True,
        }
    elif provider == "azureOpenAI":
        kwargs = {
            "api_key": configuration.get("apiKey"),
            "azure_endpoint": configuration.get("endpoint"),
            "api_version": configuration.get("apiVersion", "2025-04-01-preview"),
            "temperature": _temperature(configuration, config),
            "timeout": DEFAULT_LLM_TIMEOUT,
            "azure_deployment": configuration.get("deploymentName"),
            "stream_usage": True,
        }
    elif provider == "bedrock":
        kwargs = {
            "model_id": model_name,
            "temperature": 0.2,
            "aws_access_key_id": configuration.get("awsAccessKeyId"),
            "aws_secret_access_key": configuration.get("awsAccessSecretKey"),
            "region_name": configuration.get("region"),
            "beta_use_converse_api": True,
            "model_kwargs": {"max_tokens": anthropic_max_tokens(model_name)}
            if "claude" in model_name.lower()
            else {},
        }
    elif provider == "gemini":
        kwargs = {
            **common,
            "temperature": 0.2,
            "max_retries": 2,
            "google_api_key": configuration.get("apiKey"),
        }
    elif provider == "cohere":
        kwargs = {
            "model": model_name,
            "temperature": 0.2,
            "timeout": DEFAULT_LLM_TIMEOUT,
            "cohere_api_key": configuration.get("apiKey"),
        }
    elif provider == "ollama":
        kwargs = {
            "model": model_name,
            "temperature": configuration.get("temperature", 0.2),
            "base_url": configuration.get(
                "endpoint", os.environ.get("OLLAMA_API_URL", "http://localhost:11434")
            ),
        }
    else:
        extra: dict[str, Any] = {}
        if provider == "together":
            if not configuration.get("endpoint"):
                raise ValueError("Provider 'together' configuration is missing an 'endpoint'.")
            extra["base_url"] = configuration["endpoint"]
        kwargs = {**common, "temperature": 0.2, "api_key": configuration.get("apiKey"), **extra}
    return provider, kwargs


def build_base_model(
    provider: str,
    config: Mapping[str, Any],
    model_name: str,
    reasoning_effort: str | None = None,
) -> BaseChatModel:
    """The plain LangChain chat model for `provider`, built as PipesHub builds it."""
    class_key, kwargs = base_model_kwargs(provider, config, model_name, reasoning_effort)
    return _load_class(class_key)(**kwargs)


def build_generator_model(
    provider: str,
    config: dict[str, Any],
    model_name: str | None = None,
    reasoning_effort: str | None = None,
) -> BaseChatModel:
    """PipesHub's `get_generator_model` as this package reproduces it: the plain model."""
    model_name = resolve_model_name(provider, config, model_name)
    logger.info("getting generator model: provider=%s, model_name=%s", provider, model_name)
    return build_base_model(provider, config, model_name, reasoning_effort)


# For backends without a factory of their own: the same path through `optimize` as a decorated
# PipesHub factory takes. Optimization off (the default) returns the plain model, untouched.
get_generator_model = optimized_factory(build_generator_model)


__all__ = [
    "anthropic_max_tokens",
    "base_model_kwargs",
    "build_base_model",
    "build_generator_model",
    "get_generator_model",
    "resolve_model_name",
]
