"""Validation of batch request params in Gemini's request format, for jobs that target Gemini.

A request is `{"custom_id": ..., "params": {"contents": [...], "systemInstruction": {...},
"generationConfig": {...}, ...}}`; `params` is the REST `GenerateContentRequest` of one inline
batch request (ai.google.dev "Batch API"). The model is the job's (`validation.job_model_errors`
checks it): a Gemini batch runs every request on the model it is created for, so `params`
names none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from llmopt_admin.batches.openai_validation import in_range, is_int, known_model
from llmopt_admin.savings.validation import field_name
from optimization.pricing import known_models

GEMINI_MODEL_PREFIXES = ("gemini-",)
GEMINI_ROLES = ("user", "model")
# The top-level fields of a GenerateContentRequest in its REST (camelCase) spelling.
REQUEST_FIELDS = frozenset(
    {
        "contents",
        "systemInstruction",
        "generationConfig",
        "safetySettings",
        "tools",
        "toolConfig",
        "cachedContent",
    }
)
# What a part holds: exactly one of these (ai.google.dev "Content" reference).
PART_DATA = frozenset(
    {
        "text",
        "inlineData",
        "fileData",
        "functionCall",
        "functionResponse",
        "executableCode",
        "codeExecutionResult",
    }
)


def known_gemini_model(model: str) -> bool:
    """A Gemini model, spelled as Gemini's API spells it, that the price table knows."""
    return known_model(model.removeprefix("models/"), GEMINI_MODEL_PREFIXES)


def gemini_models() -> str:
    """The Gemini models the price table knows, for messages."""
    return ", ".join(name for name in known_models() if name.startswith(GEMINI_MODEL_PREFIXES))


def _parts_errors(parts: Any, where: str) -> Iterator[tuple[str, str]]:
    if not isinstance(parts, list) or not parts:
        yield where, "is required and must be a non-empty list of parts"
        return
    for i, part in enumerate(parts):
        at = f"{where}[{i}]"
        if not isinstance(part, Mapping):
            yield at, 'must be an object such as {"text": "..."}'
            continue
        data = PART_DATA & set(part)
        if len(data) != 1:
            yield at, f"must hold exactly one of {', '.join(sorted(PART_DATA))}"
        elif "text" in part and (not isinstance(part["text"], str) or not part["text"].strip()):
            yield f"{at}.text", "must be a non-empty string"


def _contents_errors(contents: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(contents, list) or not contents:
        yield "params.contents", "is required and must be a non-empty list of contents"
        return
    for i, content in enumerate(contents):
        where = f"params.contents[{i}]"
        if not isinstance(content, Mapping):
            yield where, "must be an object with role and parts"
            continue
        if content.get("role", "user") not in GEMINI_ROLES:
            yield f"{where}.role", f"must be one of {', '.join(GEMINI_ROLES)}"
        yield from _parts_errors(content.get("parts"), f"{where}.parts")


def _generation_config_errors(config: Any) -> Iterator[tuple[str, str]]:
    where = "params.generationConfig"
    if not isinstance(config, Mapping):
        yield where, "must be an object"
        return
    for key in ("maxOutputTokens", "candidateCount", "topK"):
        if key in config and (not is_int(config[key]) or config[key] < 1):
            yield f"{where}.{key}", "must be a positive integer"
    if "temperature" in config and not in_range(config["temperature"], 0, 2):
        yield f"{where}.temperature", "must be a number from 0 to 2"
    if "topP" in config and not in_range(config["topP"], 0, 1):
        yield f"{where}.topP", "must be a number from 0 to 1"
    stops = config.get("stopSequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(stop, str) for stop in stops)
    ):
        yield f"{where}.stopSequences", "must be a list of strings"


def gemini_param_rule_errors(params: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, message) for each Gemini request rule `params` breaks."""
    for key in sorted(set(params) - REQUEST_FIELDS):
        if key == "model":
            yield "params.model", "is not allowed: the job's model runs every request"
        else:
            yield (
                f"params.{field_name(key)}",
                (
                    "is not a GenerateContentRequest field (REST spelling: "
                    f"{', '.join(sorted(REQUEST_FIELDS))})"
                ),
            )
    yield from _contents_errors(params.get("contents"))
    if "systemInstruction" in params:
        system = params["systemInstruction"]
        if not isinstance(system, Mapping):
            yield "params.systemInstruction", "must be an object with parts"
        else:
            yield from _parts_errors(system.get("parts"), "params.systemInstruction.parts")
    if "generationConfig" in params:
        yield from _generation_config_errors(params["generationConfig"])
    for key in ("safetySettings", "tools"):
        if key in params and not isinstance(params[key], list):
            yield f"params.{key}", "must be a list"
    if "cachedContent" in params and not isinstance(params["cachedContent"], str):
        yield "params.cachedContent", "must be a cached content's name (cachedContents/...)"
