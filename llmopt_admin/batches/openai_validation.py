"""Validation of batch request params in OpenAI's Chat Completions format, for jobs that
target OpenAI or Azure OpenAI.

A request is `{"custom_id": ..., "params": {"model": ..., "messages": [...], ...}}`; `params`
is the body of the batch line (its `url` is the chat completions endpoint). For OpenAI,
`params.model` is a model the price table knows; for Azure OpenAI it names the deployment,
and the job's `model` (checked by `validation.job_model_errors`) says which OpenAI model prices it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from llmopt_admin.batches.models import BatchJob, JobProvider
from llmopt_admin.savings.validation import field_name, shown, text_problem
from optimization.pricing import PriceNotFound, known_models, price_for

OPENAI_MODEL_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-")
OPENAI_ROLES = ("system", "developer", "user", "assistant", "tool")
MAX_MODEL_LENGTH = BatchJob._meta.get_field("model").max_length or 0


@cache
def chat_completion_params() -> frozenset[str]:
    """Every top-level parameter of a Chat Completions request, as the openai SDK types it."""
    # Loaded on first use, not at import: starting the web app never waits for the SDK.
    from openai.types.chat.completion_create_params import (
        CompletionCreateParamsNonStreaming as Params,
    )

    return Params.__required_keys__ | Params.__optional_keys__ | {"stream"}


def known_model(model: str, prefixes: tuple[str, ...]) -> bool:
    """A model whose name starts with one of the provider's `prefixes` (as its API spells
    it) and that the price table knows."""
    if not model.startswith(prefixes):
        return False
    try:
        price_for(model)
    except PriceNotFound:
        return False
    return True


def known_openai_model(model: str) -> bool:
    """An OpenAI model, spelled as OpenAI's API spells it, that the price table knows."""
    return known_model(model, OPENAI_MODEL_PREFIXES)


def openai_models() -> str:
    """The OpenAI models the price table knows, for messages."""
    return ", ".join(name for name in known_models() if name.startswith(OPENAI_MODEL_PREFIXES))


def is_int(value: Any) -> bool:
    """An integer that is not a bool (JSON has no such distinction; Python does)."""
    return isinstance(value, int) and not isinstance(value, bool)


def in_range(value: Any, low: float, high: float) -> bool:
    """A number (not a bool) from `low` to `high`."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return number and low <= value <= high


def _model_errors(model: Any, provider: str) -> Iterator[tuple[str, str]]:
    if not isinstance(model, str) or not model.strip():
        what = "the deployment name" if provider == JobProvider.AZURE_OPENAI else "the model"
        yield "params.model", f"is required: {what}, a non-empty string"
    elif len(model) > MAX_MODEL_LENGTH:
        yield "params.model", f"must be at most {MAX_MODEL_LENGTH} characters (got {len(model)})"
    elif (
        provider == JobProvider.OPENAI
        and text_problem(model) is None
        and not known_openai_model(model)
    ):
        yield (
            "params.model",
            f"is not an OpenAI model this admin knows: {shown(model)}. Use one of "
            f"{openai_models()} (dated ids too), or add the model to the price table "
            "(LLMOPT_PRICES_FILE)",
        )


def _message_errors(messages: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(messages, list) or not messages:
        yield "params.messages", "is required and must be a non-empty list"
        return
    for i, message in enumerate(messages):
        where = f"params.messages[{i}]"
        if not isinstance(message, Mapping):
            yield where, "must be an object with role and content"
            continue
        role = message.get("role")
        if role not in OPENAI_ROLES:
            yield f"{where}.role", f"must be one of {', '.join(OPENAI_ROLES)}"
        content = message.get("content")
        if content is None and role == "assistant" and message.get("tool_calls"):
            continue  # an assistant turn that only calls tools
        if isinstance(content, str):
            if not content.strip():
                yield f"{where}.content", "must not be empty"
        elif not isinstance(content, list) or not content:
            yield f"{where}.content", "must be a non-empty string or a non-empty list of parts"


def openai_param_rule_errors(
    params: Mapping[str, Any], *, provider: str
) -> Iterator[tuple[str, str]]:
    """(field, message) for each Chat Completions rule `params` breaks."""
    for key in sorted(set(params) - chat_completion_params()):
        yield f"params.{field_name(key)}", "is not a Chat Completions API parameter"
    yield from _model_errors(params.get("model"), provider)
    yield from _message_errors(params.get("messages"))
    for key in ("max_tokens", "max_completion_tokens"):
        if key in params and (not is_int(params[key]) or params[key] < 1):
            yield f"params.{key}", "must be a positive integer"
    if "temperature" in params and not in_range(params["temperature"], 0, 2):
        yield "params.temperature", "must be a number from 0 to 2"
    if "top_p" in params and not in_range(params["top_p"], 0, 1):
        yield "params.top_p", "must be a number from 0 to 1"
    if params.get("stream"):
        yield "params.stream", "is not supported in a batch (leave it out)"
