"""Validation of batch requests in Anthropic's Message Batches format (and, for jobs that
target OpenAI or Azure OpenAI, in Chat Completions format: `openai_validation`; for Gemini
jobs in Gemini's request format: `gemini_validation`).

One request is `{"custom_id": ..., "params": {"model": ..., "max_tokens": ..., "messages": [...]}}`.
The same checks serve the JSONL upload (errors name the line) and the API (errors name the index).
Nothing is submitted unless every request passes, and whatever passes can be stored (PostgreSQL's
text and jsonb refuse NUL, lone surrogates, NaN and infinities) and asks nothing of the provider
that can be known to fail up front: a model it does not serve, more output than the model
writes, a parameter the Messages API does not have.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from json import JSONDecodeError
from typing import Any

from llmopt_admin.batches.gemini_validation import (
    gemini_models,
    gemini_param_rule_errors,
    known_gemini_model,
)
from llmopt_admin.batches.models import BatchJob, JobProvider
from llmopt_admin.batches.openai_validation import (
    is_int,
    known_model,
    known_openai_model,
    openai_models,
    openai_param_rule_errors,
)
from llmopt_admin.savings.validation import (
    Unreadable,
    field_name,
    json_body_load,
    shown,
    text_problem,
)
from optimization.capabilities import CLAUDE_MAX_OUTPUT_CEILING, claude_max_output_tokens
from optimization.pricing import known_models

CUSTOM_ID_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # fullmatch: "$" would let "a\n" in
CUSTOM_ID_RULE = "is required: 1-64 characters, letters, digits, '-' or '_'"
MAX_REQUESTS = 100_000  # Anthropic's per-batch limit; larger jobs belong in several uploads
MAX_REPORTED_ERRORS = 50
ROLES = ("user", "assistant")
TOP_LEVEL_KEYS = frozenset({"custom_id", "params"})
MAX_MODEL_LENGTH = BatchJob._meta.get_field("model").max_length or 0
MAX_PARAMS_DEPTH = 32  # tool schemas nest; nothing legitimate nests this deep
# The sampling parameters: dropped from the SDK's request type (anthropic 2.x), still taken by
# the API from the models that sample (langchain-anthropic sends them in the body).
SAMPLING_PARAMS = frozenset({"temperature", "top_p", "top_k"})
_INT64 = 2**63


@dataclass(frozen=True)
class RequestError:
    """One problem: where (line number or index), which field (dotted path), and what is wrong."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.where}, {self.field}: {self.message}"
            if self.field
            else f"{self.where}: {self.message}"
        )


class Unparsable(str):
    """Stands for an input line that did not parse; its text is the reason."""


@dataclass(frozen=True)
class ValidRequest:
    custom_id: str
    params: dict[str, Any]


class RequestsInvalid(ValueError):
    """At least one request is bad; `errors` lists the first ones, `total` counts them all."""

    def __init__(self, errors: list[RequestError], total: int) -> None:
        self.errors = errors
        self.total = total
        shown = errors[:3]
        more = f" (and {total - len(shown)} more)" if total > len(shown) else ""
        super().__init__("; ".join(str(e) for e in shown) + more)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _content_errors(content: Any, field: str) -> Iterator[tuple[str, str]]:
    if isinstance(content, str):
        if not content.strip():
            yield field, "must not be empty"
        return
    if not isinstance(content, list) or not content:
        yield field, "must be a non-empty string or a non-empty list of content blocks"
        return
    for k, block in enumerate(content):
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            yield f"{field}[{k}]", 'must be an object with a "type"'


@cache
def message_params() -> frozenset[str]:
    """Every top-level parameter of a Messages API request, as the Anthropic SDK types it."""
    # Loaded on first use, not at import: starting the web app never waits for the SDK.
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming as Params

    return Params.__required_keys__ | Params.__optional_keys__ | SAMPLING_PARAMS


def _known_model(model: str) -> bool:
    """A Claude model, spelled as Anthropic's API spells it, that the price table knows."""
    return known_model(model, ("claude-",))


