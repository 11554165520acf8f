"""Retrying a request without cache breakpoints or hints, when the provider refused them.

`fallbackToStandard` (default on): a request the provider rejects because of its
`cache_control` markers (Anthropic) or its prompt cache params (OpenAI's `prompt_cache_key`,
`prompt_cache_retention`) is sent once more without any, the caller's own included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anthropic
from langchain_core.messages import BaseMessage

from optimization.cache_manager import MARKER

# The call params through which a provider that caches on its own is steered (OpenAI's).
CACHE_HINTS = ("prompt_cache_key", "prompt_cache_retention")


def is_cache_error(exc: BaseException) -> bool:
    """A request the provider refused because of its cache markers or cache params."""
    if isinstance(exc, anthropic.BadRequestError):
        return "cache_control" in str(exc)
    # openai is optional here: its 400 is recognised by status and wording.
    return getattr(exc, "status_code", None) == 400 and "prompt_cache" in str(exc)


def strip_block(block: Any) -> Any:
    if isinstance(block, str):
        return block.replace(MARKER, "")
    if not isinstance(block, Mapping):
        return block
    stripped = {key: value for key, value in block.items() if key != "cache_control"}
    if isinstance(stripped.get("text"), str):
        stripped["text"] = stripped["text"].replace(MARKER, "")
    return stripped


def without_cache_markers(
    messages: Sequence[BaseMessage], kwargs: Mapping[str, Any]
) -> tuple[list[BaseMessage], dict[str, Any]]:
    """Copies of `messages` and call kwargs without any cache breakpoint or hint, the
    caller's included.

    Used to retry a request the provider refused because of its breakpoints.
    """
    cleaned: list[BaseMessage] = []
    for message in messages:
        content = message.content
        if isinstance(content, str):
            new_content: Any = content.replace(MARKER, "")
        else:
            new_content = [strip_block(block) for block in content]
        cleaned.append(message.model_copy(update={"content": new_content}))
    new_kwargs = {key: value for key, value in kwargs.items() if key not in CACHE_HINTS}
    tools = new_kwargs.get("tools")
    if isinstance(tools, Sequence):
        new_kwargs["tools"] = [strip_block(tool) for tool in tools]
    return cleaned, new_kwargs


__all__ = ["CACHE_HINTS", "is_cache_error", "strip_block", "without_cache_markers"]
