"""The simulator's clock: real time scaled by a speed factor, plus manual jumps for tests."""

from __future__ import annotations

import threading
import time


class Clock:
    """Simulated wall-clock time in Unix seconds.

    `speed` simulated seconds pass per real second (0 freezes the clock, so only `advance`
    moves it — what tests want). `advance` jumps forward, e.g. past a cache TTL or a batch's
    24-hour expiry, without sleeping.
    """

    def __init__(self, start: float | None = None, *, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self._start = time.time() if start is None else start
        self._real_start = time.monotonic()
        self._speed = speed
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    def now(self) -> float:
        """Current simulated time (Unix seconds)."""
        with self._lock:
            elapsed = (time.monotonic() - self._real_start) * self._speed
            return self._start + elapsed + self._offset

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by `seconds` (never backwards)."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; got advance({seconds})")
        with self._lock:
            self._offset += seconds
