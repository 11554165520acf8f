"""OpenAI's Batch API on the simulator clock, run by the Anthropic simulator's `BatchStore`.

A batch reads its JSONL input file at creation. A file OpenAI would refuse (a line that is not
JSON or lacks `custom_id`, `method: "POST"`, the batch's `url` or a `body`; duplicate
custom_ids; more than one model; above 50,000 requests or 200 MB) makes a batch that is
`failed` at once, with `errors.data` naming each problem and its line. Otherwise its requests
run exactly as a Message Batch's do (`optimization.simulator.batches`: same timings, shuffled
processing order, faults, expiry, cancel, ledger), each answered as /v1/chat/completions
would answer it then. The simulator only accepts custom_ids of 1-64 letters, digits, `_`
and `-` (OpenAI takes any string).

Status, from the requests' progress: `validating` for `batch_start_delay`, `in_progress`,
then `finalizing` for another `batch_start_delay` once every request has an outcome, then
`completed`; after a cancel `cancelling`, then `cancelled`; unfinished at `expires_at`:
`expired`. On reaching `completed`, `cancelled` or `expired` the batch writes its files: the
output file holds a line per succeeded request (`response.status_code` 200), the error file a
line per failed one (its error response) and per canceled or expired one (`error.code`
`batch_cancelled` / `batch_expired`); each file exists only when it has a line. Lines come in
processing order, not input order, as OpenAI warns they may.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from optimization.capabilities import OPENAI_BATCH_MAX_BYTES, OPENAI_BATCH_MAX_REQUESTS
from optimization.simulator.batches import CUSTOM_ID, Batch, BatchStore
from optimization.simulator.clock import Clock
from optimization.simulator.errors import ERROR_TYPES, ApiError
from optimization.simulator.faults import Faults
from optimization.simulator.openai_api.errors import OpenAIError, error_object, invalid
from optimization.simulator.openai_api.files import FileStore, StoredFile
from optimization.simulator.settings import SimulatorSettings

MakeId = Callable[[str, int], str]
MAX_METADATA_PAIRS = 16
_STATUS_OF_TYPE = {kind: status for status, kind in reversed(list(ERROR_TYPES.items()))}
_NOT_RUN = {
    "canceled": (
        "batch_cancelled",
        "This request was not executed because the batch was cancelled.",
    ),
    "expired": (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
}


@dataclass
class OpenAIBatch:
    """One batch: what was asked, the Message Batch running its requests, its files."""

    id: str
    number: int
    endpoint: str
    input_file_id: str
    created_at: float
    metadata: dict[str, str] | None
    model: str | None
    runner: BatchStore  # the store running it: chat completions' or responses'
    inner: Batch | None  # None when validation failed
    errors: list[dict[str, Any]] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    files_written: bool = False


def _check_metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > MAX_METADATA_PAIRS:
        raise invalid(
            f"Invalid 'metadata': expected an object with at most {MAX_METADATA_PAIRS} pairs.",
            param="metadata",
        )
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise invalid(
                f"Invalid 'metadata.{key}': keys are at most 64 characters, values strings of "
                "at most 512.",
                param="metadata",
            )
    return dict(metadata)


def _line_error(line: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def read_input(
    content: bytes, endpoint: str, *, max_requests: int, max_bytes: int
) -> tuple[list[dict[str, Any]], str | None, list[dict[str, Any]]]:
    """`(requests, model, errors)` from a batch input file; requests are `{custom_id, params}`."""
    if len(content) > max_bytes:
        return (
            [],
            None,
            [_line_error(0, "file_too_large", f"The input file is above {max_bytes} bytes.")],
        )
    requests: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    models: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            errors.append(_line_error(number, "invalid_json_line", "This line is not valid JSON."))
            continue
        if not isinstance(line, dict):
            errors.append(
                _line_error(number, "invalid_json_line", "This line is not a JSON object.")
            )
            continue
        custom_id = line.get("custom_id")
        body = line.get("body")
        if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
            errors.append(
                _line_error(
                    number,
                    "invalid_custom_id",
                    "custom_id must be 1-64 letters, digits, '_' or '-'.",
                    "custom_id",
                )
            )
        elif custom_id in seen:
            errors.append(
                _line_error(
                    number,
                    "duplicate_custom_id",
                    f"The custom_id {custom_id!r} is used more than once.",
                    "custom_id",
                )
            )
        elif line.get("method") != "POST":
            errors.append(_line_error(number, "invalid_method", "method must be 'POST'.", "method"))
        elif line.get("url") != endpoint:
            errors.append(
                _line_error(
                    number,
                    "mismatched_endpoint",
                    f"url must be the batch's endpoint {endpoint!r}.",
                    "url",
                )
            )
        elif not isinstance(body, dict):
            errors.append(
                _line_error(number, "invalid_request", "body must be a JSON object.", "body")
            )
        else:
            seen.add(custom_id)
            models.add(str(body.get("model")))
            requests.append({"custom_id": custom_id, "params": body})
    if len(models) > 1:
        errors.append(
            _line_error(0, "mismatched_model", "Every request in a batch must use the same model.")
        )
    if len(requests) > max_requests:
        errors.append(
            _line_error(0, "too_many_requests", f"A batch holds at most {max_requests} requests.")
        )
    if not requests and not errors:
        errors.append(_line_error(0, "empty_file", "The input file has no requests."))
    return requests, (next(iter(models)) if len(models) == 1 else None), errors


class OpenAIBatchStore:
    """The OpenAI batches of one simulator instance (`max_requests` / `max_bytes` per input
    file: OpenAI's limits unless a test lowers them)."""

    def __init__(
        self,
        settings: SimulatorSettings,
        clock: Clock,
        *,
        files: FileStore,
        chat_runner: BatchStore,
        responses_runner: BatchStore,
        make_id: MakeId,
        next_number: Callable[[], int],
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.max_requests = OPENAI_BATCH_MAX_REQUESTS
        self.max_bytes = OPENAI_BATCH_MAX_BYTES
        self._files = files
        self._chat_runner = chat_runner
        self._responses_runner = responses_runner
        self._make_id = make_id
        self._next_number = next_number
        self._batches: dict[str, OpenAIBatch] = {}
        self._lock = threading.RLock()

    def create(
        self, body: Any, *, number: int, faults: Faults, endpoints: Sequence[str]
    ) -> OpenAIBatch:
        """Validate the create body (400), read the input file and start the batch."""
        if not isinstance(body, dict):
            raise invalid("Invalid request body: expected a JSON object.")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str):
                raise invalid(
                    f"Missing required parameter: '{name}'.",
                    param=name,
                    code="missing_required_parameter",
                )
        if body["endpoint"] not in endpoints:
            raise invalid(
                f"Invalid value: {body['endpoint']!r}. Supported values are: "
                + ", ".join(f"'{e}'" for e in endpoints)
                + ".",
                param="endpoint",
                code="invalid_value",
            )
        if body["completion_window"] != "24h":
            raise invalid(
                "Invalid value for 'completion_window': only '24h' is supported.",
                param="completion_window",
                code="invalid_value",
            )
        metadata = _check_metadata(body.get("metadata"))
        source = self._files.get(body["input_file_id"])
        if source.purpose != "batch":
            raise invalid(
                f"File {source.id} has purpose {source.purpose!r}; a batch needs 'batch'.",
                param="input_file_id",
            )
        requests, model, errors = read_input(
            source.content,
            body["endpoint"],
            max_requests=self.max_requests,
            max_bytes=self.max_bytes,
        )
        runner = (
            self._responses_runner if body["endpoint"].endswith("/responses") else self._chat_runner
        )
        inner = None
        if not errors:
            inner = runner.create({"requests": requests}, number=number, faults=faults)
        batch = OpenAIBatch(
            id=self._make_id("batch", number),
            number=number,
            endpoint=body["endpoint"],
            input_file_id=source.id,
            created_at=self.clock.now(),
            metadata=metadata,
            model=model,
            runner=runner,
            inner=inner,
            errors=errors,
        )
        with self._lock:
            self._batches[batch.id] = batch
        return batch

    def runs(self) -> list[Batch]:
        """The Message Batches running each batch's requests (failed batches have none),
        newest first, brought up to date: what tests inspect to see each request's outcome."""
        with self._lock:
            batches = sorted(self._batches.values(), key=lambda b: b.number, reverse=True)
            return [b.runner.get(b.inner.id) for b in batches if b.inner is not None]

    def get(self, batch_id: str) -> dict[str, Any]:
        """The Batch object, brought up to date; 404 when unknown."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise OpenAIError(404, f"No batch found with id '{batch_id}'.", param="batch_id")
            return self._view(batch)

    def list(self) -> list[dict[str, Any]]:
        """Every Batch object, newest first, brought up to date."""
        with self._lock:
            batches = sorted(self._batches.values(), key=lambda b: b.number, reverse=True)
            return [self._view(batch) for batch in batches]

    def cancel(self, batch_id: str) -> dict[str, Any]:
        """Start cancelling; 400 once the batch has ended (or failed)."""
        with self._lock:
            status = self.get(batch_id)["status"]
            batch = self._batches[batch_id]
            if status not in ("validating", "in_progress") or batch.inner is None:
                raise invalid(f"Cannot cancel a batch with status '{status}'.")
            batch.runner.cancel(batch.inner.id)
            return self._view(batch)

    def _status(self, batch: OpenAIBatch, now: float) -> tuple[str, dict[str, float | None]]:
        created = batch.created_at
        times: dict[str, float | None] = {}
        inner = batch.inner
        if inner is None:
            return "failed", {"failed_at": created}
        inner = batch.runner.get(inner.id)  # brought up to date
        start = created + self.settings.batch_start_delay
        if inner.cancel_initiated_at is not None:
            times["cancelling_at"] = inner.cancel_initiated_at
            if inner.ended_at is None:
                return "cancelling", times
            times["cancelled_at"] = inner.ended_at
            return "cancelled", times
        if inner.ended_at is None:
            if now < start:
                return "validating", times
            times["in_progress_at"] = start
            return "in_progress", times
        times["in_progress_at"] = min(start, inner.ended_at)
        if inner.counts["expired"]:
            times["expired_at"] = inner.ended_at
            return "expired", times
        times["finalizing_at"] = inner.ended_at
        finished = inner.ended_at + self.settings.batch_start_delay
        if now < finished:
            return "finalizing", times
        times["completed_at"] = finished
        return "completed", times

    def _view(self, batch: OpenAIBatch) -> dict[str, Any]:
        now = self.clock.now()
        status, times = self._status(batch, now)
        if status in ("completed", "cancelled", "expired") and not batch.files_written:
            self._write_files(batch)
        counts = batch.inner.counts if batch.inner is not None else {}
        total = len(batch.inner.items) if batch.inner is not None else 0
        failed = sum(counts.get(kind, 0) for kind in ("errored", "canceled", "expired"))
        view: dict[str, Any] = {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "model": batch.model,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": int(batch.created_at),
            "expires_at": int(batch.created_at + self.settings.batch_expiry_seconds),
            "request_counts": {
                "total": total,
                "completed": counts.get("succeeded", 0),
                "failed": failed,
            },
            "metadata": batch.metadata,
        }
        for name in (
            "in_progress_at",
            "finalizing_at",
            "completed_at",
            "failed_at",
            "expired_at",
            "cancelling_at",
            "cancelled_at",
        ):
            value = times.get(name)
            view[name] = None if value is None else int(value)
        return view

    def _result_line(
        self, batch: OpenAIBatch, step: int, custom_id: str, result: dict[str, Any]
    ) -> tuple[bool, bytes]:
        number = batch.number * 1_000_000 + step
        line: dict[str, Any] = {"id": self._make_id("batch_req", number), "custom_id": custom_id}
        outcome = result["type"]
        if outcome == "succeeded":
            line["response"] = {
                "status_code": 200,
                "request_id": self._make_id("req", number),
                "body": result["message"],
            }
            line["error"] = None
        elif outcome == "errored":
            inner = result["error"]["error"]
            error = ApiError(_STATUS_OF_TYPE.get(inner["type"], 500), inner["message"])
            status = 500 if error.status >= 500 else error.status
            body = {"error": error_object(error)}
            line["response"] = {
                "status_code": status,
                "request_id": self._make_id("req", number),
                "body": body,
            }
            line["error"] = None
        else:
            code, message = _NOT_RUN[outcome]
            line["response"] = None
            line["error"] = {"code": code, "message": message}
        return outcome == "succeeded", (json.dumps(line, separators=(",", ":")) + "\n").encode()

    def _write_files(self, batch: OpenAIBatch) -> None:
        if batch.inner is None:  # a batch that failed validation has no results to write
            return
        output: list[bytes] = []
        failures: list[bytes] = []
        for step, item in enumerate(batch.inner.items):
            if item.result is not None:
                ok, line = self._result_line(batch, step, item.custom_id, item.result)
                (output if ok else failures).append(line)
        now = int(self.clock.now())
        for lines, kind in ((output, "output"), (failures, "error")):
            if not lines:
                continue
            stored = self._files.add(
                StoredFile(
                    id=self._make_id("file", self._next_number()),
                    filename=f"{batch.id}_{kind}.jsonl",
                    purpose="batch_output",
                    content=b"".join(lines),
                    created_at=now,
                )
            )
            if kind == "output":
                batch.output_file_id = stored.id
            else:
                batch.error_file_id = stored.id
        batch.files_written = True
