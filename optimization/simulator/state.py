"""The state behind one simulator instance."""

from __future__ import annotations

import hashlib
import itertools
import threading
from typing import Any

from optimization.simulator.batches import BatchStore
from optimization.simulator.caching import PromptCache
from optimization.simulator.clock import Clock
from optimization.simulator.messages import MessageAnswerer
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.validation import MessagesRequest, parse_messages_request


class Simulator:
    """Settings, clock, prompt cache, batches and the request counter of one app instance."""

    def __init__(self, settings: SimulatorSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.cache = PromptCache(lookback=settings.cache_lookback_blocks)
        self.answerer = MessageAnswerer(self.cache)
        self.batches = BatchStore(settings, clock, answer=self.answer_body, make_id=self.make_id)
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def next_number(self) -> int:
        """A sequence number for the next request (ids and fault draws derive from it)."""
        with self._lock:
            return next(self._counter)

    def make_id(self, prefix: str, number: int) -> str:
        """A deterministic id such as `msg_…`, `req_…` or `msgbatch_…` for sequence `number`."""
        digest = hashlib.sha256(f"{self.settings.seed}:{prefix}:{number}".encode()).hexdigest()
        return f"{prefix}_{digest[:24]}"

    def parse(self, body: Any) -> MessagesRequest:
        """Validate a /v1/messages body under this instance's limits."""
        return parse_messages_request(
            body,
            max_output_tokens=self.settings.max_output_tokens,
            max_breakpoints=self.settings.max_cache_breakpoints,
        )

    def answer_body(self, body: Any, now: float, message_id: str, tier: str) -> dict[str, Any]:
        """Validate a /v1/messages body and answer it at simulated time `now`."""
        request = self.parse(body)
        return self.answerer.answer(request, now=now, message_id=message_id, service_tier=tier)
