"""BatchAccumulator: flush on size or on timeout, per-caller results, no real sleeping."""

from __future__ import annotations

import asyncio

import pytest

from optimization.accumulator import BatchAccumulator


class ManualTimer:
    """An injectable sleep that only returns when the test fires it."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self._events: list[asyncio.Event] = []

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        event = asyncio.Event()
        self._events.append(event)
        await event.wait()

    def fire(self) -> None:
        for event in self._events:
            event.set()
        self._events.clear()


class Recorder:
    def __init__(self) -> None:
        self.flushes: list[list[int]] = []

    async def __call__(self, items: list[int]) -> list[int | BaseException]:
        self.flushes.append(list(items))
        return [item * 10 for item in items]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_it_flushes_as_soon_as_max_size_requests_are_queued() -> None:
    timer, flush = ManualTimer(), Recorder()
    acc: BatchAccumulator[int, int] = BatchAccumulator(
        flush, max_size=3, timeout=30, sleep=timer.sleep
    )
    results = await asyncio.gather(*(acc.submit(i) for i in range(3)))
    assert results == [0, 10, 20]
    assert flush.flushes == [[0, 1, 2]]


async def test_it_flushes_after_the_timeout_counted_from_the_first_request() -> None:
    timer, flush = ManualTimer(), Recorder()
    acc: BatchAccumulator[int, int] = BatchAccumulator(
        flush, max_size=100, timeout=30, sleep=timer.sleep
    )
    first = asyncio.create_task(acc.submit(1))
    second = asyncio.create_task(acc.submit(2))
    await settle()
    assert flush.flushes == []
    assert timer.requested == [30]  # one timer, started by the first request
    timer.fire()
    assert await first == 10
    assert await second == 20
    assert flush.flushes == [[1, 2]]


async def test_each_caller_gets_its_own_error_and_the_others_their_results() -> None:
    async def flush(items: list[int]) -> list[int | BaseException]:
        return [ValueError(f"bad {i}") if i == 1 else i for i in items]

    acc: BatchAccumulator[int, int] = BatchAccumulator(flush, max_size=3, timeout=30)
    results = await asyncio.gather(*(acc.submit(i) for i in range(3)), return_exceptions=True)
    assert results[0] == 0
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "bad 1"
    assert results[2] == 2


async def test_a_failing_flush_fails_every_caller_it_carried() -> None:
    async def flush(items: list[int]) -> list[int | BaseException]:
        raise RuntimeError("provider down")

    acc: BatchAccumulator[int, int] = BatchAccumulator(flush, max_size=2, timeout=30)
    results = await asyncio.gather(acc.submit(1), acc.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_a_flush_returning_the_wrong_number_of_results_fails_its_callers() -> None:
    async def flush(items: list[int]) -> list[int | BaseException]:
        return [1]

    acc: BatchAccumulator[int, int] = BatchAccumulator(flush, max_size=2, timeout=30)
    results = await asyncio.gather(acc.submit(1), acc.submit(2), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_many_concurrent_callers_are_split_into_full_batches_and_a_remainder() -> None:
    timer, flush = ManualTimer(), Recorder()
    acc: BatchAccumulator[int, int] = BatchAccumulator(
        flush, max_size=4, timeout=5, sleep=timer.sleep
    )
    tasks = [asyncio.create_task(acc.submit(i)) for i in range(10)]
    await settle()
    assert [len(f) for f in flush.flushes] == [4, 4]
    assert acc.pending == 2
    timer.fire()
    assert await asyncio.gather(*tasks) == [i * 10 for i in range(10)]
    assert sorted(i for f in flush.flushes for i in f) == list(range(10))


async def test_aclose_flushes_what_is_queued_and_refuses_new_requests() -> None:
    timer, flush = ManualTimer(), Recorder()
    acc: BatchAccumulator[int, int] = BatchAccumulator(
        flush, max_size=100, timeout=3600, sleep=timer.sleep
    )
    task = asyncio.create_task(acc.submit(7))
    await settle()
    await acc.aclose()
    assert await task == 70
    with pytest.raises(RuntimeError, match="closed"):
        await acc.submit(8)


async def test_a_caller_that_gives_up_does_not_break_the_others() -> None:
    timer, flush = ManualTimer(), Recorder()
    acc: BatchAccumulator[int, int] = BatchAccumulator(
        flush, max_size=100, timeout=1, sleep=timer.sleep
    )
    quitter = asyncio.create_task(acc.submit(1))
    stayer = asyncio.create_task(acc.submit(2))
    await settle()
    quitter.cancel()
    await settle()
    timer.fire()
    assert await stayer == 20


def test_it_rejects_a_nonsensical_size_or_timeout() -> None:
    with pytest.raises(ValueError, match="max_size"):
        BatchAccumulator(Recorder(), max_size=0, timeout=1)
    with pytest.raises(ValueError, match="timeout"):
        BatchAccumulator(Recorder(), max_size=1, timeout=0)
