"""`async with batching():` single `ainvoke` calls made inside go through the provider's batch API.

Bulk work (extraction over many documents) calls `ainvoke` once per item, usually on a new model
object each time. Inside a scope those calls are queued per batch key (same API key, endpoint
and model) and sent as one Message Batch when `batchMaxSize` calls wait or `batchTimeout`
seconds after the first; each caller awaits its own answer. The scope is a context variable, so
tasks started inside inherit it. Outside a scope, and on another event loop than the scope's,
no call ever waits for a batch. Leaving the scope sends whatever still waits and waits for it;
leaving it with an exception sends nothing more (the waiting calls fail with that cancellation).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from optimization.accumulator import BatchAccumulator

Flush = Callable[[list[Any]], Awaitable[Sequence[Any]]]

_SCOPE: contextvars.ContextVar[BatchScope | None] = contextvars.ContextVar(
    "llmopt_batching", default=None
)


class BatchScope:
    """The accumulators of one `batching()` block, one per batch key, on its event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._accumulators: dict[Hashable, BatchAccumulator[Any, Any]] = {}
        self._open = True

    def accepts(self) -> bool:
        """True when a call made now (on the running loop) may wait in this scope."""
        try:
            return self._open and asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    @property
    def pending(self) -> int:
        """Calls queued and not yet sent."""
        return sum(accumulator.pending for accumulator in self._accumulators.values())

    async def submit(
        self, key: Hashable, item: Any, *, flush: Flush, max_size: int, wait: float
    ) -> Any:
        """Queue `item` with the others of `key` and wait for its own result."""
        accumulator = self._accumulators.get(key)
        if accumulator is None:
            accumulator = BatchAccumulator(flush, max_size=max_size, timeout=wait)
            self._accumulators[key] = accumulator
        return await accumulator.submit(item)

    async def flush(self) -> None:
        """Send everything queued now, without waiting for a size or timeout trigger."""
        await asyncio.gather(*(acc.flush() for acc in list(self._accumulators.values())))

    async def _close(self, *, send: bool) -> None:
        self._open = False
        accumulators = list(self._accumulators.values())
        if send:
            await asyncio.gather(*(accumulator.aclose() for accumulator in accumulators))
        else:
            for accumulator in accumulators:
                accumulator.discard()


def current_scope() -> BatchScope | None:
    """The `batching()` scope the current task runs in, if any."""
    return _SCOPE.get()


@asynccontextmanager
async def batching() -> AsyncIterator[BatchScope]:
    """Within this block, `ainvoke` on batching-enabled models goes through Message Batches."""
    scope = BatchScope(asyncio.get_running_loop())
    token = _SCOPE.set(scope)
    try:
        yield scope
    except BaseException:
        await scope._close(send=False)
        raise
    else:
        await scope._close(send=True)
    finally:
        _SCOPE.reset(token)


__all__ = ["BatchScope", "batching", "current_scope"]
