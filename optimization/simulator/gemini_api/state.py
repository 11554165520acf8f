"""The Gemini side of one simulator instance: implicit cache, cachedContents, batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optimization.simulator.caching import PromptCache
from optimization.simulator.clock import Clock
from optimization.simulator.gemini_api.answer import GeminiAnswerer
from optimization.simulator.gemini_api.batches import GeminiBatches
from optimization.simulator.gemini_api.cached_contents import CachedContentStore
from optimization.simulator.gemini_api.files import FileStore
from optimization.simulator.gemini_api.request import parse_request
from optimization.simulator.ledger import Ledger
from optimization.simulator.settings import SimulatorSettings


class GeminiState:
    """What the Gemini routes of one simulator share (kept across a restart keeping state)."""

    def __init__(
        self,
        settings: SimulatorSettings,
        clock: Clock,
        *,
        make_id: Callable[[str, int], str],
        ledger: Ledger,
    ) -> None:
        self.clock = clock
        # Every prompt position may end a cached prefix, so the lookback must reach them all.
        self.cache = PromptCache(lookback=10**9)
        self.cached_contents = CachedContentStore()
        self.files = FileStore()
        self.answerer = GeminiAnswerer(self.cache, self.cached_contents)
        self.batches = GeminiBatches(
            settings,
            clock,
            answer=self.answer_body,
            make_id=make_id,
            ledger=ledger,
            files=self.files,
        )

    def answer_body(self, body: Any, model: str, now: float, response_id: str) -> dict[str, Any]:
        """Validate a generateContent body for `model` and answer it at simulated time `now`."""
        request = parse_request(body, model)
        return self.answerer.answer(request, now=now, response_id=response_id)
