"""The OpenAI side of one simulator instance: its prompt cache, files and batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optimization.simulator.batches import BatchStore
from optimization.simulator.caching import PromptCache
from optimization.simulator.clock import Clock
from optimization.simulator.ledger import Ledger
from optimization.simulator.openai_api.batches import OpenAIBatchStore
from optimization.simulator.openai_api.chat import RETENTION_SECONDS, parse_chat_request
from optimization.simulator.openai_api.chat_answers import answer_chat
from optimization.simulator.openai_api.files import FileStore
from optimization.simulator.openai_api.responses import as_chat_body, as_response
from optimization.simulator.settings import SimulatorSettings

MakeId = Callable[[str, int], str]
# OpenAI's id spellings for what the shared machinery names in Anthropic's.
_PREFIXES = {"msg": "chatcmpl", "msgbatch": "batchrun"}


class OpenAIState:
    """Prompt cache, files and batches answering the OpenAI and Azure OpenAI routes.

    Held by the `Simulator` (so a restart keeping its state keeps them); ids come from its
    `make_id`, sequence numbers from its `next_number`, billing goes to its ledger.
    """

    def __init__(
        self,
        settings: SimulatorSettings,
        clock: Clock,
        *,
        make_id: MakeId,
        next_number: Callable[[], int],
        ledger: Ledger,
    ) -> None:
        self.clock = clock
        self._make_id = make_id
        self.cache = PromptCache(
            lookback=settings.cache_lookback_blocks, ttl_seconds=RETENTION_SECONDS
        )
        self.files = FileStore()
        chat_runner, responses_runner = (
            BatchStore(settings, clock, answer=answer, make_id=self.make_id, ledger=ledger)
            for answer in (self.answer_body, self.answer_response_body)
        )
        self.batches = OpenAIBatchStore(
            settings,
            clock,
            files=self.files,
            chat_runner=chat_runner,
            responses_runner=responses_runner,
            make_id=self.make_id,
            next_number=next_number,
        )

    def make_id(self, prefix: str, number: int) -> str:
        """An id as OpenAI spells it (`chatcmpl-…`, `batch_…`, `file-…`)."""
        prefix = _PREFIXES.get(prefix, prefix)
        made = self._make_id(prefix, number)
        return made.replace("_", "-", 1) if prefix in ("chatcmpl", "file") else made

    def answer_body(
        self, body: Any, now: float, completion_id: str, tier: str = "default"
    ) -> dict[str, Any]:
        """Validate a chat completions body and answer it at simulated time `now`."""
        request = parse_chat_request(body)
        return answer_chat(request, self.cache, now=now, completion_id=completion_id)

    def answer_response_body(
        self, body: Any, now: float, completion_id: str, tier: str = "default"
    ) -> dict[str, Any]:
        """Validate a Responses API body and answer it at simulated time `now`."""
        completion = self.answer_body(as_chat_body(body), now, completion_id, tier)
        return as_response(body, completion, "resp_" + completion_id.split("-", 1)[1])
