"""A fast token estimate shared by the cache planner and the simulator.

Anthropic does not publish its tokenizer; ~4 characters a token is its own rule of thumb for
English text. Callers needing exact figures plug in a counter (count_tokens) instead.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """Estimated token count of `text` (at least 1 for non-empty text)."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
