"""What is wrong with a stored `aiconfigs` document or value, in words an operator can act on.

Pages, the kill switch and the API read documents someone else wrote (the backend, a script, the
store's own UI), so anything may be there. These checks name the part that is wrong and how, so
each caller can show it and carry on with the rest of the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optimization.migration import json_kind

# No valid optimization value comes near these sizes. Beyond them the core's parsers, which
# convert with int()/float() and quote the value in their messages, raise ValueError or
# OverflowError instead of rejecting the value (a 5000-digit string, a 400-digit number).
MAX_VALUE_TEXT = 200
MAX_VALUE_BITS = 64
MAX_VALUE_ITEMS = 50
MAX_VALUE_DEPTH = 4


def body_problem(body: Any) -> str | None:
    """Why a document body cannot be read as an `aiconfigs` document, or None."""
    if isinstance(body, Mapping):
        return None
    return f"the document is {json_kind(body)}, not an object"


def entry_list_problem(body: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    """Why `body[name]` is not a list of model entries (a missing list only when `required`)."""
    if name not in body:
        return f"'{name}' is missing: there is no list of LLM entries" if required else None
    if isinstance(body[name], list):
        return None
    return f"'{name}' is {json_kind(body[name])}, not a list"


def entry_problem(path: str, entry: Any) -> str | None:
    """Why the entry at `path` (`llm[0]`) has no configuration object to edit, or None."""
    if not isinstance(entry, Mapping):
        return f"{path} is {json_kind(entry)}, not an object"
    if "configuration" not in entry:
        return f"{path} has no configuration"
    configuration = entry["configuration"]
    if not isinstance(configuration, Mapping):
        return f"{path}.configuration is {json_kind(configuration)}, not an object"
    return None


def oversized_value(name: str, value: Any) -> str | None:
    """Why `value` is too large for field `name` to even be checked, or None."""
    reason = _oversized(value, depth=0)
    return None if reason is None else f"{name} is far too large to be a valid value ({reason})"


def _oversized(value: Any, *, depth: int) -> str | None:
    if isinstance(value, str) and len(value) > MAX_VALUE_TEXT:
        return f"{len(value)} characters; no valid value has more than {MAX_VALUE_TEXT}"
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_VALUE_BITS:
            return f"a number of {value.bit_length()} bits"
        return None
    if isinstance(value, list | tuple | Mapping):
        if depth >= MAX_VALUE_DEPTH:
            return f"nested more than {MAX_VALUE_DEPTH} levels deep"
        if len(value) > MAX_VALUE_ITEMS:
            return f"{len(value)} items; no valid value has more than {MAX_VALUE_ITEMS}"
        items = list(value.items()) if isinstance(value, Mapping) else list(enumerate(value))
        for key, item in items:
            found = _oversized(key, depth=depth + 1) or _oversized(item, depth=depth + 1)
            if found:
                return found
    return None


__all__ = [
    "MAX_VALUE_TEXT",
    "body_problem",
    "entry_list_problem",
    "entry_problem",
    "oversized_value",
]
