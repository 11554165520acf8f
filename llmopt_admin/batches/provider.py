"""The provider as a worker task sees it: an event loop, the SDK and the batch client for one run,
and which provider errors are worth trying again later."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anthropic
from django.conf import settings

from llmopt_admin.batches.models import (
    BatchJob,
)
from llmopt_admin.batches.state_store import DjangoBatchStateStore
from optimization.batch_client import AnthropicBatchClient

logger = logging.getLogger(__name__)


T = TypeVar("T")


class Provider:
    """An event loop plus the SDK and batch clients for one task run; close() releases both."""

    def __init__(self, job: BatchJob, positions: dict[str, int] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.sdk = anthropic.AsyncAnthropic(
            base_url=settings.ANTHROPIC_BASE_URL,
            api_key=settings.ANTHROPIC_API_KEY,
            max_retries=settings.LLMOPT_ANTHROPIC_MAX_RETRIES,
        )
        self.batches = AnthropicBatchClient(
            self.sdk,
            model=job.model,
            poll_initial=settings.LLMOPT_BATCH_POLL_INITIAL,
            poll_max=settings.LLMOPT_BATCH_POLL_MAX,
            state_store=DjangoBatchStateStore(job, positions=positions),
        )

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def chunks(
        self,
        source: AsyncIterator[T],
        size: int,
        *,
        then: Callable[[list[T]], Any] | None = None,
    ) -> Iterator[Any]:
        """Drive an async iterator from sync code a list of `size` items at a time (passed
        through `then`, which must not touch the database, when given).

        The loop runs in a thread of its own and fetches (and prepares) the next chunk while
        the caller stores this one: the caller's database waits release the GIL, so download
        and decoding overlap them. Database writes stay on the caller's thread and
        connection. An error of the source is raised here, at the chunk it broke.
        """
        iterator = aiter(source)
        running: list[asyncio.Task[Any]] = []

        async def take() -> Any:
            task = asyncio.current_task()
            if task is not None:
                running[:] = [task]
            items = [item async for item in _up_to(iterator, size)]
            if not items:
                return None  # the end
            return items if then is None else then(items)

        thread = threading.Thread(
            target=self.loop.run_forever, name="batch-results-download", daemon=True
        )
        thread.start()
        pending = asyncio.run_coroutine_threadsafe(take(), self.loop)
        try:
            while (chunk := pending.result()) is not None:
                pending = asyncio.run_coroutine_threadsafe(take(), self.loop)
                yield chunk
        finally:
            if not pending.done():  # the caller stopped early: abandon the chunk in flight
                pending.cancel()
                for task in running:
                    self.loop.call_soon_threadsafe(task.cancel)
                concurrent.futures.wait([pending])
            self.loop.call_soon_threadsafe(self.loop.stop)
            thread.join()

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.sdk.close())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


async def _up_to(iterator: AsyncIterator[T], size: int) -> AsyncIterator[T]:
    for _ in range(size):
        try:
            yield await anext(iterator)
        except StopAsyncIteration:
            return


@contextmanager
def provider_for(job: BatchJob, positions: dict[str, int] | None = None) -> Iterator[Provider]:
    provider = Provider(job, positions)
    try:
        yield provider
    finally:
        provider.close()


def is_transient(exc: BaseException | None) -> bool:
    """Worth retrying later: connection trouble, 408/409/429, 5xx and 529 overloaded."""
    if isinstance(exc, anthropic.APIConnectionError):
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code >= 500 or exc.status_code in (408, 409, 429)
    return False
