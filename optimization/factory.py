"""`get_generator_model`: PipesHub's model factory, passed through `optimize`.

Same signature, config shape (`configuration`, `isDefault`, `isReasoning`, comma-separated
model names, the first the default) and per-provider LangChain class and arguments as PipesHub's
backend/python/app/utils/aimodels.py, for backends without a factory of their own:
`get_generator_model` is `optimized_factory(build_generator_model)`, the one path through
`optimize` that a decorated backend factory takes too.

Not reproduced: PipesHub's learned API-mode store (PipesHub-internal facts such as "needs the
Responses API", learned from provider errors), so reasoning settings follow the model name,
endpoint and entry alone. Deliberately different: together is langchain-openai's `ChatOpenAI` on
its endpoint (PipesHub has its own class); bedrock gets the access keys, not a prebuilt boto3
client; vertexAI without `serviceAccountJson` uses Application Default Credentials (PipesHub
refuses); a direct anthropic entry may name a `baseUrl` (the local simulator); the Claude rules
also know the Fable and Mythos families.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from langchain_core.language_models.chat_models import BaseChatModel

from optimization.dropin import optimized_factory

logger = logging.getLogger(__name__)

DEFAULT_LLM_TIMEOUT = 360.0
# PipesHub's output-token caps for Claude (aimodels.py); 4096 is also its Vertex AI cap.
MAX_OUTPUT_TOKENS = 4096
MAX_OUTPUT_TOKENS_CLAUDE_MODERN = 16384
MAX_OUTPUT_TOKENS_CLAUDE_4_5 = 64000
_CLAUDE_VERSION = re.compile(
    r"claude[-_]?(opus|sonnet|haiku|fable|mythos)[-_]?(\d+)(?:[-_.](\d+))?"
)
# Claude models newer than 4.6 whose id carries no version number.
_CLAUDE_UNVERSIONED_MODERN = ("claude-mythos-preview",)
_ANTHROPIC_EFFORTS = ("low", "medium", "high", "xhigh", "max")

# --- reasoning: which constructor argument a reasoning entry gets -------------------------
DEFAULT_REASONING_EFFORT = "high"  # a reasoning entry with no effort asked for
# PipesHub no longer lets a reasoning model turn reasoning off ("none" made models garble tool
# names), so "none" is raised to this before any provider mapping; hence only "max" needs one.
_REASONING_OFF_FLOOR = "low"
_OPENAI_FAMILY = frozenset(
    {"openAI", "azureOpenAI", "azureAI", "openAICompatible", "litellmProxy", "openRouter"}
)
# OpenAI itself (direct or on Azure) rejects reasoning_effort with tools on Chat Completions, so
# reasoning goes through the Responses API there; gateways only when they front OpenAI.
_RESPONSES_API_PROVIDERS = frozenset({"openAI", "azureOpenAI"})
_OPENAI_HOSTS = frozenset({"api.openai.com"})
# The platform's top tier "max": OpenAI calls it "xhigh", these providers document nothing above
# "high", and Anthropic and Fireworks accept "max" as is.
_HIGH_IS_TOP = ("minimax", "xai", "lmStudio", "gemini", "vertexAI", "ollama")
_MAX_EFFORT = {**dict.fromkeys(_OPENAI_FAMILY, "xhigh"), **dict.fromkeys(_HIGH_IS_TOP, "high")}
_REASONING_PROVIDERS = _OPENAI_FAMILY | {"anthropic", "fireworks", *_HIGH_IS_TOP}
# gpt-5 and gpt-5.x, alone or after a router prefix ("openai/gpt-5"); group 1 marks the
# -chat variants, which do not reason and take any temperature.
_GPT5_NAME = re.compile(r"(?:^|/)gpt-5(?:\.\d+)?(-chat)?(?:[-_]|$)", re.IGNORECASE)

# Bedrock's model family from a word in the model id, when the entry names none: the first word
# found wins (order matters), and PipesHub falls back to anthropic.
_BEDROCK_FAMILY_WORDS = {
    "mistral": "mistral", "claude": "anthropic", "anthropic": "anthropic", "llama": "meta",
    "meta": "meta", "titan": "amazon", "amazon": "amazon", "cohere": "cohere",
    "ai21": "ai21", "jamba": "ai21", "qwen": "qwen",
}  # fmt: skip

# provider id -> (module, class, pip package) for providers built through one LangChain class
_OPENAI_STYLE = ("langchain_openai", "ChatOpenAI", "langchain-openai")
_GOOGLE_GENAI = ("langchain_google_genai", "ChatGoogleGenerativeAI", "langchain-google-genai")
_CLASSES: dict[str, tuple[str, str, str]] = {
    "anthropic": ("langchain_anthropic", "ChatAnthropic", "langchain-anthropic"),
    "bedrock": ("langchain_aws", "ChatBedrock", "langchain-aws"),
    "azureOpenAI": ("langchain_openai", "AzureChatOpenAI", "langchain-openai"),
    "cohere": ("langchain_cohere", "ChatCohere", "langchain-cohere"),
    "fireworks": ("langchain_fireworks", "ChatFireworks", "langchain-fireworks"),
    "gemini": _GOOGLE_GENAI,
    "vertexAI": _GOOGLE_GENAI,  # PipesHub reaches Vertex AI through the google-genai client too
    "groq": ("langchain_groq", "ChatGroq", "langchain-groq"),
    "mistral": ("langchain_mistralai", "ChatMistralAI", "langchain-mistralai"),
    "ollama": ("langchain_ollama", "ChatOllama", "langchain-ollama"),
    "xai": ("langchain_xai", "ChatXAI", "langchain-xai"),
    "together": _OPENAI_STYLE,
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
VERTEX_AI_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


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


def _is_openai_reasoning_model(model_name: str) -> bool:
    match = _GPT5_NAME.search(model_name)
    return match is not None and match.group(1) is None


def _temperature(
    provider: str, configuration: Mapping[str, Any], config: Mapping[str, Any], model_name: str
) -> Any:
    # OpenAI's reasoning models accept only temperature 1. `isReasoning` alone proves that only
    # where the backend is OpenAI's own: gateways also serve reasoning models that take any value.
    if _is_openai_reasoning_model(model_name) or (
        provider in _RESPONSES_API_PROVIDERS and config.get("isReasoning")
    ):
        return 1
    return configuration.get("temperature", 0.2)


def _reasoning_kwargs(
    provider: str,
    config: Mapping[str, Any],
    model_name: str,
    reasoning_effort: str | None,
    base_url: str | None = None,
) -> dict[str, Any]:
    # Only for entries flagged `isReasoning`: LangChain refuses reasoning arguments for models
    # that do not reason. Each provider gets the argument and the effort names it accepts.
    if provider not in _REASONING_PROVIDERS or not config.get("isReasoning"):
        return {}
    effort = reasoning_effort or DEFAULT_REASONING_EFFORT
    if effort == "none":
        effort = _REASONING_OFF_FLOOR
    if provider == "anthropic":
        # Stricter than PipesHub, which forwards unknown names: Anthropic would reject them.
        return {"reasoning_effort": effort if effort in _ANTHROPIC_EFFORTS else "low"}
    if effort == "max":
        effort = _MAX_EFFORT.get(provider, effort)
    if provider == "ollama":
        return {"reasoning": effort}  # ChatOllama's `reasoning` is Ollama's native `think`
    host = urlparse(base_url).hostname if base_url else None
    if provider in _RESPONSES_API_PROVIDERS or (
        provider in _OPENAI_FAMILY
        and ((host or "").lower() in _OPENAI_HOSTS or _is_openai_reasoning_model(model_name))
    ):
        # No reasoning "summary": it needs a verified OpenAI organization; some gateways reject it.
        return {"reasoning": {"effort": effort}, "use_responses_api": True}
    return {"reasoning_effort": effort}


def _anthropic_kwargs(
    provider: str, model_name: str, config: Mapping[str, Any], reasoning_effort: str | None
) -> dict[str, Any]:
    configuration: Mapping[str, Any] = config["configuration"]
    kwargs: dict[str, Any] = {
        "model": model_name,
        "timeout": DEFAULT_LLM_TIMEOUT,
        "api_key": configuration.get("apiKey"),
    }
    if provider == "azureAI":
        # Claude on Azure AI Foundry: PipesHub honours maxTokens and the usual temperature rules
        # here, and leaves retries to the library default.
        kwargs["max_tokens"] = configuration.get("maxTokens") or anthropic_max_tokens(model_name)
        base_url = configuration.get("endpoint")
        temperature = _temperature(provider, configuration, config, model_name)
    else:
        # The direct path ignores the entry's maxTokens and temperature, as PipesHub does.
        kwargs["max_retries"] = 2
        kwargs["max_tokens"] = anthropic_max_tokens(model_name)
        # `baseUrl` is ours (the local simulator); ChatAnthropic reads ANTHROPIC_BASE_URL itself.
        base_url = configuration.get("baseUrl")
        temperature = 0.2
    if base_url:
        kwargs["base_url"] = base_url
    if anthropic_supports_sampling(model_name):
        kwargs["temperature"] = temperature
    kwargs.update(_reasoning_kwargs("anthropic", config, model_name, reasoning_effort))
    return kwargs


def _bedrock_kwargs(configuration: Mapping[str, Any], model_name: str) -> dict[str, Any]:
    # The entry's own choice of family ("other" means its `customProvider`), else a guess.
    family = configuration.get("provider")
    if family == "other":
        family = configuration.get("customProvider")
    if not family:
        lowered = model_name.lower()
        words = (name for word, name in _BEDROCK_FAMILY_WORDS.items() if word in lowered)
        family = next(words, "anthropic")
    claude = family == "anthropic"
    kwargs: dict[str, Any] = {
        "model_id": model_name,
        "region_name": configuration.get("region"),
        "provider": family,
        # Anthropic models on Bedrock need max_tokens in the body (PipesHub's Claude cap).
        "model_kwargs": {"max_tokens": anthropic_max_tokens(model_name)} if claude else {},
        "beta_use_converse_api": True,
    }
    if not claude or anthropic_supports_sampling(model_name):
        kwargs["temperature"] = 0.2
    # Explicit keys only as a pair; otherwise boto3's default chain (environment, ~/.aws, instance
    # or task role), as PipesHub. ChatBedrock builds its boto3 client from these itself.
    key_id = str(configuration.get("awsAccessKeyId") or "").strip()
    secret = str(configuration.get("awsAccessSecretKey") or "").strip()
    if key_id and secret:
        kwargs["aws_access_key_id"] = key_id
        kwargs["aws_secret_access_key"] = secret
    return kwargs


def _vertex_ai_credentials(service_account: str | Mapping[str, Any]) -> Any:
    # Imported here so that only entries with a service-account key need google-auth.
    from google.oauth2 import service_account as google_service_account

    info = json.loads(service_account) if isinstance(service_account, str) else service_account
    return google_service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        dict(info), scopes=list(VERTEX_AI_SCOPES)
    )


def base_model_kwargs(
    provider: str,
    config: Mapping[str, Any],
    model_name: str,
    reasoning_effort: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Which LangChain class (by provider id in `_CLASSES`) and which kwargs PipesHub builds.

    Pure: nothing is imported or constructed, so every provider's parameters are checkable
    without its package installed (Vertex AI's `credentials` object is added by
    `build_base_model`). Raises ValueError for an unknown provider, and for together without an
    endpoint or Vertex AI without a project.
    """
    configuration: Mapping[str, Any] = config["configuration"]
    if provider == "anthropic" or (provider == "azureAI" and "claude" in model_name):
        # Claude on Azure AI Foundry speaks Anthropic's API: langchain-openai is not needed.
        return "anthropic", _anthropic_kwargs(provider, model_name, config, reasoning_effort)
    if provider not in _CLASSES:
        raise ValueError(f"Unsupported provider type: {provider}")
    base_url = OPENROUTER_BASE_URL if provider == "openRouter" else configuration.get("endpoint")
    reasoning = _reasoning_kwargs(provider, config, model_name, reasoning_effort, base_url)
    common: dict[str, Any] = {"model": model_name, "timeout": DEFAULT_LLM_TIMEOUT}
    kwargs: dict[str, Any]
    if provider == "azureOpenAI":
        kwargs = {
            "api_key": configuration.get("apiKey"),
            "azure_endpoint": configuration.get("endpoint"),
            "api_version": configuration.get("apiVersion", "2025-04-01-preview"),
            "temperature": _temperature(provider, configuration, config, model_name),
            "timeout": DEFAULT_LLM_TIMEOUT,
            "azure_deployment": configuration.get("deploymentName"),
            "stream_usage": True,
            **reasoning,
        }
    elif provider in _OPENAI_FAMILY or provider == "lmStudio":  # ChatOpenAI
        api_key = configuration.get("apiKey") or ("lm-studio" if provider == "lmStudio" else None)
        kwargs = {
            **common,
            "temperature": _temperature(provider, configuration, config, model_name),
            "api_key": api_key,
            "stream_usage": True,
            **reasoning,
        }
        if provider == "openAI":  # OpenAI's own endpoint: PipesHub passes no base URL
            kwargs["organization"] = configuration.get("organizationId")
        else:
            kwargs["base_url"] = base_url
    elif provider == "minimax":
        # MiniMax accepts temperatures in (0, 1] only.
        temperature = max(0.01, min(1.0, float(configuration.get("temperature", 0.2))))
        kwargs = {
            **common,
            "temperature": temperature,
            "api_key": configuration.get("apiKey"),
            "base_url": MINIMAX_BASE_URL,
            "stream_usage": True,
            **reasoning,
        }
    elif provider == "bedrock":
        kwargs = _bedrock_kwargs(configuration, model_name)
    elif provider == "vertexAI":
        if not configuration.get("project"):
            # Without a project ChatGoogleGenerativeAI would quietly use the Gemini API instead.
            raise ValueError("Provider 'vertexAI' configuration is missing a 'project'.")
        kwargs = {
            **common,
            "project": configuration["project"],
            "location": configuration.get("location") or "us-central1",
            "temperature": _temperature(provider, configuration, config, model_name),
            "max_tokens": MAX_OUTPUT_TOKENS,
            "max_retries": 2,
            **reasoning,
        }
    elif provider == "gemini":
        kwargs = {
            **common,
            "temperature": 0.2,
            "max_tokens": None,
            "max_retries": 2,
            "google_api_key": configuration.get("apiKey"),
            **reasoning,
        }
    elif provider == "cohere":
        kwargs = {**common, "temperature": 0.2, "cohere_api_key": configuration.get("apiKey")}
    elif provider == "ollama":
        kwargs = {
            **common,
            "temperature": configuration.get("temperature", 0.2),
            "base_url": configuration.get(
                "endpoint", os.environ.get("OLLAMA_API_URL", "http://localhost:11434")
            ),
            # Off unless the entry reasons, so <think> text never leaks into plain answers.
            "reasoning": reasoning.get("reasoning", False),
            # Ollama's default repeat penalty (>1) corrupts tool-call JSON, which repeats tokens.
            "repeat_penalty": 1.0,
            "top_p": 1.0,
        }
        if config.get("contextLength"):
            kwargs["num_ctx"] = int(config["contextLength"])
    else:  # fireworks, groq, mistral, together, xai
        kwargs = {**common, "temperature": 0.2, "api_key": configuration.get("apiKey"), **reasoning}
        if provider == "together":
            # Together speaks OpenAI's protocol: ChatOpenAI on its endpoint stands in for
            # PipesHub's own class for it.
            if not configuration.get("endpoint"):
                raise ValueError("Provider 'together' configuration is missing an 'endpoint'.")
            kwargs["base_url"] = configuration["endpoint"]
    return provider, kwargs


def build_base_model(
    provider: str,
    config: Mapping[str, Any],
    model_name: str,
    reasoning_effort: str | None = None,
) -> BaseChatModel:
    """The plain LangChain chat model for `provider`, built as PipesHub builds it.

    Adds what `base_model_kwargs` leaves out because it needs an object: Vertex AI's
    credentials from the entry's `serviceAccountJson` (none: Application Default Credentials).
    """
    class_key, kwargs = base_model_kwargs(provider, config, model_name, reasoning_effort)
    cls = _load_class(class_key)
    service_account = config["configuration"].get("serviceAccountJson")
    if provider == "vertexAI" and service_account:
        kwargs["credentials"] = _vertex_ai_credentials(service_account)
    return cls(**kwargs)


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
    "anthropic_supports_sampling",
    "base_model_kwargs",
    "build_base_model",
    "build_generator_model",
    "get_generator_model",
    "resolve_model_name",
]
