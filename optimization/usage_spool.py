"""The usage spool: events the admin could not take yet, waiting on local disk.

Used by `optimization.recorders.HttpUsageRecorder` while the admin is unreachable.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SPOOL_DIR_ENV = "LLMOPT_USAGE_SPOOL_DIR"
SPOOL_MAX_MB_ENV = "LLMOPT_USAGE_SPOOL_MAX_MB"
DEFAULT_SPOOL_MAX_MB = 100.0
Payload = dict[str, Any]


def default_spool_dir() -> Path | None:
    """`LLMOPT_USAGE_SPOOL_DIR`, else `$XDG_CACHE_HOME/llmopt/usage-spool` (by default
    `~/.cache/llmopt/usage-spool`); None when there is no home directory to put it in."""
    configured = os.environ.get(SPOOL_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    try:
        base = Path(cache) if cache else Path.home() / ".cache"
    except (RuntimeError, KeyError):  # no HOME and no passwd entry
        return None
    return base / "llmopt" / "usage-spool"


def default_spool_max_bytes() -> int:
    """`LLMOPT_USAGE_SPOOL_MAX_MB` (default 100) in bytes; 0 turns spooling off."""
    raw = os.environ.get(SPOOL_MAX_MB_ENV, "").strip()
    megabytes = DEFAULT_SPOOL_MAX_MB
    if raw:
        try:
            megabytes = float(raw)
        except ValueError:
            logger.warning(
                "%s=%r is not a number: using %g MB", SPOOL_MAX_MB_ENV, raw, DEFAULT_SPOOL_MAX_MB
            )
        else:
            if not math.isfinite(megabytes) or megabytes < 0:
                logger.warning("%s=%r is invalid: using %g MB", SPOOL_MAX_MB_ENV, raw, 0)
                megabytes = 0
    return int(megabytes * 1024 * 1024)


@dataclass
class SpoolClaim:
    """A spool file this recorder renamed to its own claim name, with the events it holds."""

    path: Path  # the claimed file
    ready: Path  # its name before the claim, to put it back
    events: list[Payload] = field(default_factory=list)
    unreadable: int = 0


class UsageSpool:
    """A directory of JSON-lines files, one per batch of events that could not be sent.

    Files are written under a temporary name, fsynced, then renamed into place, so a reader
    never sees half a file. Several processes (gunicorn and celery workers) may share the
    directory: a file is taken by renaming it to a claim name that is unique to the claimer,
    and a rename succeeds for exactly one of them; the file is deleted once its events are
    sent, or renamed back if sending failed. A claim older than `claim_timeout` seconds belongs
    to a process that died mid-send and is put back for anyone to take (its events may have
    reached the admin: sending them again is harmless, see `HttpUsageRecorder`).

    Names start with the wall-clock time in nanoseconds, so sorting them sends the oldest first.
    The size bound counts every file in the directory; processes that write at the same moment
    may overshoot it by one batch each.
    """

    SUFFIX = ".jsonl"
    CLAIM = ".claim-"
    TMP = ".tmp"

    def __init__(self, path: Path, max_bytes: int, owner: str, claim_timeout: float) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.owner = owner
        self.claim_timeout = claim_timeout
        self._seq = itertools.count()

    def _entries(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.path) as entries:
                return [entry for entry in entries if entry.is_file(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    def size(self) -> int:
        """Bytes held by the spool: waiting, claimed and being written."""
        total = 0
        for entry in self._entries():
            try:
                total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:  # taken or deleted meanwhile
                continue
        return total

    def write(self, events: list[Payload]) -> int:
        """Append `events` as one new file; returns how many fit under the bound (the oldest
        first: the newest are the ones left out). Raises OSError if the disk refuses."""
        lines = [json.dumps(event, separators=(",", ":")).encode() + b"\n" for event in events]
        room = self.max_bytes - self.size()
        kept = 0
        for line in lines:
            if len(line) > room:
                break
            room -= len(line)
            kept += 1
        if not kept:
            return 0
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        stem = f"{time.time_ns():020d}-{self.owner}-{next(self._seq):06d}"
        tmp = self.path / f".{stem}{self.TMP}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(b"".join(lines[:kept]))
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(tmp, self.path / f"{stem}{self.SUFFIX}")
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self._fsync_dir()
        return kept

    def _fsync_dir(self) -> None:
        """Make the rename itself durable (POSIX); best effort where directories can't be."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def ready(self) -> list[str]:
        """Names of the files waiting to be sent, oldest first, after putting back the claims
        of processes that died and the complete lines of writes they left unfinished."""
        now = time.time_ns()
        stale_ns = int(self.claim_timeout * 1e9)
        names: list[str] = []
        for entry in self._entries():
            name = entry.name
            if name.endswith(self.SUFFIX):
                names.append(name)
            elif self.CLAIM in name:
                ready, _, tail = name.partition(self.CLAIM)
                claimed_at = tail.split("-", 1)[0]
                if claimed_at.isdigit() and now - int(claimed_at) > stale_ns:
                    with contextlib.suppress(OSError):  # someone else put it back first
                        os.rename(entry.path, self.path / ready)
                        logger.info("usage spool: took back %s from a stalled sender", ready)
                        names.append(ready)
            elif name.startswith(".") and name.endswith(self.TMP):
                try:
                    age_ns = now - entry.stat(follow_symlinks=False).st_mtime_ns
                except FileNotFoundError:
                    continue
                if age_ns > stale_ns:  # a writer died mid-write: keep its complete lines
                    ready = name[1 : -len(self.TMP)] + self.SUFFIX
                    with contextlib.suppress(OSError):
                        os.rename(entry.path, self.path / ready)
                        names.append(ready)
        return sorted(names)

    def claim(self, max_events: int) -> list[SpoolClaim]:
        """Take the oldest waiting files, as many as fit in `max_events` events (at least one,
        so one request sends them). Files other processes take first are skipped."""
        claims: list[SpoolClaim] = []
        count = 0
        for name in self.ready():
            if count >= max_events:
                break
            ready = self.path / name
            claimed = self.path / f"{name}{self.CLAIM}{time.time_ns():020d}-{self.owner}"
            try:
                os.rename(ready, claimed)
            except FileNotFoundError:  # another process claimed it
                continue
            item = SpoolClaim(path=claimed, ready=ready)
            try:
                with open(claimed, "rb") as handle:
                    for line in handle:
                        if not line.strip():
                            continue
                        try:
                            event = json.loads(line)
                        except ValueError:
                            item.unreadable += 1
                            continue
                        if isinstance(event, dict):
                            item.events.append(event)
                        else:
                            item.unreadable += 1
            except FileNotFoundError:  # taken back as stale meanwhile: its new owner sends it
                continue
            if claims and count + len(item.events) > max_events:
                self.release(item)
                break
            claims.append(item)
            count += len(item.events)
        return claims

    def done(self, claim: SpoolClaim) -> None:
        """Its events were delivered: delete the file."""
        with contextlib.suppress(FileNotFoundError):
            claim.path.unlink()

    def release(self, claim: SpoolClaim) -> None:
        """Sending failed: put the file back, under its old name, for a later attempt."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(claim.path, claim.ready)


__all__ = [
    "DEFAULT_SPOOL_MAX_MB",
    "SPOOL_DIR_ENV",
    "SPOOL_MAX_MB_ENV",
    "Payload",
    "SpoolClaim",
    "UsageSpool",
    "default_spool_dir",
    "default_spool_max_bytes",
]
