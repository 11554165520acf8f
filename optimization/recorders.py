"""Usage recorders: where each call's `UsageEvent` goes. None of them blocks or raises into a call.

- `InMemoryUsageRecorder` keeps events in a list (tests, demos).
- `LoggingUsageRecorder` writes one log line per event (the default).
- `HttpUsageRecorder` posts events to the admin's `POST /api/usage/events` from a background
  thread, in groups, through a bounded queue. While the admin is unreachable it spools them to
  local disk (`LLMOPT_USAGE_SPOOL_DIR`, default `~/.cache/llmopt/usage-spool`, bounded by
  `LLMOPT_USAGE_SPOOL_MAX_MB`, default 100) and sends them, oldest first, once it answers. Only
  events beyond the queue's or the spool's capacity are dropped, counted and logged; nothing is
  allowed to slow the caller.

A process-wide default recorder serves models built without one (e.g. by `get_generator_model`,
whose PipesHub signature has no recorder argument): `set_default_recorder(recorder)` installs
one; otherwise `default_recorder()` builds one lazily, once: an `HttpUsageRecorder` when the
environment has `LLMOPT_USAGE_URL` and `LLMOPT_USAGE_TOKEN`, else a `LoggingUsageRecorder`.
`LLMOPT_USAGE_URL` may be the admin's base URL (`http://admin:8000`, the ingest path is
appended) or the full ingest URL (`http://admin:8000/api/usage/events`, used as is).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from optimization.pricing import TOKEN_KINDS, token_counts
from optimization.telemetry import UsageEvent, UsageRecorder
from optimization.usage_spool import (
    SPOOL_MAX_MB_ENV,
    Payload,
    UsageSpool,
    default_spool_dir,
    default_spool_max_bytes,
)

logger = logging.getLogger(__name__)


class InMemoryUsageRecorder:
    """Keeps every event in `events` (thread safe append)."""

    def __init__(self) -> None:
        self.events: list[UsageEvent] = []

    def record(self, event: UsageEvent) -> None:
        """Append `event`."""
        self.events.append(event)


# One count per token kind (`input=%d cache_write_5m=%d ...`), named as pricing names the kinds.
_EVENT_LOG_FORMAT = (
    "usage %s %s mode=%s " + " ".join(f"{kind}=%d" for kind in TOKEN_KINDS) + " cost=%s baseline=%s"
)


class LoggingUsageRecorder:
    """Logs each event at INFO on the `optimization.usage` logger."""

    def __init__(self, logger_name: str = "optimization.usage") -> None:
        self._logger = logging.getLogger(logger_name)

    def record(self, event: UsageEvent) -> None:
        """Log `event` as one line."""
        try:
            self._logger.info(
                _EVENT_LOG_FORMAT,
                event.provider,
                event.model,
                event.mode,
                *token_counts(event),
                event.cost,
                event.baseline_cost,
            )
        except Exception:  # a broken log handler must not break the call
            return


_STOP = object()

# Statuses that say "not now" rather than "never": the events are kept and sent again later.
# 401/403/404 are kept too: a wrong token or URL is a configuration error an operator fixes,
# and the spool's bound caps what waits meanwhile.
_TRANSIENT_STATUSES = frozenset({401, 403, 404, 408, 425, 429})

_SENT = "sent"
_REFUSED = "refused"
_RETRY = "retry"


class HttpUsageRecorder:
    """Posts events as `{"events": [...]}` to `url` with `Authorization: Bearer <token>`.

    `record` only enqueues (never blocks, never raises); a daemon thread sends up to `max_batch`
    events per request, at least every `flush_interval` seconds.

    While the admin is unreachable (connection errors, timeouts, 5xx, 429, and 401/403/404,
    which an operator fixes) events are not dropped: they go to a spool on local disk (see
    `UsageSpool`; `spool_dir`, by default `default_spool_dir()`), and the thread retries with
    exponential backoff (`backoff_initial` up to `backoff_max` seconds, with jitter) instead of
    posting every batch. Once the admin answers, the spool is sent oldest first, alongside new
    events, in requests of at most `max_batch` events. At startup, and every
    `spool_scan_interval` seconds, the thread looks for files other processes or an earlier run
    left in the spool (the directory may be shared by every worker on a host).

    Re-sending is safe: the admin's ingest is idempotent by `UsageEvent.request_id` (a unique
    index on its ledger, `INSERT ... ON CONFLICT DO NOTHING`), so an event sent again after an
    ambiguous failure (a timeout after the admin committed, a sender that died before deleting
    its spool file) is counted there as a duplicate, never twice.

    The spool is bounded by `spool_max_bytes` (default `LLMOPT_USAGE_SPOOL_MAX_MB`, 100 MB).
    When it is full the *newest* events are dropped, so the history already kept stays whole
    and files other processes may be sending are never touched; one warning per episode says
    so, and an info line when it ends.

    Counters: `sent` events the admin accepted (including spooled ones, possibly spooled by
    another process); `spooled` events written to the spool; `failed` events the admin refused
    (other 4xx: sending them again cannot help) or spool lines that could not be read;
    `dropped` events lost for lack of room, in the queue or in the spool; `spool_dropped` the
    part of `dropped` the spool could not take (full, or not writable). The token is never
    logged.

    `close(timeout)` sends what is queued within `timeout` seconds and leaves the rest spooled.
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
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        spool_scan_interval: float = 5.0,
        spool_claim_timeout: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.retries = retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.spool_scan_interval = spool_scan_interval
        self.dropped = 0
        self.failed = 0
        self.sent = 0
        self.spooled = 0
        self.spool_dropped = 0
        owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        path = Path(spool_dir) if spool_dir is not None else default_spool_dir()
        max_bytes = default_spool_max_bytes() if spool_max_bytes is None else spool_max_bytes
        self.spool_dir = path
        self._spool = (
            UsageSpool(path, max_bytes, owner, spool_claim_timeout) if path is not None else None
        )
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._counts = threading.Lock()
        # Hands a batch in flight over to `close` if the thread outlives its timeout.
        self._handoff = threading.Lock()
        self._inflight: list[Payload] = []
        self._abandoned = False
        self._closed = False
        self._closed_warned = False
        self._close_deadline: float | None = None
        # Backoff state (the sender thread's own).
        self._down_since: float | None = None
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._spool_pending = False
        self._next_scan = 0.0
        self._spool_losses = 0  # events lost in the current "spool can't take them" episode
        self._client = httpx.Client(
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}"},
            transport=transport,
        )
        self._thread = threading.Thread(target=self._loop, name="llmopt-usage", daemon=True)
        self._thread.start()

    # --- the caller's side ---------------------------------------------------------------

    def record(self, event: UsageEvent) -> None:
        """Enqueue `event`; if the queue is full (or the recorder closed), drop it and count it
        (warning every 100)."""
        if self._closed:
            with self._counts:
                self.dropped += 1
                dropped = self.dropped
            if not self._closed_warned:
                self._closed_warned = True
                logger.warning("usage recorder is closed: events recorded now are dropped")
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._counts:
                self.dropped += 1
                dropped = self.dropped
            if dropped == 1 or dropped % 100 == 0:
                logger.warning("usage recorder queue full: %d event(s) dropped so far", dropped)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued events have been sent, spooled or given up on; False on timeout.

        Spooled events are sent later, by this recorder or another one sharing the spool."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, within `timeout` seconds; spool what could not be sent; stop the
        thread and close the HTTP client. Spooled events wait for the next recorder."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self._close_deadline = deadline  # the thread bounds its requests by it, and stops draining
        with contextlib.suppress(queue.Full):  # a stuck thread: its queue is spooled below
            self._queue.put(_STOP, timeout=max(deadline - time.monotonic(), 0.0))
        self._thread.join(max(deadline - time.monotonic(), 0.0))
        if self._thread.is_alive():
            self._take_over()
        try:
            self._client.close()
        except Exception as exc:  # the thread may still be in a request
            logger.debug("usage recorder: closing the HTTP client: %s", exc)

    def _take_over(self) -> None:
        """The thread is stuck in a request past the close deadline: spool its batch in flight
        and everything still queued, so they survive the process's exit. If its request does
        succeed later, those events are sent twice, which the admin counts once."""
        with self._handoff:
            self._abandoned = True
            events, self._inflight = self._inflight, []
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    events.extend(self._payloads([item]))
                self._queue.task_done()
            if events:
                self._spool_events(events)
        logger.warning(
            "usage recorder: the ingest API did not answer before close(); %d event(s) left "
            "in the spool for the next run",
            len(events),
        )

    # --- the sender thread -----------------------------------------------------------------

    def _loop(self) -> None:
        self._scan_spool()  # what an earlier run, or another process, left behind
        stopping = False
        while not stopping:
            try:
                stopping = self._step()
            except Exception:  # never let the thread die: record() would only fill the queue
                logger.exception("usage recorder: unexpected error in the sender thread")
                time.sleep(0.5)
        # close(): with the admin answering, send what the spool holds while time is left.
        try:
            while (
                self._spool_pending
                and self._available()
                and not self._abandoned
                and self._request_timeout() is not None
            ):
                self._drain()
        except Exception:
            logger.exception("usage recorder: unexpected error while closing")

    def _step(self) -> bool:
        """Collect a batch, deliver it, then send some of the spool. True once stopped."""
        closing = self._close_deadline is not None
        drain = self._spool_pending and self._available() and not closing
        wait = 0.0 if drain else self.flush_interval
        backoff_left = self._next_attempt - time.monotonic()
        if backoff_left > 0 and not closing:  # wake up when the backoff ends
            wait = min(wait, backoff_left)
        items, stopping = self._collect(wait)
        if items:
            try:
                self._deliver(self._payloads(items))
            finally:
                for _ in items:
                    self._queue.task_done()
        if stopping or self._abandoned:
            return True
        if self._close_deadline is None:
            if self._spool_pending and self._available():
                self._drain()
            elif time.monotonic() >= self._next_scan:
                self._scan_spool()
        return False

    def _collect(self, wait: float) -> tuple[list[UsageEvent], bool]:
        """Up to `max_batch` queued events, waiting at most `wait` seconds for them."""
        items: list[UsageEvent] = []
        deadline = time.monotonic() + wait
        while len(items) < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.task_done()
                return items, True
            items.append(item)
        return items, False

    def _payloads(self, items: list[UsageEvent]) -> list[Payload]:
        payloads: list[Payload] = []
        for item in items:
            try:
                payloads.append(item.to_json())
            except Exception as exc:  # not a UsageEvent: nothing to send
                logger.warning("usage recorder: cannot serialize %r: %s", item, exc)
                with self._counts:
                    self.failed += 1
        return payloads

    def _available(self) -> bool:
        """False while backing off after a failure."""
        return time.monotonic() >= self._next_attempt

    def _deliver(self, events: list[Payload]) -> None:
        """Post a new batch (unless backing off); spool it if that fails."""
        if not events:
            return
        with self._handoff:
            self._inflight = events
        delivered = self._available() and self._send(events)
        with self._handoff:
            if self._abandoned:  # close() spooled them already
                return
            self._inflight = []
            if not delivered:
                self._spool_events(events)

    def _send(self, events: list[Payload]) -> bool:
        """Post `events`, with quick retries if the admin was up; True once it answered."""
        retries = self.retries if self._down_since is None else 0
        why = ""
        for attempt in range(retries + 1):
            timeout = self._request_timeout()
            if timeout is None:
                break
            outcome, why = self._post(events, timeout)
            if outcome != _RETRY:
                return True
            if attempt < retries:
                pause = min(0.2 * 2**attempt, 2.0)
                if self._close_deadline is not None:
                    pause = min(pause, max(self._close_deadline - time.monotonic(), 0.0))
                time.sleep(pause)
        if why:  # not merely out of time before close(): the admin did not answer
            self._mark_down(why)
        return False

    def _request_timeout(self) -> float | None:
        """The timeout of the next request: `timeout`, cut short by close(); None if too short."""
        if self._close_deadline is None:
            return self.timeout
        remaining = min(self.timeout, self._close_deadline - time.monotonic())
        return remaining if remaining >= 0.05 else None

    def _post(self, events: list[Payload], timeout: float) -> tuple[str, str]:
        """One request: `_SENT` (counted), `_REFUSED` (counted as failed) or `_RETRY`."""
        try:
            response = self._client.post(self.url, json={"events": events}, timeout=timeout)
        except Exception as exc:  # httpx.HTTPError, or a client closed by close()
            logger.debug("usage post failed: %r", exc)
            return _RETRY, type(exc).__name__
        status = response.status_code
        if status >= 500 or status in _TRANSIENT_STATUSES:
            return _RETRY, f"HTTP {status}"
        self._mark_up()
        if response.is_error:
            logger.warning("usage ingest refused %d event(s): HTTP %d", len(events), status)
            with self._counts:
                self.failed += len(events)
            return _REFUSED, f"HTTP {status}"
        with self._counts:
            self.sent += len(events)
        return _SENT, ""

    def _mark_up(self) -> None:
        if self._down_since is not None:
            logger.info(
                "usage ingest %s answers again after %.1f s%s",
                self.url,
                time.monotonic() - self._down_since,
                "; sending the spooled events" if self._spool_pending else "",
            )
            self._down_since = None
        self._backoff = 0.0
        self._next_attempt = 0.0
        self._end_spool_losses()

    def _mark_down(self, why: str) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
            where = self.spool_dir if self._spool is not None else "nowhere (no spool directory)"
            logger.warning(
                "usage ingest %s unreachable (%s): events are spooled to %s and sent when it "
                "answers",
                self.url,
                why,
                where,
            )
        self._backoff = min(max(self._backoff * 2, self.backoff_initial), self.backoff_max)
        jitter = random.uniform(0.8, 1.2)  # noqa: S311  # nosec B311 - spreads retries, no secret
        self._next_attempt = now + self._backoff * jitter

    # --- the spool -------------------------------------------------------------------------

    def _spool_events(self, events: list[Payload]) -> None:
        """Write `events` to the spool; count and log (once per episode) what it can't take."""
        written = 0
        if self._spool is None:
            reason = "there is no spool directory (no home directory; set LLMOPT_USAGE_SPOOL_DIR)"
        else:
            try:
                written = self._spool.write(events)
            except OSError as exc:
                reason = f"the spool {self._spool.path} is not writable: {exc}"
            else:
                reason = (
                    f"the spool {self._spool.path} is full "
                    f"({self._spool.max_bytes / 1024 / 1024:g} MB, {SPOOL_MAX_MB_ENV})"
                )
        with self._counts:
            self.spooled += written
        if written:
            self._spool_pending = True
        lost = len(events) - written
        if not lost:
            self._end_spool_losses()
            return
        with self._counts:
            self.dropped += lost
            self.spool_dropped += lost
        if not self._spool_losses:
            logger.warning(
                "usage events dropped because %s: the newest events are dropped until there "
                "is room or the ingest API answers",
                reason,
            )
        self._spool_losses += lost

    def _end_spool_losses(self) -> None:
        if self._spool_losses:
            logger.warning(
                "usage spool: %d event(s) were dropped while it could not take them",
                self._spool_losses,
            )
            self._spool_losses = 0

    def _scan_spool(self) -> None:
        self._next_scan = time.monotonic() + self.spool_scan_interval
        if self._spool is None:
            return
        try:
            self._spool_pending = bool(self._spool.ready())
        except OSError as exc:
            logger.debug("usage spool: cannot list %s: %s", self._spool.path, exc)
            self._spool_pending = False

    def _drain(self) -> None:
        """Send the oldest spooled events (about `max_batch`); delete their files once the
        admin has them, or put them back and back off if it does not answer."""
        if self._spool is None:
            self._spool_pending = False
            return
        try:
            claims = self._spool.claim(self.max_batch)
        except OSError as exc:
            logger.warning("usage spool: cannot read %s: %s", self._spool.path, exc)
            self._spool_pending = False
            return
        if not claims:
            self._spool_pending = False
            return
        events = [event for claim in claims for event in claim.events]
        # One request unless a file holds more than `max_batch` events (another configuration).
        for start in range(0, len(events), self.max_batch):
            timeout = self._request_timeout()
            outcome, why = (
                self._post(events[start : start + self.max_batch], timeout)
                if timeout is not None
                else (_RETRY, "")  # out of time before close()
            )
            if outcome == _RETRY:
                # Chunks already sent go again with the rest: the admin skips them.
                for claim in claims:
                    self._spool.release(claim)
                if why:
                    self._mark_down(why)
                else:
                    self._spool_pending = False
                return
        unreadable = sum(claim.unreadable for claim in claims)
        if unreadable:
            logger.warning("usage spool: %d unreadable line(s) dropped", unreadable)
            with self._counts:
                self.failed += unreadable
        for claim in claims:
            self._spool.done(claim)


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
