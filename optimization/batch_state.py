"""Where submitted batches are remembered, so a restarted process resumes instead of paying twice.

A record holds the batch id, its custom_id → input position map and free-form metadata
(model, submit time, caller's job id). An intent is saved before each create call and resolved
after it (into a record, or dropped): an intent still open after a crash or a lost response
means "this group may already be a batch at the provider", and is reconciled with the
provider's list before the group is ever sent again (see `optimization.batch_create`). The
admin adds a database-backed store with the same protocol.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class BatchRecord:
    """One submitted batch as persisted: id, custom_id → position map, metadata, done flag."""

    batch_id: str
    custom_ids: Mapping[str, int]
    meta: Mapping[str, Any] = field(default_factory=dict)
    done: bool = False


@dataclass(frozen=True)
class SubmitIntent:
    """A group of requests about to be sent as one batch (saved before the create call).

    `not_before` (Unix seconds, wall clock) is when the create was first attempted: the batch,
    if the provider made it, was created at or after it.
    """

    intent_id: str
    custom_ids: Mapping[str, int]
    meta: Mapping[str, Any] = field(default_factory=dict)
    not_before: float = 0.0


class BatchStateStore(Protocol):
    """Persists submitted batches until their results have been collected."""

    def save_intent(self, intent: SubmitIntent) -> None: ...

    def list_intents(self) -> list[SubmitIntent]: ...

    def resolve_intent(self, intent_id: str, batch_id: str | None) -> None:
        """Turn the intent into the record of `batch_id`, or drop it (None: never created)."""
        ...

    def save(
        self, batch_id: str, custom_ids: Mapping[str, int], meta: Mapping[str, Any]
    ) -> None: ...

    def load(self, batch_id: str) -> BatchRecord | None: ...

    def list_open(self) -> list[BatchRecord]: ...

    def mark_done(self, batch_id: str) -> None: ...


class InMemoryBatchStateStore:
    """A process-local store (tests, short-lived scripts). Thread safe."""

    def __init__(self) -> None:
        self._records: dict[str, BatchRecord] = {}
        self._intents: dict[str, SubmitIntent] = {}
        self._lock = threading.Lock()

    def save_intent(self, intent: SubmitIntent) -> None:
        """Remember a group about to be sent."""
        with self._lock:
            self._intents[intent.intent_id] = intent

    def list_intents(self) -> list[SubmitIntent]:
        """Groups whose create call has no known outcome yet, oldest first."""
        with self._lock:
            return sorted(self._intents.values(), key=lambda intent: intent.not_before)

    def resolve_intent(self, intent_id: str, batch_id: str | None) -> None:
        """Record the group as `batch_id`, or forget it (None)."""
        with self._lock:
            intent = self._intents.pop(intent_id, None)
            if intent is not None and batch_id is not None:
                self._records[batch_id] = BatchRecord(
                    batch_id, dict(intent.custom_ids), dict(intent.meta)
                )

    def save(self, batch_id: str, custom_ids: Mapping[str, int], meta: Mapping[str, Any]) -> None:
        """Remember `batch_id` with its custom_id map and metadata (replacing earlier ones)."""
        with self._lock:
            self._records[batch_id] = BatchRecord(batch_id, dict(custom_ids), dict(meta))

    def load(self, batch_id: str) -> BatchRecord | None:
        """The record of `batch_id`, or None when unknown."""
        with self._lock:
            return self._records.get(batch_id)

    def list_open(self) -> list[BatchRecord]:
        """Records whose results have not been collected yet, oldest first."""
        with self._lock:
            return [record for record in self._records.values() if not record.done]

    def mark_done(self, batch_id: str) -> None:
        """Flag `batch_id` as collected (unknown ids are ignored)."""
        with self._lock:
            record = self._records.get(batch_id)
            if record is not None:
                self._records[batch_id] = BatchRecord(
                    record.batch_id, record.custom_ids, record.meta, done=True
                )


_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class FileBatchStateStore:
    """One JSON file per batch in `directory`, written atomically (temp file + rename).

    Survives a process restart; a half-written record can never be read back.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.intents = self.directory / "intents"
        self.intents.mkdir(exist_ok=True)

    def save_intent(self, intent: SubmitIntent) -> None:
        """Persist a group about to be sent (atomically, before the create call)."""
        data = {
            "intent_id": intent.intent_id,
            "custom_ids": dict(intent.custom_ids),
            "meta": dict(intent.meta),
            "not_before": intent.not_before,
        }
        _write_atomically(self.intents / f"{_SAFE_NAME.sub('_', intent.intent_id)}.json", data)

    def list_intents(self) -> list[SubmitIntent]:
        """Groups whose create call has no known outcome yet, oldest first."""
        intents = []
        for path in self.intents.glob("*.json"):
            data = json.loads(path.read_text(encoding="utf-8"))
            intents.append(
                SubmitIntent(
                    data["intent_id"],
                    {str(k): int(v) for k, v in data["custom_ids"].items()},
                    data.get("meta", {}),
                    float(data.get("not_before", 0.0)),
                )
            )
        return sorted(intents, key=lambda intent: intent.not_before)

    def resolve_intent(self, intent_id: str, batch_id: str | None) -> None:
        """Write the record of `batch_id` (when given), then remove the intent."""
        path = self.intents / f"{_SAFE_NAME.sub('_', intent_id)}.json"
        if batch_id is not None and path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            self.save(batch_id, data["custom_ids"], data.get("meta", {}))
        path.unlink(missing_ok=True)

    def _path(self, batch_id: str) -> Path:
        return self.directory / f"{_SAFE_NAME.sub('_', batch_id)}.json"

    def _write(self, record: BatchRecord) -> None:
        data = {
            "batch_id": record.batch_id,
            "custom_ids": dict(record.custom_ids),
            "meta": dict(record.meta),
            "done": record.done,
        }
        _write_atomically(self._path(record.batch_id), data)

    @staticmethod
    def _read(path: Path) -> BatchRecord:
        data = json.loads(path.read_text(encoding="utf-8"))
        return BatchRecord(
            batch_id=data["batch_id"],
            custom_ids={str(k): int(v) for k, v in data["custom_ids"].items()},
            meta=data.get("meta", {}),
            done=bool(data.get("done", False)),
        )

    def save(self, batch_id: str, custom_ids: Mapping[str, int], meta: Mapping[str, Any]) -> None:
        """Persist `batch_id` with its custom_id map and metadata."""
        self._write(BatchRecord(batch_id, dict(custom_ids), dict(meta)))

    def load(self, batch_id: str) -> BatchRecord | None:
        """The record of `batch_id`, or None when unknown."""
        path = self._path(batch_id)
        return self._read(path) if path.exists() else None

    def list_open(self) -> list[BatchRecord]:
        """Records whose results have not been collected yet, oldest file first."""
        paths = sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
        return [record for record in map(self._read, paths) if not record.done]

    def mark_done(self, batch_id: str) -> None:
        """Flag `batch_id` as collected (unknown ids are ignored)."""
        record = self.load(batch_id)
        if record is not None:
            self._write(BatchRecord(record.batch_id, record.custom_ids, record.meta, done=True))


def _write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON to `path` so that a reader sees the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "BatchRecord",
    "BatchStateStore",
    "FileBatchStateStore",
    "InMemoryBatchStateStore",
    "SubmitIntent",
]
