"""Gemini Batch Mode (`models/{model}:batchGenerateContent`) on simulated time.

Batches run exactly as the Message Batches simulation runs them (`optimization.simulator.
batches.BatchStore`: start delay, one request per step in a shuffled order, faults, expiry,
cancel), each request answered as generateContent would answer it at its completion time.
What differs is the view: a batch is a long-running operation (`batches/{id}`) whose
`metadata.state` is BATCH_STATE_PENDING (before its first request starts), RUNNING, SUCCEEDED,
CANCELLED or EXPIRED, and whose output lists one inlined response per request *in input order*
(each its `response` or its `error`, with the request's `metadata` echoed). A batch whose
requests come in a JSONL file (`inputConfig.fileName`, lines `{"key", "request"}`) answers in a
generated JSONL file (`output.responsesFile`, lines `{"key", "response" | "error"}`, input
order).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optimization.simulator.batches import Batch, BatchStore, timestamp
from optimization.simulator.clock import Clock
from optimization.simulator.errors import ApiError
from optimization.simulator.faults import Faults
from optimization.simulator.gemini_api.errors import (
    GoogleError,
    error_object_from_anthropic,
    invalid_argument,
)
from optimization.simulator.gemini_api.files import FileStore
from optimization.simulator.gemini_api.request import model_name
from optimization.simulator.ledger import Ledger
from optimization.simulator.settings import SimulatorSettings

# ai.google.dev "Batch API": inline requests are for batches under 20 MB in total.
INLINE_MAX_BYTES = 20 * 1024 * 1024
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
_KEY = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
GeminiAnswerFn = Callable[[Any, str, float, str], dict[str, Any]]
MakeId = Callable[[str, int], str]


@dataclass(frozen=True)
class _Submitted:
    model: str
    display_name: str
    custom_ids: list[str]  # in input order
    metadata: list[Any]  # each request's `metadata` (a file line's `key`), in input order
    from_file: bool = False  # JSONL in a file: the responses go to a file too


def _unfinished(code: int, message: str) -> dict[str, Any]:
    return GoogleError(code, message).error_object()


class GeminiBatches:
    """The Gemini batches of one simulator instance."""

    def __init__(
        self,
        settings: SimulatorSettings,
        clock: Clock,
        *,
        answer: GeminiAnswerFn,
        make_id: MakeId,
        ledger: Ledger,
        files: FileStore,
    ) -> None:
        self._answer = answer
        self.files = files

        def batch_ids(prefix: str, number: int) -> str:
            # `batches/batch_…` rather than the Message Batches' `msgbatch_…`.
            return make_id("batch" if prefix == "msgbatch" else prefix, number)

        self.store = BatchStore(
            settings, clock, answer=self._answer_params, make_id=batch_ids, ledger=ledger
        )
        self.clock = clock
        self.settings = settings
        self._submitted: dict[str, _Submitted] = {}
        self._lock = threading.Lock()

    def _answer_params(self, params: Any, now: float, message_id: str, tier: str) -> dict[str, Any]:
        try:
            return self._answer(params, str(params.get("model", "")), now, message_id)
        except GoogleError as error:  # the shared store records ApiErrors as `errored`
            raise ApiError({503: 529}.get(error.code, error.code), error.message) from None

    def create(self, model: str, body: Any, *, number: int, faults: Faults) -> dict[str, Any]:
        """Validate and store a new batch; the operation as created."""
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, dict):
            raise invalid_argument("* BatchGenerateContentRequest.batch: batch is required")
        if not batch.get("displayName"):
            raise invalid_argument("* GenerateContentBatch.display_name: display_name is required")
        source = batch.get("inputConfig") or {}
        from_file = "fileName" in source
        requests: Any = (
            self._requests_in(str(source["fileName"]))
            if from_file
            else (source.get("requests") or {}).get("requests")
        )
        if not isinstance(requests, list) or not requests:
            raise invalid_argument(
                "* GenerateContentBatch.input_config.requests: requests are required"
            )
        model = model_name(model)
        keys = [
            (item.get("metadata") or {}).get("key") if isinstance(item, dict) else None
            for item in requests
        ]
        usable = all(isinstance(k, str) and _KEY.match(k) for k in keys) and len(set(keys)) == len(
            keys
        )
        custom_ids = (
            [str(k) for k in keys] if usable else [f"request-{i}" for i in range(len(requests))]
        )
        store_requests = []
        for i, item in enumerate(requests):
            if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
                raise invalid_argument(f"* requests[{i}].request: request is required")
            params = dict(item["request"])
            params.setdefault("model", f"models/{model}")
            store_requests.append({"custom_id": custom_ids[i], "params": params})
        try:
            stored = self.store.create({"requests": store_requests}, number=number, faults=faults)
        except ApiError as error:
            raise GoogleError.from_api_error(error) from None
        with self._lock:
            self._submitted[stored.id] = _Submitted(
                model,
                str(batch["displayName"]),
                custom_ids,
                [item.get("metadata") for item in requests],
                from_file,
            )
        return self.operation(stored)

    def _requests_in(self, file_name: str) -> list[dict[str, Any]]:
        """A JSONL input file's lines (`{"key", "request"}`) as inline requests."""
        try:
            stored = self.files.get(file_name, now=self.clock.now())
        except GoogleError:
            raise invalid_argument(f"inputConfig.fileName: {file_name} not found") from None
        requests = []
        for number, line in enumerate(stored.data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                raise invalid_argument(f"{file_name} line {number}: not JSON") from None
            if not isinstance(item, dict) or not isinstance(item.get("request"), dict):
                raise invalid_argument(f"{file_name} line {number}: a `request` object is required")
            requests.append({"request": item["request"], "metadata": {"key": item.get("key")}})
        return requests

    def get(self, batch_id: str) -> dict[str, Any]:
        """The operation of `batch_id`, brought up to date (404 NOT_FOUND when unknown)."""
        return self.operation(self._batch(batch_id))

    def operations(self) -> list[dict[str, Any]]:
        """Every batch's operation, newest first."""
        return [self.operation(batch) for batch in self.store.list()]

    def cancel(self, batch_id: str) -> None:
        """Start canceling (requests already answered keep their responses)."""
        self._batch(batch_id)
        self.store.cancel(batch_id)

    def delete(self, batch_id: str) -> None:
        """Forget the batch, running or not (Google's delete does not cancel it)."""
        self._batch(batch_id)
        self.store.delete(batch_id, running_ok=True)
        with self._lock:
            self._submitted.pop(batch_id, None)

    def _batch(self, batch_id: str) -> Batch:
        try:
            return self.store.get(batch_id)
        except ApiError:
            raise GoogleError(
                404, f"Requested entity was not found. (batches/{batch_id})"
            ) from None

    def _state(self, batch: Batch) -> str:
        if batch.status != "ended":
            started = self.clock.now() >= batch.created_at + self.settings.batch_start_delay
            return "BATCH_STATE_RUNNING" if started or batch.processed else "BATCH_STATE_PENDING"
        if batch.cancel_initiated_at is not None:
            return "BATCH_STATE_CANCELLED"
        if batch.counts["expired"]:
            return "BATCH_STATE_EXPIRED"
        return "BATCH_STATE_SUCCEEDED"

    def _responses(self, batch: Batch, submitted: _Submitted) -> list[dict[str, Any]]:
        by_id = {item.custom_id: item.result for item in batch.items}
        responses = []
        for custom_id, metadata in zip(submitted.custom_ids, submitted.metadata, strict=True):
            result = by_id.get(custom_id) or {"type": "expired"}
            entry: dict[str, Any]
            if result["type"] == "succeeded":
                entry = {"response": result["message"]}
            elif result["type"] == "errored":
                entry = {"error": error_object_from_anthropic(result["error"])}
            elif result["type"] == "canceled":
                entry = {
                    "error": _unfinished(499, "The batch was cancelled before this request ran.")
                }
            else:
                entry = {"error": _unfinished(504, "The batch expired before this request ran.")}
            if metadata is not None:
                entry["metadata"] = metadata
            responses.append(entry)
        return responses

    def _responses_file(self, batch: Batch, responses: list[dict[str, Any]]) -> str:
        """The name of the batch's generated JSONL results file (written once)."""
        name = f"files/{batch.id.replace('_', '-')}-responses"
        now = self.clock.now()
        try:
            self.files.get(name, now=now)
        except GoogleError:
            lines = []
            for entry in responses:
                line = {k: v for k, v in entry.items() if k != "metadata"}
                line = {"key": (entry.get("metadata") or {}).get("key"), **line}
                lines.append(json.dumps(line, separators=(",", ":")))
            self.files.put_generated(name, ("\n".join(lines) + "\n").encode(), now=now)
        return name

    def operation(self, batch: Batch) -> dict[str, Any]:
        """The long-running operation `batches/{id}` for `batch`."""
        with self._lock:
            submitted = self._submitted[batch.id]
        name = f"batches/{batch.id}"
        counts = batch.counts
        total = len(batch.items)
        finished = sum(counts.values())
        metadata: dict[str, Any] = {
            "@type": BATCH_TYPE,
            "name": name,
            "model": f"models/{submitted.model}",
            "displayName": submitted.display_name,
            "createTime": timestamp(batch.created_at),
            "updateTime": timestamp(batch.ended_at or self.clock.now()),
            "batchStats": {  # int64 fields travel as JSON strings
                "requestCount": str(total),
                "successfulRequestCount": str(counts["succeeded"]),
                "failedRequestCount": str(finished - counts["succeeded"]),
                "pendingRequestCount": str(total - finished),
            },
            "state": self._state(batch),
        }
        operation: dict[str, Any] = {"name": name, "metadata": metadata}
        if batch.ended_at is not None:
            responses = self._responses(batch, submitted)
            output: dict[str, Any]
            if submitted.from_file:
                output = {"responsesFile": self._responses_file(batch, responses)}
            else:
                output = {"inlinedResponses": {"inlinedResponses": responses}}
            metadata["endTime"] = timestamp(batch.ended_at)
            metadata["output"] = output
            operation["done"] = True
            operation["response"] = {"@type": OUTPUT_TYPE, **output}
        return operation
