"""Message Batches on simulated time.

A batch starts `batch_start_delay` simulated seconds after creation and then finishes one
request every `batch_seconds_per_request`, in a deterministic shuffle of the submitted order
(the results file lists them in that processing order, never the submitted one). State is
brought up to date whenever the batch is read, so nothing runs in the background: each
request is answered as /v1/messages would answer it at its completion time, prompt cache
included, with `service_tier: "batch"` in its usage (pricing is the client's job).

Like the real API, `params` are validated only when a request is processed: an invalid one
ends `errored` with an invalid_request_error. Unlike the real API (whose counts move only
once the whole batch ends), `request_counts` move as requests finish, so progress is visible.

Lifecycle: `in_progress` → (`canceling` after a cancel: no further request completes, and
`batch_cancel_delay` later the batch ends with its unfinished requests `canceled`) → `ended`.
A batch still unfinished at `expires_at` (created + `batch_expiry_seconds`, 24 hours) ends
then with its unfinished requests `expired`.
Faults chosen at creation (see `faults.Faults`): `batch_errored` / `batch_expired` pick
requests that end errored / never finish; `batch_never_ends` stalls the batch halfway until
it expires; `batch_cancel_midway` cancels it once half its requests are done. Every draw is
keyed by the batch's sequence number, never by its id: ids carry a per-instance random nonce
(so they never repeat across restarts) while the same seed and traffic give the same faults.

Each created request is counted as sent, and each succeeded one as billed, in the `Ledger`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from optimization.simulator.clock import Clock
from optimization.simulator.errors import ApiError, invalid
from optimization.simulator.faults import Faults, draw
from optimization.simulator.ledger import Ledger
from optimization.simulator.settings import SimulatorSettings

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
AnswerFn = Callable[[Any, float, str, str], dict[str, Any]]
MakeId = Callable[[str, int], str]
OUTCOMES = ("succeeded", "errored", "canceled", "expired")


def timestamp(seconds: float) -> str:
    """RFC 3339 UTC time, as the API writes it: `2026-01-01T00:00:00.000000Z`."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Item:
    custom_id: str
    params: Any
    due: float | None  # simulated completion time; None: never completes (stalled)
    errored: bool
    result: dict[str, Any] | None = None


@dataclass
class Batch:
    """One Message Batch and its requests, in processing order."""

    id: str
    number: int
    created_at: float
    expires_at: float
    items: list[_Item]
    cancel_initiated_at: float | None = None
    cancel_scheduled_at: float | None = None  # the batch_cancel_midway fault's cancel
    ended_at: float | None = None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    processed: int = 0

    @property
    def status(self) -> str:
        """`in_progress`, `canceling` or `ended`."""
        if self.ended_at is not None:
            return "ended"
        return "canceling" if self.cancel_initiated_at is not None else "in_progress"

    def as_json(self, base_url: str) -> dict[str, Any]:
        """The MessageBatch object."""
        unfinished = len(self.items) - sum(self.counts.values())
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": {"processing": unfinished, **self.counts},
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.expires_at),
            "ended_at": None if self.ended_at is None else timestamp(self.ended_at),
            "cancel_initiated_at": (
                None if self.cancel_initiated_at is None else timestamp(self.cancel_initiated_at)
            ),
            "archived_at": None,
            "results_url": (
                f"{base_url.rstrip('/')}/v1/messages/batches/{self.id}/results"
                if self.ended_at is not None
                else None
            ),
        }


