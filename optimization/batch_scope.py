"""`async with batching():` single `ainvoke` calls made inside go through the provider's batch API.

Bulk work (extraction over many documents) calls `ainvoke` once per item, usually on a new model
object each time and often from a coroutine per document. Inside a scope such calls wait in a
queue shared by the whole event loop, one per batch key (same API key, endpoint and model), so
calls from many documents, each in its own scope, go out together: as one Message Batch when
`batchMaxSize` calls wait or `batchTimeout` seconds after the first. Each caller awaits its own
answer. The scope is a context variable, so tasks started inside inherit it; outside a scope no
call ever waits for a batch.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from optimization.accumulator import BatchAccumulator

Flush = Callable[[list[Any]], Awaitable[Sequence[Any]]]

_IN_SCOPE: contextvars.ContextVar[bool] = contextvars.ContextVar("llmopt_batching", default=False)
_lock = threading.Lock()
# Per event loop (accumulators hold loop-bound futures and timers), per batch key.
_queues: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Hashable, BatchAccumulator[Any, Any]]
] = weakref.WeakKeyDictionary()


def in_batching_scope() -> bool:
    """True when the current task runs inside `batching()`."""
    return _IN_SCOPE.get()


@asynccontextmanager
async def batching() -> AsyncIterator[None]:
    """Within this block, `ainvoke` on batching-enabled models goes through Message Batches."""
    token = _IN_SCOPE.set(True)
    try:
        yield
    finally:
        _IN_SCOPE.reset(token)


def _loop_queues() -> dict[Hashable, BatchAccumulator[Any, Any]]:
    loop = asyncio.get_running_loop()
    with _lock:
        queues = _queues.get(loop)
        if queues is None:
            queues = _queues[loop] = {}
        return queues


async def submit_to_batch(
    key: Hashable, item: Any, *, flush: Flush, max_size: int, wait: float
) -> Any:
    """Queue `item` with the others of `key` on this event loop and wait for its own result.

    `flush(items)` sends a group and returns one result (or exception) per item; the first
    call of a key sets its `max_size` and `wait` (seconds).
    """
    queues = _loop_queues()
    accumulator = queues.get(key)
    if accumulator is None:
        accumulator = queues[key] = BatchAccumulator(flush, max_size=max_size, timeout=wait)
    return await accumulator.submit(item)


async def flush_batches() -> None:
    """Send every call waiting on this event loop now and wait for the answers."""
    accumulators = list(_loop_queues().values())
    await asyncio.gather(*(accumulator.flush() for accumulator in accumulators))


def waiting_calls() -> int:
    """Calls queued on this event loop and not yet sent."""
    return sum(accumulator.pending for accumulator in _loop_queues().values())


__all__ = ["batching", "flush_batches", "in_batching_scope", "submit_to_batch", "waiting_calls"]