def _model_errors(model: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(model, str) or not model.strip():
        yield "params.model", "is required and must be a non-empty string"
    elif len(model) > MAX_MODEL_LENGTH:
        yield "params.model", f"must be at most {MAX_MODEL_LENGTH} characters (got {len(model)})"
    elif text_problem(model) is None and not _known_model(model):
        claude = ", ".join(name for name in known_models() if name.startswith("claude-"))
        yield (
            "params.model",
            f"is not a model this admin knows: {shown(model)}. This job goes to Anthropic; use "
            f"one of {claude} (dated ids too), or add the model to the price table "
            "(LLMOPT_PRICES_FILE); for an OpenAI model set the job's provider to openAI or "
            "azureOpenAI",
        )


def _max_tokens_errors(max_tokens: Any, model: Any) -> Iterator[tuple[str, str]]:
    if not is_int(max_tokens) or max_tokens < 1:
        yield "params.max_tokens", "is required and must be a positive integer"
        return
    limit = claude_max_output_tokens(model) if isinstance(model, str) else None
    if limit is not None and max_tokens > limit:
        yield "params.max_tokens", f"must be at most {limit}, the most {model} writes"
    elif max_tokens > CLAUDE_MAX_OUTPUT_CEILING:
        yield (
            "params.max_tokens",
            f"must be at most {CLAUDE_MAX_OUTPUT_CEILING}, the most any Claude model writes",
        )


def _child(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{field_name(key)}"


def json_value_errors(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field, message) for each part of `value` that cannot be stored or sent as JSON: text
    (or a key) with NUL or a lone surrogate, NaN or an infinity, an integer beyond 64 bits,
    nesting deeper than MAX_PARAMS_DEPTH, a part the body reader could not read."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            if problem := text_problem(item):
                yield where, problem
        elif item is None or isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if not -_INT64 <= item < _INT64:
                yield where, "must be an integer within 64 bits"
        elif isinstance(item, float):
            if not math.isfinite(item):
                yield where, f"must be a finite number (got {item!r})"
        elif isinstance(item, Unreadable):
            yield where, item.reason
        elif isinstance(item, dict | list):
            if depth >= MAX_PARAMS_DEPTH:
                yield where, f"is nested more than {MAX_PARAMS_DEPTH} levels deep"
                continue
            children: list[tuple[Any, str, int]] = []
            if isinstance(item, dict):
                for key, child in item.items():
                    if problem := text_problem(key):
                        yield _child(where, key), f"is a key that {problem}"
                    else:
                        children.append((child, _child(where, key), depth + 1))
            else:
                children = [(child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item)]
            stack.extend(reversed(children))  # reported in document order
        else:
            yield where, f"is not a JSON value (got {type(item).__name__})"


def job_model_errors(provider: Any, model: Any) -> Iterator[tuple[str, str]]:
    """(field, message) for a job's own `provider` and `model` (`model` None: not given).

    `model`, when given, is the model the job is priced and listed as, and the one requests
    without `params.model` use. Azure OpenAI jobs need it: their requests name deployments,
    and it says which OpenAI model is behind them.
    """
    if provider not in JobProvider.values:
        yield "provider", f"must be one of {', '.join(JobProvider.values)}"
        return
    if model is None:
        if provider == JobProvider.AZURE_OPENAI:
            yield (
                "model",
                "is required for Azure OpenAI: the OpenAI model behind the deployments "
                f"(one of {openai_models()}), which prices the job",
            )
        elif provider == JobProvider.GEMINI:
            yield (
                "model",
                f"is required for Gemini: the model every request runs on (one of "
                f"{gemini_models()})",
            )
        return
    if not isinstance(model, str) or not model.strip():
        yield "model", "must be a non-empty string"
    elif provider == JobProvider.GEMINI:
        if not known_gemini_model(model):
            yield (
                "model",
                f"is not a Gemini model this admin knows: {shown(model)}; use one of "
                f"{gemini_models()}",
            )
    elif provider == JobProvider.ANTHROPIC:
        if not _known_model(model):
            yield "model", f"is not a Claude model this admin knows: {shown(model)}"
    elif not known_openai_model(model):
        yield (
            "model",
            f"is not an OpenAI model this admin knows: {shown(model)}; use one of "
            f"{openai_models()}",
        )


def params_errors(params: Any, provider: str = JobProvider.ANTHROPIC) -> Iterator[tuple[str, str]]:
    """(field, message) for each rule `params` breaks, in the format of `provider`'s batch
    API; field paths start with `params.`."""
    if not isinstance(params, Mapping):
        yield "params", "must be an object"
        return
    # What cannot be stored or read first: a rule broken by the same value says less.
    reported: set[str] = set()
    for field, message in json_value_errors(params, "params"):
        reported.add(field)
        yield field, message
    if provider == JobProvider.ANTHROPIC:
        rules = _param_rule_errors(params)
    elif provider == JobProvider.GEMINI:
        rules = gemini_param_rule_errors(params)
    else:
        rules = openai_param_rule_errors(params, provider=provider)
    for field, message in rules:
        if field not in reported:
            yield field, message


def _param_rule_errors(params: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    known = message_params()
    for key in sorted(set(params) - known):
        yield _child("params", key), "is not a Messages API parameter"
    model = params.get("model")
    yield from _model_errors(model)
    yield from _max_tokens_errors(params.get("max_tokens"), model)
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages:
        yield "params.messages", "is required and must be a non-empty list"
    else:
        for i, message in enumerate(messages):
            where = f"params.messages[{i}]"
            if not isinstance(message, Mapping):
                yield where, "must be an object with role and content"
                continue
            if message.get("role") not in ROLES:
                yield f"{where}.role", f"must be one of {', '.join(ROLES)}"
            yield from _content_errors(message.get("content"), f"{where}.content")
    if "system" in params:
        system = params["system"]
        if not isinstance(system, str):
            yield from _content_errors(system, "params.system")
    if "temperature" in params and (
        not _is_number(params["temperature"]) or not 0 <= params["temperature"] <= 1
    ):
        yield "params.temperature", "must be a number from 0 to 1"
    if "top_p" in params and (not _is_number(params["top_p"]) or not 0 <= params["top_p"] <= 1):
        yield "params.top_p", "must be a number from 0 to 1"
    if "top_k" in params and (not is_int(params["top_k"]) or params["top_k"] < 0):
        yield "params.top_k", "must be a non-negative integer"
    if "stop_sequences" in params and (
        not isinstance(params["stop_sequences"], list)
        or not all(isinstance(s, str) for s in params["stop_sequences"])
    ):
        yield "params.stop_sequences", "must be a list of strings"
    if params.get("stream"):
        yield "params.stream", "is not supported in a batch (leave it out)"


def request_errors(item: Any, provider: str = JobProvider.ANTHROPIC) -> Iterator[tuple[str, str]]:
    """(field, message) for each rule one batch request to `provider` breaks."""
    if isinstance(item, Unreadable):
        yield "", item.reason
        return
    if not isinstance(item, Mapping):
        yield "", 'must be a JSON object {"custom_id": ..., "params": {...}}'
        return
    for key in sorted(set(item) - TOP_LEVEL_KEYS):
        yield field_name(key), 'is not allowed (only "custom_id" and "params")'
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not CUSTOM_ID_PATTERN.fullmatch(custom_id):
        yield "custom_id", CUSTOM_ID_RULE
    if "params" not in item:
        yield "params", "is required"
    else:
        yield from params_errors(item["params"], provider)


def validate_requests(
    items: Iterable[tuple[str, Any]],
    *,
    provider: str = JobProvider.ANTHROPIC,
    model: str | None = None,
) -> list[ValidRequest]:
    """Check `(where, request)` pairs in `provider`'s format; every request valid or
    RequestsInvalid naming each fault.

    custom_ids must be unique across all requests, and there may be at most MAX_REQUESTS.
    `model` (the job's, already checked by `job_model_errors`) fills a request's missing
    `params.model` (not Gemini's: the job's model runs all of them).
    """
    valid: list[ValidRequest] = []
    errors: list[RequestError] = []
    total = 0
    first_seen: dict[str, str] = {}

    def add(where: str, field: str, message: str) -> None:
        nonlocal total
        total += 1
        if len(errors) < MAX_REPORTED_ERRORS:
            errors.append(RequestError(where, field, message))

    count = 0
    for where, item in items:
        count += 1
        if count > MAX_REQUESTS:
            add(where, "", f"too many requests: at most {MAX_REQUESTS} per job")
            break
        if isinstance(item, Unparsable):
            add(where, "", str(item))
            continue
        if model is not None and provider != JobProvider.GEMINI and isinstance(item, Mapping):
            item = _with_model(item, model)  # a Gemini batch names its model once, not per request
        bad = False
        for field, message in request_errors(item, provider):
            bad = True
            add(where, field, message)
        if bad:
            continue
        custom_id = item["custom_id"]
        if custom_id in first_seen:
            add(where, "custom_id", f"{custom_id!r} repeats {first_seen[custom_id]}")
            continue
        first_seen[custom_id] = where
        valid.append(ValidRequest(custom_id=custom_id, params=dict(item["params"])))
    if count == 0:
        add("input", "", "has no requests")
    if total:
        raise RequestsInvalid(errors, total)
    return valid


def _with_model(item: Mapping[str, Any], model: str) -> Mapping[str, Any]:
    """`item` with `model` as its params' model when they name none (a copy: input stays)."""
    params = item.get("params")
    if isinstance(params, Mapping) and "model" not in params:
        return {**item, "params": {**params, "model": model}}
    return item


def jsonl_items(lines: Iterable[bytes | str]) -> Iterator[tuple[str, Any]]:
    """Parse JSONL into `("line N", object)` pairs. Blank lines are skipped; a line that is not
    UTF-8 JSON becomes an Unparsable carrying the parser's message (parts too deep or too long
    to read are left to the request checks, which name their field)."""
    for number, raw in enumerate(lines, start=1):
        where = f"line {number}"
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            yield where, Unparsable("is not valid UTF-8")
            continue
        if not text.strip():
            continue
        try:
            item = json_body_load(text)
        except ValueError as exc:
            reason = f"{exc.msg} at column {exc.colno}" if isinstance(exc, JSONDecodeError) else exc
            yield where, Unparsable(f"is not valid JSON ({reason})")
            continue
        yield where, item


def validate_jsonl(
    lines: Iterable[bytes | str],
    *,
    provider: str = JobProvider.ANTHROPIC,
    model: str | None = None,
) -> list[ValidRequest]:
    """Validate a JSONL file line by line (see validate_requests)."""
    return validate_requests(jsonl_items(lines), provider=provider, model=model)
