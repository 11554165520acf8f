"""Retrying a request without cache breakpoints, when the provider refused them.

`fallbackToStandard` (default on): a request the provider rejects because of its
`cache_control` markers is sent once more without any, the caller's own included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anthropic
from langchain_core.messages import BaseMessage

from optimization.cache_manager import MARKER


def is_cache_error(exc: BaseException) -> bool:
    """A request the provider refused because of its cache_control markers."""
    return isinstance(exc, anthropic.BadRequestError) and "cache_control" in str(exc)


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
    """Copies of `messages` and call kwargs without any cache breakpoint, the caller's included.

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
    new_kwargs = dict(kwargs)
    tools = new_kwargs.get("tools")
    if isinstance(tools, Sequence):
        new_kwargs["tools"] = [strip_block(tool) for tool in tools]
    return cleaned, new_kwargs


__all__ = ["is_cache_error", "strip_block", "without_cache_markers"]
