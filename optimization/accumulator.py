"""Collect single requests into batches: flush at `max_size` queued or `timeout` after the first.

The Phase 1 plan's recommended hybrid. Each caller awaits its own result; a flush that fails
fails only the callers it carried. `aclose()` flushes whatever is still queued and waits for
flushes in flight. The timer is an injectable `sleep`, so tests drive time without sleeping.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

FlushFn = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class BatchAccumulator(Generic[T, R]):
    """Queue items, hand them to `flush` in groups, resolve each caller with its own result.

    `flush(items)` returns one result per item, in order; an exception instance in that list
    fails only its caller. Safe for any number of concurrent callers on one event loop.
    """

    def __init__(
        self,
        flush: FlushFn[T, R],
        *,
        max_size: int,
        timeout: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be > 0 seconds")
        self._flush = flush
        self.max_size = max_size
        self.timeout = timeout
        self._sleep = sleep
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pending(self) -> int:
        """How many items wait for the next flush."""
        return len(self._queue)

    async def submit(self, item: T) -> R:
        """Queue `item` and wait for its result (raises what its flush raised for it)."""
        if self._closed:
            raise RuntimeError("BatchAccumulator is closed")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if len(self._queue) >= self.max_size:
            self._start_flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_after_timeout())
        return await future

    async def _flush_after_timeout(self) -> None:
        await self._sleep(self.timeout)
        self._timer = None
        self._start_flush()

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._queue = self._queue, []
        if not batch:
            return
        task = asyncio.create_task(self._run(batch))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"flush returned {len(results)} results for {len(batch)} items")
        except Exception as exc:
            logger.warning("accumulated batch of %d failed: %s", len(batch), exc)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller gave up waiting
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def flush(self) -> None:
        """Flush what is queued now and wait until every flush in flight has finished."""
        self._start_flush()
        while self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    async def aclose(self) -> None:
        """Refuse new items, flush what is queued and wait for it."""
        self._closed = True
        await self.flush()


__all__ = ["BatchAccumulator"]
