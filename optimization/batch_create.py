"""Create a Message Batch at most once per group of requests, whatever fails.

`POST /v1/messages/batches` is not idempotent: when its response is lost, a blind retry makes a
second batch and the provider runs and bills every request twice. So a group is sent as:

1. Its intent (custom_ids, metadata, when the create was first attempted) is saved in the state
   store before the call.
2. The call is made without the SDK's own retries.
3. Refused (429 rate limited, 529 overloaded: nothing was created): wait (the server's
   `retry-after`, else exponential backoff) and try again, up to `attempts` calls. Any other
   4xx but 408/409: the intent is dropped and the error raised.
4. Outcome unknown (connection lost, timeout, 408, 409, 5xx): reconcile. List the provider's
   batches created since the intent and adopt the oldest one that matches it (`CreationRules`:
   for Anthropic, whose batches carry no metadata, exactly this many requests; for a provider
   whose batches carry metadata, the intent id written there) and that the store does not
   already hold; only when none is listed after the reconcile delays is the group sent again.
5. After a crash, the next `submit` reconciles every open intent before it sends anything: a
   listed batch is adopted, an intent older than `in_flight_grace` that matches nothing is
   dropped, and a younger one (another worker's create may still be running) stops the submit
   with `BatchInFlight`, to be tried again later.

The steps are written once, as flows (`optimization._batch_io`): `BatchCreator` runs them with
the async SDK client, `SyncBatchCreator` with the sync one.

Residual risk, stated (Anthropic only): two groups with the same request count whose creates
both lose their response within the same window could swap batches; results are then matched
by custom_id.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import anthropic
from anthropic.types.messages import MessageBatch

from optimization._anthropic_adapter import sdk_would_retry, server_retry_after
from optimization._batch_io import (
    CreateBatch,
    Flow,
    ListBatches,
    NextPage,
    Sleep,
    arun_flow,
    run_flow,
)
from optimization.batch_state import BatchStateStore, SubmitIntent
from optimization.batch_wire import BatchBody
from optimization.exceptions import BatchError

logger = logging.getLogger(__name__)

# The provider's clock and ours may disagree: a batch listed as created up to this many seconds
# before the intent still counts as a candidate.
CLOCK_SKEW = 600.0
# How long after its first attempt an unmatched intent may still be a create in flight.
IN_FLIGHT_GRACE = 900.0
# Listing pages looked at when reconciling (newest first; 100 batches a page).
MAX_PAGES = 20
_AMBIGUOUS_STATUSES = frozenset({408, 409})


class BatchInFlight(BatchError):
    """A create for these requests may still be running at the provider: try again later."""


@dataclass(frozen=True)
class CreationRules:
    """What the create-once flow needs to know of one provider's SDK and batches.

    `api_error` is the SDK's base error, `status_error` its error with an HTTP status
    (`status_code`, `response`), `connection_error` a request whose outcome is unknown;
    `should_retry` whether a poll rides an error out (the SDK's own retry rule),
    `retry_after` the wait a refusal asked for (None: not said); `refused_statuses` the
    statuses that mean nothing was created. `matches(batch, intent)` tells whether a listed
    batch may be the one an intent created (the store not holding it yet is checked apart);
    `created_at(batch)` is its creation time in Unix seconds. `listed_newest_first`: the
    provider documents its list as newest first, so the first batch older than the intent
    ends the search (otherwise every page, up to `MAX_PAGES`, is looked through).
    """

    api_error: type[Exception]
    status_error: type[Exception]
    connection_error: type[Exception]
    should_retry: Callable[[BaseException], bool]
    retry_after: Callable[[Exception], float | None]
    refused_statuses: frozenset[int]
    matches: Callable[[Any, SubmitIntent], bool]
    created_at: Callable[[Any], float]
    listed_newest_first: bool = True


class BatchCreation:
    """What creating batches for one state store decides, as flows any SDK client can run.

    `create` and `reconcile_open` return flows; `BatchCreator` and `SyncBatchCreator` run them
    (so does a batch client's `submit`, inside its own flow).
    """

    def __init__(
        self,
        state_store: BatchStateStore,
        *,
        attempts: int = 5,
        reconcile_delays: tuple[float, ...] = (0.0, 1.0, 3.0),
        in_flight_grace: float = IN_FLIGHT_GRACE,
        wall_clock: Callable[[], float] = time.time,
        rules: CreationRules | None = None,
    ) -> None:
        self.state_store = state_store
        self.rules = rules or ANTHROPIC_RULES
        self.attempts = max(1, attempts)
        self.reconcile_delays = reconcile_delays
        self.in_flight_grace = in_flight_grace
        self._now = wall_clock

    def create(
        self, body: Any, custom_ids: Mapping[str, int], meta: Mapping[str, Any]
    ) -> Flow[Any]:
        """The batch for this group: created once, or found after a lost response.

        `body` is whatever the client's `CreateBatch` performer sends (a `BatchBody` for
        Anthropic); the batch is the SDK's object for it.
        """
        rules = self.rules
        intent = SubmitIntent(
            f"intent-{uuid.uuid4().hex}", dict(custom_ids), dict(meta), self._now()
        )
        self.state_store.save_intent(intent)
        last_error: Exception | None = None
        maybe_created = False
        for attempt in range(self.attempts):
            try:
                batch = yield CreateBatch(body, intent.intent_id)
            except rules.status_error as exc:
                last_error = exc
                if _status(exc) in rules.refused_statuses:
                    if attempt + 1 < self.attempts:
                        yield Sleep(_retry_after(rules, exc, attempt))
                    continue
                if not _ambiguous(exc):
                    self.state_store.resolve_intent(intent.intent_id, None)
                    raise
            except rules.connection_error as exc:  # timeouts included
                last_error = exc
            else:
                self.state_store.resolve_intent(intent.intent_id, batch.id)
                return batch
            maybe_created = True
            logger.warning("creating a batch: outcome unknown (%s); reconciling", last_error)
            found = yield from self._find(intent, self.reconcile_delays)
            if found is not None:
                return found
        if not maybe_created:  # every attempt was refused outright: nothing exists
            self.state_store.resolve_intent(intent.intent_id, None)
        raise BatchError(
            f"creating a batch failed {self.attempts} times: {last_error}",
            positions=sorted(custom_ids.values()),
        ) from last_error

    def reconcile_open(self) -> Flow[list[Any]]:
        """Settle the intents an earlier attempt left open; the batches adopted.

        Raises BatchInFlight when an intent matches nothing yet but is too young to rule out.
        """
        adopted: list[Any] = []
        for intent in self.state_store.list_intents():
            found = yield from self._find(intent, (0.0,))
            if found is not None:
                adopted.append(found)
            elif self._now() - intent.not_before >= self.in_flight_grace:
                logger.info("intent %s matches no batch: it was never created", intent.intent_id)
                self.state_store.resolve_intent(intent.intent_id, None)
            else:
                raise BatchInFlight(
                    f"a batch of {len(intent.custom_ids)} requests may still be being created "
                    f"(intent {intent.intent_id}); trying again later",
                    positions=sorted(intent.custom_ids.values()),
                )
        return adopted

    def _find(self, intent: SubmitIntent, delays: tuple[float, ...]) -> Flow[Any | None]:
        """The provider's batch for `intent`, adopted into the store; None when not listed."""
        for delay in delays:
            if delay:
                yield Sleep(delay)
            try:
                batch = yield from self._listed_match(intent)
            except self.rules.api_error as exc:
                logger.warning("listing batches to reconcile failed: %s", exc)
                continue
            if batch is not None:
                logger.warning(
                    "batch %s was created although its response was lost: adopted", batch.id
                )
                self.state_store.resolve_intent(intent.intent_id, batch.id)
                return batch
        return None

    def _listed_match(self, intent: SubmitIntent) -> Flow[Any | None]:
        earliest = intent.not_before - CLOCK_SKEW
        created_at, matches = self.rules.created_at, self.rules.matches
        candidates: list[Any] = []
        page = yield ListBatches()
        for _ in range(MAX_PAGES):
            for batch in page.data:
                if created_at(batch) < earliest:
                    if self.rules.listed_newest_first:
                        return _oldest(candidates, created_at)
                    continue
                if matches(batch, intent) and self.state_store.load(batch.id) is None:
                    candidates.append(batch)
            if not page.has_next_page():
                break
            page = yield NextPage(page)
        return _oldest(candidates, created_at)


class BatchCreator:
    """Creates batches with an `anthropic.AsyncAnthropic`, each group at most once.

    `options` are `BatchCreation`'s (attempts, reconcile_delays, in_flight_grace, wall_clock).
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        state_store: BatchStateStore,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        **options: Any,
    ) -> None:
        self.client = client
        self.creation = BatchCreation(state_store, **options)
        self._sleep = sleep

    async def create(
        self, body: BatchBody, custom_ids: Mapping[str, int], meta: Mapping[str, Any]
    ) -> MessageBatch:
        """The batch for this group: created once, or found after a lost response."""
        return await arun_flow(
            self.creation.create(body, custom_ids, meta), self.client, self._sleep
        )

    async def reconcile_open(self) -> list[MessageBatch]:
        """Settle the intents an earlier attempt left open; the batches adopted.

        Raises BatchInFlight when an intent matches nothing yet but is too young to rule out.
        """
        return await arun_flow(self.creation.reconcile_open(), self.client, self._sleep)


class SyncBatchCreator:
    """Creates batches with an `anthropic.Anthropic`, each group at most once.

    `options` are `BatchCreation`'s (attempts, reconcile_delays, in_flight_grace, wall_clock).
    """

    def __init__(
        self,
        client: anthropic.Anthropic,
        state_store: BatchStateStore,
        *,
        sleep: Callable[[float], None] = time.sleep,
        **options: Any,
    ) -> None:
        self.client = client
        self.creation = BatchCreation(state_store, **options)
        self._sleep = sleep

    def create(
        self, body: BatchBody, custom_ids: Mapping[str, int], meta: Mapping[str, Any]
    ) -> MessageBatch:
        """The batch for this group: created once, or found after a lost response."""
        batch: MessageBatch = run_flow(
            self.creation.create(body, custom_ids, meta), self.client, self._sleep
        )
        return batch

    def reconcile_open(self) -> list[MessageBatch]:
        """Settle the intents an earlier attempt left open; the batches adopted.

        Raises BatchInFlight when an intent matches nothing yet but is too young to rule out.
        """
        return run_flow(self.creation.reconcile_open(), self.client, self._sleep)


def _created(batch: MessageBatch) -> float:
    created = batch.created_at
    return created.timestamp() if isinstance(created, datetime) else 0.0


def _request_total(batch: MessageBatch) -> int:
    counts = batch.request_counts
    return counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired


def _same_size(batch: MessageBatch, intent: SubmitIntent) -> bool:
    """Message Batches carry no metadata: a batch of the intent's size may be its batch."""
    return _request_total(batch) == len(intent.custom_ids)


ANTHROPIC_RULES = CreationRules(
    api_error=anthropic.APIError,
    status_error=anthropic.APIStatusError,
    connection_error=anthropic.APIConnectionError,
    should_retry=sdk_would_retry,
    retry_after=lambda exc: server_retry_after(cast(anthropic.APIStatusError, exc)),
    refused_statuses=frozenset({429, 529}),  # the provider said no before doing anything
    matches=_same_size,
    created_at=_created,
)


def _oldest(candidates: list[Any], created_at: Callable[[Any], float]) -> Any | None:
    return min(candidates, key=created_at) if candidates else None


def _status(exc: Exception) -> int:
    status: int = getattr(exc, "status_code", 0)
    return status


def _ambiguous(exc: Exception) -> bool:
    """The batch may or may not exist. Not the SDK's retry rule: that asks whether sending
    again could help (and obeys `x-should-retry`); this asks whether anything was made."""
    return _status(exc) >= 500 or _status(exc) in _AMBIGUOUS_STATUSES


def _retry_after(rules: CreationRules, exc: Exception, attempt: int) -> float:
    """The server's wait (read as the SDK reads it) up to a minute, else a backoff."""
    asked = rules.retry_after(exc)
    return min(30.0, 2.0**attempt) if asked is None else min(60.0, max(0.0, asked))


__all__ = [
    "ANTHROPIC_RULES",
    "BatchCreation",
    "BatchCreator",
    "BatchInFlight",
    "CreationRules",
    "SyncBatchCreator",
]
