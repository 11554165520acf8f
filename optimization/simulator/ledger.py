"""How many times each request reached the simulator and was billed, to catch double payment.

Batch requests are counted twice over: per `custom_id` (what a test usually sends) and per
`params_hash` of the request's `params` (custom_ids legitimately repeat across batches, the
params of one logical request do not change). A request is *sent* each time a created batch
carries it, and *billed* each time a batch processes it to `succeeded` — Anthropic bills
succeeded batch requests only, never errored, canceled or expired ones.

/v1/messages answers are counted per `params_hash` of the request body: every answer the
simulator produced counts (a lost response or a broken stream included, as the provider
bills those too); requests refused with an error do not.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any


def params_hash(params: Any) -> str:
    """SHA-256 hex of the canonical JSON of `params` (sorted keys, no spaces).

    The key of `Counts.sent_by_params`, `Counts.billed_by_params` and `Counts.messages`: hash
    the `params` of a batch request, or the body of a /v1/messages request, to look it up.
    """
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Tally:
    """How many created batches carried a request (`sent`) and how many billed it."""

    sent: int = 0
    billed: int = 0


@dataclass(frozen=True)
class Counts:
    """A snapshot of the ledger (see the module docstring for what counts)."""

    batch_requests: dict[str, Tally]  # custom_id → tally
    sent_by_params: dict[str, int]  # params_hash(params) → batches that carried it
    billed_by_params: dict[str, int]  # params_hash(params) → times billed
    messages: dict[str, int]  # params_hash(body) → /v1/messages answers

    def as_json(self) -> dict[str, Any]:
        """The `GET /_simulator/counts` body."""
        return {
            "batch_requests": {
                custom_id: {"sent": tally.sent, "billed": tally.billed}
                for custom_id, tally in self.batch_requests.items()
            },
            "sent_by_params": dict(self.sent_by_params),
            "billed_by_params": dict(self.billed_by_params),
            "messages": dict(self.messages),
        }


class Ledger:
    """The running counts; shared by a simulator and its successors across restarts."""

    def __init__(self) -> None:
        self._sent: Counter[str] = Counter()
        self._billed: Counter[str] = Counter()
        self._sent_by_params: Counter[str] = Counter()
        self._billed_by_params: Counter[str] = Counter()
        self._messages: Counter[str] = Counter()
        self._lock = threading.Lock()

    def batch_sent(self, custom_id: str, params: Any) -> None:
        """A created batch carries this request."""
        key = params_hash(params)
        with self._lock:
            self._sent[custom_id] += 1
            self._sent_by_params[key] += 1

    def batch_billed(self, custom_id: str, params: Any) -> None:
        """A batch processed this request to `succeeded`."""
        key = params_hash(params)
        with self._lock:
            self._billed[custom_id] += 1
            self._billed_by_params[key] += 1

    def message_answered(self, body: Any) -> None:
        """/v1/messages produced an answer to `body`."""
        key = params_hash(body)
        with self._lock:
            self._messages[key] += 1

    def snapshot(self) -> Counts:
        """The counts so far."""
        with self._lock:
            return Counts(
                batch_requests={
                    custom_id: Tally(sent, self._billed[custom_id])
                    for custom_id, sent in self._sent.items()
                },
                sent_by_params=dict(self._sent_by_params),
                billed_by_params=dict(self._billed_by_params),
                messages=dict(self._messages),
            )
