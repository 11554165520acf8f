"""Usage recorders: where each call's `UsageEvent` goes. None of them blocks or raises into a call.

- `InMemoryUsageRecorder` keeps events in a list (tests, demos).
- `LoggingUsageRecorder` writes one log line per event (the default).
- `HttpUsageRecorder` posts events to the admin's `POST /api/usage/events` from a background
  thread, in groups, through a bounded queue: when the admin is slow or down, events beyond the
  queue's capacity are dropped and counted with a warning, never allowed to slow the caller.

A process-wide default recorder serves models built without one (e.g. by `get_generator_model`,
whose PipesHub signature has no recorder argument): `set_default_recorder(recorder)` installs
one; otherwise `default_recorder()` builds one lazily, once: an `HttpUsageRecorder` when the
environment has `LLMOPT_USAGE_URL` and `LLMOPT_USAGE_TOKEN`, else a `LoggingUsageRecorder`.
`LLMOPT_USAGE_URL` may be the admin's base URL (`http://admin:8000`, the ingest path is
appended) or the full ingest URL (`http://admin:8000/api/usage/events`, used as is).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Any

import httpx

from optimization.telemetry import UsageEvent, UsageRecorder

logger = logging.getLogger(__name__)


class InMemoryUsageRecorder:
    """Keeps every event in `events` (thread safe append)."""

    def __init__(self) -> None:
        self.events: list[UsageEvent] = []

    def record(self, event: UsageEvent) -> None:
        """Append `event`."""
        self.events.append(event)


class LoggingUsageRecorder:
    """Logs each event at INFO on the `optimization.usage` logger."""

    def __init__(self, logger_name: str = "optimization.usage") -> None:
        self._logger = logging.getLogger(logger_name)

    def record(self, event: UsageEvent) -> None:
        """Log `event` as one line."""
        try:
            self._logger.info(
                "usage %s %s mode=%s in=%d cache_write=%d cache_read=%d out=%d cost=%s baseline=%s",
                event.provider,
                event.model,
                event.mode,
                event.input_tokens,
                event.cache_write_5m_tokens + event.cache_write_1h_tokens,
                event.cache_read_tokens,
                event.output_tokens,
                event.cost,
                event.baseline_cost,
            )
        except Exception:  # a broken log handler must not break the call
            return


_STOP = object()


class HttpUsageRecorder:
    """Posts events as `{"events": [...]}` to `url` with `Authorization: Bearer <token>`.

    `record` only enqueues (never blocks); a daemon thread sends up to `max_batch` events per
    request, at least every `flush_interval` seconds. A failed post is retried `retries` times
    with a short backoff, then its events are dropped and counted in `failed`. Events refused
    because the queue is full are counted in `dropped`. The token is never logged.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        max_queue: int = 10_000,
        max_batch: int = 500,
        flush_interval: float = 2.0,
        timeout: float = 10.0,
        retries: int = 2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.retries = retries
        self.dropped = 0
        self.failed = 0
        self.sent = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._client = httpx.Client(
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
        )
        self._thread = threading.Thread(target=self._loop, name="llmopt-usage", daemon=True)
        self._thread.start()

    def record(self, event: UsageEvent) -> None:
        """Enqueue `event`; if the queue is full, drop it and count it (warning every 100)."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                logger.warning(
                    "usage recorder queue full: %d event(s) dropped so far", self.dropped
                )

    def _loop(self) -> None:
        stop = False
        while not stop:
            batch: list[UsageEvent] = []
            deadline = time.monotonic() + self.flush_interval
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
                except queue.Empty:
                    break
                if item is _STOP:
                    self._queue.task_done()
                    stop = True
                    break
                batch.append(item)
            if batch:
                self._post(batch)
                for _ in batch:
                    self._queue.task_done()

    def _post(self, batch: list[UsageEvent]) -> None:
        body = {"events": [event.to_json() for event in batch]}
        for attempt in range(self.retries + 1):
            try:
                response = self._client.post(self.url, json=body)
                if response.status_code < 500 and response.status_code != 429:
                    if response.is_error:
                        logger.warning(
                            "usage ingest refused %d event(s): HTTP %d",
                            len(batch),
                            response.status_code,
                        )
                        self.failed += len(batch)
                    else:
                        self.sent += len(batch)
                    return
            except httpx.HTTPError as exc:
                logger.debug("usage post attempt %d failed: %s", attempt + 1, exc)
            time.sleep(min(0.2 * 2**attempt, 2.0))
        self.failed += len(batch)
        logger.warning(
            "usage ingest unreachable: %d event(s) dropped (%d so far)", len(batch), self.failed
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued events have been sent (or given up on); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, stop the thread and close the HTTP client."""
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            logger.warning("usage recorder could not stop cleanly: queue full")
        self._thread.join(timeout)
        self._client.close()


INGEST_PATH = "/api/usage/events"
USAGE_URL_ENV = "LLMOPT_USAGE_URL"
# The name of the variable that holds the token (bandit takes it for a password).
USAGE_TOKEN_ENV = "LLMOPT_USAGE_TOKEN"  # noqa: S105  # nosec B105

_default: UsageRecorder | None = None
_default_lock = threading.Lock()


def ingest_url(url: str) -> str:
    """The ingest endpoint for `url`: the admin's base URL or the full ingest URL."""
    stripped = url.rstrip("/")
    return stripped if stripped.endswith(INGEST_PATH) else stripped + INGEST_PATH


def set_default_recorder(recorder: UsageRecorder | None) -> None:
    """Install `recorder` for every model built without one; None goes back to the env default.

    A recorder replaced here is not closed: its owner decides when it stops.
    """
    global _default
    with _default_lock:
        _default = recorder


def default_recorder() -> UsageRecorder:
    """The process-wide recorder: the one installed, else one built from the environment, once.

    With `LLMOPT_USAGE_URL` and `LLMOPT_USAGE_TOKEN` both set: an `HttpUsageRecorder` posting to
    that admin; otherwise a `LoggingUsageRecorder`. Thread safe; later calls return the same
    object until `set_default_recorder` changes it.
    """
    global _default
    recorder = _default
    if recorder is not None:
        return recorder
    with _default_lock:
        if _default is None:
            url = os.environ.get(USAGE_URL_ENV, "").strip()
            token = os.environ.get(USAGE_TOKEN_ENV, "").strip()
            if url and token:
                _default = HttpUsageRecorder(ingest_url(url), token)
            else:
                if url or token:
                    missing = USAGE_TOKEN_ENV if url else USAGE_URL_ENV
                    logger.warning(
                        "%s is not set: usage events are logged, not sent to the admin", missing
                    )
                _default = LoggingUsageRecorder()
        return _default


__all__ = [
    "HttpUsageRecorder",
    "InMemoryUsageRecorder",
    "LoggingUsageRecorder",
    "default_recorder",
    "ingest_url",
    "set_default_recorder",
]
