"""Validation of batch requests in Anthropic's Message Batches format.

One request is `{"custom_id": ..., "params": {"model": ..., "max_tokens": ..., "messages": [...]}}`.
The same checks serve the JSONL upload (errors name the line) and the API (errors name the index).
Nothing is submitted unless every request passes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

CUSTOM_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_REQUESTS = 100_000  # Anthropic's per-batch limit; larger jobs belong in several uploads
MAX_REPORTED_ERRORS = 50
ROLES = ("user", "assistant")
TOP_LEVEL_KEYS = frozenset({"custom_id", "params"})


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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


def params_errors(params: Any) -> Iterator[tuple[str, str]]:
    """(field, message) for each rule `params` breaks; field paths start with `params.`."""
    if not isinstance(params, Mapping):
        yield "params", "must be an object"
        return
    model = params.get("model")
    if not isinstance(model, str) or not model.strip():
        yield "params.model", "is required and must be a non-empty string"
    max_tokens = params.get("max_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        yield "params.max_tokens", "is required and must be a positive integer"
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
    if "top_k" in params and (not _is_int(params["top_k"]) or params["top_k"] < 0):
        yield "params.top_k", "must be a non-negative integer"
    if "stop_sequences" in params and (
        not isinstance(params["stop_sequences"], list)
        or not all(isinstance(s, str) for s in params["stop_sequences"])
    ):
        yield "params.stop_sequences", "must be a list of strings"
    if params.get("stream"):
        yield "params.stream", "is not supported in a batch (leave it out)"


def request_errors(item: Any) -> Iterator[tuple[str, str]]:
    """(field, message) for each rule one batch request breaks."""
    if not isinstance(item, Mapping):
        yield "", 'must be a JSON object {"custom_id": ..., "params": {...}}'
        return
    for key in sorted(set(item) - TOP_LEVEL_KEYS):
        yield key, 'is not allowed (only "custom_id" and "params")'
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not CUSTOM_ID_PATTERN.match(custom_id):
        yield "custom_id", "is required: 1-64 characters, letters, digits, '-' or '_'"
    if "params" not in item:
        yield "params", "is required"
    else:
        yield from params_errors(item["params"])


def validate_requests(items: Iterable[tuple[str, Any]]) -> list[ValidRequest]:
    """Check `(where, request)` pairs; every request valid or RequestsInvalid naming each fault.

    custom_ids must be unique across all requests, and there may be at most MAX_REQUESTS.
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
        bad = False
        for field, message in request_errors(item):
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


def jsonl_items(lines: Iterable[bytes | str]) -> Iterator[tuple[str, Any]]:
    """Parse JSONL into `("line N", object)` pairs. Blank lines are skipped; a line that is not
    UTF-8 JSON becomes an Unparsable carrying the parser's message."""
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
            yield where, json.loads(text)
        except json.JSONDecodeError as exc:
            yield where, Unparsable(f"is not valid JSON ({exc.msg} at column {exc.colno})")


def validate_jsonl(lines: Iterable[bytes | str]) -> list[ValidRequest]:
    """Validate a JSONL file line by line (see validate_requests)."""
    return validate_requests(jsonl_items(lines))