def _check_requests(body: Any, settings: SimulatorSettings) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or "requests" not in body:
        raise invalid("requests: Field required")
    requests = body["requests"]
    if not isinstance(requests, list) or not requests:
        raise invalid("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > settings.batch_max_requests:
        raise invalid(
            f"requests: List should have at most {settings.batch_max_requests} items after "
            f"validation, not {len(requests)}"
        )
    seen: set[str] = set()
    for i, request in enumerate(requests):
        if not isinstance(request, dict):
            raise invalid(f"requests.{i}: Input should be a valid dictionary or object")
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            raise invalid(
                f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
            )
        if custom_id in seen:
            raise invalid(
                f"requests.{i}.custom_id: Duplicate custom_id {custom_id!r}; each request in a "
                "batch needs a unique custom_id"
            )
        seen.add(custom_id)
        if not isinstance(request.get("params"), dict):
            raise invalid(f"requests.{i}.params: Field required")
    return requests


class BatchStore:
    """The batches of one simulator instance."""

    def __init__(
        self,
        settings: SimulatorSettings,
        clock: Clock,
        *,
        answer: AnswerFn,
        make_id: MakeId,
        ledger: Ledger,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._answer = answer
        self._make_id = make_id
        self._ledger = ledger
        self._batches: dict[str, Batch] = {}
        self._lock = threading.RLock()

    def create(self, body: Any, *, number: int, faults: Faults) -> Batch:
        """Validate and store a new batch (400 on bad requests)."""
        requests = _check_requests(body, self.settings)
        now = self.clock.now()
        batch_id = self._make_id("msgbatch", number)
        seed, s = self.settings.seed, self.settings
        key = f"batch#{number}"  # what draws hash instead of the (random-nonced) id
        # A deterministic shuffle: sort by a seeded hash of each position.
        order = sorted(range(len(requests)), key=lambda i: draw(seed, key, "order", i))
        if len(order) > 1 and order == sorted(order):
            order = order[1:] + order[:1]
        stall_from = (
            len(order) // 2 if draw(seed, key, "never_ends") < faults.batch_never_ends else None
        )
        items = []
        for step, index in enumerate(order):
            request = requests[index]
            custom_id = request["custom_id"]
            stalled = (stall_from is not None and step >= stall_from) or (
                draw(seed, key, custom_id, "expired") < faults.batch_expired
            )
            items.append(
                _Item(
                    custom_id=custom_id,
                    params=request["params"],
                    due=None
                    if stalled
                    else now + s.batch_start_delay + (step + 1) * s.batch_seconds_per_request,
                    errored=draw(seed, key, custom_id, "errored") < faults.batch_errored,
                )
            )
        batch = Batch(
            id=batch_id,
            number=number,
            created_at=now,
            expires_at=now + s.batch_expiry_seconds,
            items=items,
        )
        if draw(seed, key, "cancel_midway") < faults.batch_cancel_midway:
            half = len(items) // 2
            batch.cancel_scheduled_at = (
                now + s.batch_start_delay + half * s.batch_seconds_per_request
            )
        with self._lock:
            self._batches[batch_id] = batch
        for item in items:
            self._ledger.batch_sent(item.custom_id, item.params)
        return batch

    def get(self, batch_id: str) -> Batch:
        """The batch, brought up to date; 404 when unknown or deleted."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise ApiError(404, f"No batch found with id {batch_id}.")
            self._advance(batch, self.clock.now())
            return batch

    def list(self) -> list[Batch]:
        """Every batch, newest first, brought up to date."""
        with self._lock:
            batches = sorted(self._batches.values(), key=lambda b: b.number, reverse=True)
            now = self.clock.now()
            for batch in batches:
                self._advance(batch, now)
            return batches

    def cancel(self, batch_id: str) -> Batch:
        """Start canceling (a no-op on a batch already canceling or ended)."""
        with self._lock:
            batch = self.get(batch_id)
            if batch.status == "in_progress":
                batch.cancel_initiated_at = self.clock.now()
            return batch

    def delete(self, batch_id: str, *, running_ok: bool = False) -> None:
        """Forget a batch; 400 while it is still processing unless `running_ok` (Gemini
        deletes a running batch's operation without canceling it)."""
        with self._lock:
            batch = self.get(batch_id)
            if batch.status != "ended" and not running_ok:
                raise invalid(
                    f"Batch {batch_id} cannot be deleted while it is {batch.status}; "
                    "cancel it and wait for it to end first."
                )
            del self._batches[batch_id]

    def results(self, batch_id: str) -> Iterator[bytes]:
        """The JSONL lines of an ended batch, in processing order; 400 before it ends."""
        batch = self.get(batch_id)
        if batch.status != "ended":
            raise invalid(f"Batch {batch_id} has not ended yet; its results are not available.")
        for item in batch.items:
            line = {"custom_id": item.custom_id, "result": item.result}
            yield (json.dumps(line, separators=(",", ":")) + "\n").encode()

    def _finish(self, batch: Batch, item: _Item, result: dict[str, Any]) -> None:
        item.result = result
        batch.counts[result["type"]] += 1
        if result["type"] == "succeeded":  # the only outcome Anthropic bills
            self._ledger.batch_billed(item.custom_id, item.params)

    def _process(self, batch: Batch, item: _Item, at: float) -> None:
        number = batch.number * 1_000_000 + batch.processed
        if item.errored:
            error = ApiError(500, "Internal server error")
            self._finish(batch, item, {"type": "errored", "error": error.body(None)})
            return
        try:
            if item.params.get("stream"):
                raise invalid("stream: Streaming is not supported for requests in a batch")
            message = self._answer(item.params, at, self._make_id("msg", number), "batch")
        except ApiError as error:
            self._finish(batch, item, {"type": "errored", "error": error.body(None)})
            return
        self._finish(batch, item, {"type": "succeeded", "message": message})

    def _advance(self, batch: Batch, now: float) -> None:
        if batch.ended_at is not None:
            return
        scheduled = batch.cancel_scheduled_at
        if scheduled is not None and batch.cancel_initiated_at is None and now >= scheduled:
            batch.cancel_initiated_at = scheduled
        # Nothing completes once a cancel has been asked for: unstarted requests are dropped.
        horizon = min(now, batch.expires_at, batch.cancel_initiated_at or now)
        while batch.processed < len(batch.items):
            item = batch.items[batch.processed]
            if item.due is not None:
                if item.due > horizon:
                    break
                self._process(batch, item, item.due)
            batch.processed += 1  # stalled items are passed over and stay unfinished
        pending = [item for item in batch.items if item.result is None]
        cancel_end = None
        if batch.cancel_initiated_at is not None:
            cancel_end = batch.cancel_initiated_at + self.settings.batch_cancel_delay
        if not pending:
            batch.ended_at = max(item.due or batch.created_at for item in batch.items)
        elif cancel_end is not None and now >= cancel_end:
            for item in pending:
                self._finish(batch, item, {"type": "canceled"})
            batch.ended_at = cancel_end
        elif now >= batch.expires_at:
            for item in pending:
                self._finish(batch, item, {"type": "expired"})
            batch.ended_at = batch.expires_at
