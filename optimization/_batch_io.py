"""The I/O behind the batch clients' flows, done by the sync or the async SDK client.

A flow is a generator that yields each provider call or wait it needs (an `Effect`) and is sent
the answer back, or has the call's exception thrown in at that point, as httpx's auth flows
are. Every decision (what to send, what a failure means, when to wait) is written once in the
flows (`optimization.batch_create`, `optimization._batch_core`); `run_flow` performs the
effects with a sync SDK client, `arun_flow` with an async one, by default Anthropic's. This
module is the only place that knows which calls those are for Anthropic; another provider's
client passes its own `perform` (`optimization._openai_batch_io` does for OpenAI, sync and
async).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from contextlib import closing
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import anthropic
from anthropic.types.messages import MessageBatch

from optimization.batch_wire import BatchBody

T = TypeVar("T")
C = TypeVar("C")

LIST_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class CreateBatch:
    """Create a batch of `body`, sent once (the SDK's own retries off).

    `intent_id` is the state store's intent for it: a provider whose batches carry metadata
    records it there, so a batch whose create response was lost can be told by it.
    """

    body: Any
    intent_id: str = ""


@dataclass(frozen=True, slots=True)
class ListBatches:
    """The newest page of the provider's batches."""


@dataclass(frozen=True, slots=True)
class NextPage:
    """The page after `page` (a page the SDK client of the same flow returned)."""

    page: Any


@dataclass(frozen=True, slots=True)
class RetrieveBatch:
    batch_id: str


@dataclass(frozen=True, slots=True)
class CancelBatch:
    batch_id: str


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Effect = CreateBatch | ListBatches | NextPage | RetrieveBatch | CancelBatch | Sleep
Flow = Generator[Effect, Any, T]


SyncPerform = Callable[[Effect, C, Callable[[float], None]], Any]


def run_flow(
    flow: Flow[T],
    client: C,
    sleep: Callable[[float], None],
    perform: SyncPerform[C] | None = None,
) -> T:
    """Drive `flow` to its end with a sync SDK client; its return value.

    `perform` carries out one effect with `client` (default: the Anthropic SDK's calls).
    """
    carry_out: Any = perform or _perform
    answer: Any = None
    error: Exception | None = None
    with closing(flow):
        while True:
            try:
                effect = flow.send(answer) if error is None else flow.throw(error)
            except StopIteration as stop:
                return cast(T, stop.value)
            answer, error = None, None
            try:
                answer = carry_out(effect, client, sleep)
            except Exception as exc:  # the flow decides what it means
                error = exc


AsyncPerform = Callable[[Effect, C, Callable[[float], Awaitable[None]]], Awaitable[Any]]


async def arun_flow(
    flow: Flow[T],
    client: C,
    sleep: Callable[[float], Awaitable[None]],
    perform: AsyncPerform[C] | None = None,
) -> T:
    """Drive `flow` to its end with an async SDK client; its return value.

    `perform` carries out one effect with `client` (default: the Anthropic SDK's calls).
    """
    carry_out: Any = perform or _aperform
    answer: Any = None
    error: Exception | None = None
    with closing(flow):
        while True:
            try:
                effect = flow.send(answer) if error is None else flow.throw(error)
            except StopIteration as stop:
                return cast(T, stop.value)
            answer, error = None, None
            try:
                answer = await carry_out(effect, client, sleep)
            except Exception as exc:  # the flow decides what it means
                error = exc


def _perform(effect: Effect, client: anthropic.Anthropic, sleep: Callable[[float], None]) -> Any:
    match effect:
        case CreateBatch(body=body):
            return client.with_options(max_retries=0).post(
                "/v1/messages/batches",
                cast_to=MessageBatch,
                content=body.for_sync_client(),
                options=_create_options(body),
            )
        case ListBatches():
            return client.messages.batches.list(limit=LIST_PAGE_SIZE)
        case NextPage(page=page):
            return page.get_next_page()
        case RetrieveBatch(batch_id=batch_id):
            return client.messages.batches.retrieve(batch_id)
        case CancelBatch(batch_id=batch_id):
            return client.messages.batches.cancel(batch_id)
        case Sleep(seconds=seconds):
            return sleep(seconds)


async def _aperform(
    effect: Effect,
    client: anthropic.AsyncAnthropic,
    sleep: Callable[[float], Awaitable[None]],
) -> Any:
    match effect:
        case CreateBatch(body=body):
            return await client.with_options(max_retries=0).post(
                "/v1/messages/batches",
                cast_to=MessageBatch,
                content=body,
                options=_create_options(body),
            )
        case ListBatches():
            return await client.messages.batches.list(limit=LIST_PAGE_SIZE)
        case NextPage(page=page):
            return await page.get_next_page()
        case RetrieveBatch(batch_id=batch_id):
            return await client.messages.batches.retrieve(batch_id)
        case CancelBatch(batch_id=batch_id):
            return await client.messages.batches.cancel(batch_id)
        case Sleep(seconds=seconds):
            return await sleep(seconds)


def _create_options(body: BatchBody) -> Any:
    headers = {"Content-Type": "application/json", "Content-Length": str(body.size)}
    return {"headers": headers}


__all__ = [
    "AsyncPerform",
    "CancelBatch",
    "CreateBatch",
    "Effect",
    "Flow",
    "ListBatches",
    "NextPage",
    "RetrieveBatch",
    "Sleep",
    "SyncPerform",
    "arun_flow",
    "run_flow",
]
