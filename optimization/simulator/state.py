"""The state behind one simulator instance."""

from __future__ import annotations

import hashlib
import itertools
import secrets
import threading
from collections.abc import Mapping
from typing import Any

from optimization.simulator.batches import BatchStore
from optimization.simulator.caching import PromptCache
from optimization.simulator.clock import Clock
from optimization.simulator.faults import Faults
from optimization.simulator.gemini_api.state import GeminiState
from optimization.simulator.ledger import Counts, Ledger
from optimization.simulator.messages import MessageAnswerer
from optimization.simulator.openai_api.store import OpenAIState
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.validation import MessagesRequest, parse_messages_request


class Simulator:
    """Settings, clock, prompt cache, batches, faults, ledger and request counter of one app;
    `openai` holds what the OpenAI and Azure OpenAI routes serve, `gemini` what the Gemini
    routes serve.

    `ledger` and `predecessors` let a restarted simulator keep counting what the instances
    it replaced billed (see `successor`).
    """

    def __init__(
        self,
        settings: SimulatorSettings,
        clock: Clock,
        *,
        ledger: Ledger | None = None,
        predecessors: tuple[Simulator, ...] = (),
    ) -> None:
        self.settings = settings
        self.clock = clock
        # Ids hash this random nonce, so a restarted simulator with the same seed never hands
        # out an id an earlier instance did; fault draws do not hash it (they stay seeded).
        self.instance = secrets.token_hex(8)
        self.ledger = ledger or Ledger()
        self.predecessors = predecessors
        self.cache = PromptCache(lookback=settings.cache_lookback_blocks)
        self.answerer = MessageAnswerer(self.cache)
        self.batches = BatchStore(
            settings, clock, answer=self.answer_body, make_id=self.make_id, ledger=self.ledger
        )
        self._faults = settings.faults
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self.openai = OpenAIState(
            settings,
            clock,
            make_id=self.make_id,
            next_number=self.next_number,
            ledger=self.ledger,
        )
        self.gemini = GeminiState(settings, clock, make_id=self.make_id, ledger=self.ledger)

    @property
    def faults(self) -> Faults:
        """The instance-wide faults (`x-simulator-faults` headers override them per request)."""
        return self._faults

    def set_faults(self, faults: Faults | Mapping[str, float]) -> Faults:
        """Replace the instance-wide faults while the simulator runs; returns the new ones.

        A mapping names the faults to turn on (`{"lose_response": 1}`); the others are off.
        Raises ValueError on an unknown name or a value out of range.
        """
        self._faults = faults if isinstance(faults, Faults) else Faults.from_mapping(faults)
        return self._faults

    def counts(self) -> Counts:
        """How many times each request was sent and billed, by this instance and its
        predecessors; every batch is brought up to date first, so billing is current."""
        for simulator in (*self.predecessors, self):
            simulator.batches.list()
            simulator.openai.batches.list()
            simulator.gemini.batches.store.list()
        return self.ledger.snapshot()

    def successor(self, *, keep_counts: bool = True) -> Simulator:
        """A fresh simulator (no batches, empty cache, new ids, `settings.faults`) on the
        same settings and clock, as after a restart that lost all state.

        With `keep_counts` it shares this one's ledger, and its `counts()` keeps advancing
        the batches this one holds: the provider would still process and bill them.
        """
        if not keep_counts:
            return Simulator(self.settings, self.clock)
        return Simulator(
            self.settings,
            self.clock,
            ledger=self.ledger,
            predecessors=(*self.predecessors, self),
        )

    def next_number(self) -> int:
        """A sequence number for the next request (ids and fault draws derive from it)."""
        with self._lock:
            return next(self._counter)

    def make_id(self, prefix: str, number: int) -> str:
        """An id such as `msg_…`, `req_…` or `msgbatch_…` for sequence `number`, unique to
        this instance (it hashes the instance nonce)."""
        text = f"{self.instance}:{self.settings.seed}:{prefix}:{number}"
        return f"{prefix}_{hashlib.sha256(text.encode()).hexdigest()[:24]}"

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
