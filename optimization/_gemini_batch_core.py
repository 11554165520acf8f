"""What the sync and async Gemini batch clients share besides the flows and their SDK calls:
limits, rules, request bodies, status reading, and how a batch's responses (inline or from
its results file) become `RawBatchResult`s and LangChain results (`GeminiBatchCore`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from google.genai import types
from langchain_core.messages import AIMessage

from optimization._batch_core import (
    BatchClientCore,
    BatchItemResult,
    BatchStatus,
    Collected,
    SubmittedBatch,
    item_from_raw,
)
from optimization._gemini_adapter import ai_message
from optimization._gemini_batch_io import (
    ENDED,
    GEMINI_RULES,
    GeminiBatchBody,
    gemini_batch_status,
    job_state,
)
from optimization.batch_create import CreationRules
from optimization.batch_wire import BatchRequest, Outcome, RawBatchResult
from optimization.capabilities import GEMINI_BATCH_MAX_BYTES
from optimization.exceptions import BatchError
from optimization.pricing import TokenUsage

logger = logging.getLogger(__name__)

ClientT = TypeVar("ClientT")
SleepT = TypeVar("SleepT")

# ai.google.dev "Batch API" (read 2026-11-30): inline requests suit batches under 20 MB in
# total; larger ones go as a JSONL input file of up to 2 GB (the capability table's figure).
# One MiB (inline) or 64 MiB (file) stays free for the framing, a few bytes a request wider
# than the Message Batches framing `split_requests` measures.
GEMINI_INLINE_MAX_BYTES = 20 * 1024 * 1024
INLINE_MAX_BYTES = GEMINI_INLINE_MAX_BYTES - 1024 * 1024
MAX_BYTES_PER_GEMINI_BATCH = GEMINI_BATCH_MAX_BYTES - 64 * 1024 * 1024
# No request-count limit is documented for Gemini batches: the byte limit binds first.
MAX_REQUESTS_PER_GEMINI_BATCH = 1_000_000
# What a request without a response ends as, by the state the batch ended in.
UNANSWERED: Mapping[str, Outcome] = {
    "JOB_STATE_CANCELLED": "canceled",
    "JOB_STATE_EXPIRED": "expired",
}


def token_usage(usage: types.GenerateContentResponseUsageMetadata | None) -> TokenUsage:
    """Tokens by kind: `promptTokenCount` includes the cached part, reported apart."""
    if usage is None:
        return TokenUsage()
    cached = usage.cached_content_token_count or 0
    return TokenUsage(
        input_tokens=max((usage.prompt_token_count or 0) - cached, 0),
        cache_read_tokens=cached,
        output_tokens=(usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0),
    )


def response_json(response: types.GenerateContentResponse) -> dict[str, Any]:
    """A `GenerateContentResponse` as the REST JSON the API sends (camelCase, no SDK extras)."""
    sent: dict[str, Any] = response.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"sdk_http_response"}
    )
    return sent


def raw_from_gemini(
    position: int, custom_id: str, response: dict[str, Any], *, batch_id: str = ""
) -> RawBatchResult:
    """A succeeded result from a `GenerateContentResponse` JSON (also a standard-API call's)."""
    parsed = types.GenerateContentResponse.model_validate(response)
    usage = token_usage(parsed.usage_metadata)
    return RawBatchResult(position, custom_id, "succeeded", response, None, None, usage, batch_id)


def gemini_ai_message(response: dict[str, Any], extra: dict[str, Any]) -> AIMessage:
    """The AIMessage ChatGoogleGenerativeAI builds for a response JSON, with `extra` in its
    response_metadata (an empty message when it builds none)."""
    message = ai_message(types.GenerateContentResponse.model_validate(response)) or AIMessage("")
    metadata = {**message.response_metadata, **extra}
    return message.model_copy(update={"response_metadata": metadata})


def item_from_gemini_raw(raw: RawBatchResult) -> BatchItemResult:
    """The LangChain view of a raw Gemini result (see `gemini_ai_message`)."""
    return item_from_raw(raw, gemini_ai_message)


def _raw(
    output: types.InlinedResponse, custom_id: str, position: int, state: str, batch_id: str
) -> RawBatchResult:
    """One response as a `RawBatchResult`: succeeded when it holds a candidate."""
    response = output.response
    if response is not None and ai_message(response) is not None:
        return raw_from_gemini(position, custom_id, response_json(response), batch_id=batch_id)
    error = output.error
    text = f"{error.code}: {error.message}" if error is not None else "no candidate"
    details = error.model_dump(mode="json", exclude_none=True) if error is not None else None
    outcome: Outcome = "errored" if response is not None else UNANSWERED.get(state, "errored")
    return RawBatchResult(position, custom_id, outcome, None, details, text, TokenUsage(), batch_id)


def read_responses(path: str) -> list[types.InlinedResponse]:
    """The lines of a downloaded results file as inline responses, in file order."""
    with open(path, "rb") as handle:
        return [_file_response(line) for line in handle if line.strip()]


def _file_response(line: bytes) -> types.InlinedResponse:
    """A results-file line (`{"key", "response" | "error"}`) as an inline response."""
    data = json.loads(line)
    key = data.get("key")
    metadata = {"key": str(key)} if key is not None else None
    if isinstance(data.get("response"), dict):
        response = types.GenerateContentResponse.model_validate(data["response"])
        return types.InlinedResponse(response=response, metadata=metadata)
    error = data.get("error") or {}
    return types.InlinedResponse(
        error=types.JobError(code=error.get("code"), message=error.get("message")),
        metadata=metadata,
    )


def results_file(job: types.BatchJob) -> str | None:
    """The name of the job's results file (None: its responses are inline)."""
    return (job.dest.file_name if job.dest is not None else None) or None


def inline_responses(job: types.BatchJob) -> list[types.InlinedResponse]:
    """The job's inline responses, in input order."""
    return list(job.dest.inlined_responses or []) if job.dest is not None else []


def ended_job(job: types.BatchJob, batch_id: str) -> str:
    """The state of `job`; a BatchError when it has not ended (its results may still come)."""
    state = job_state(job)
    if state not in ENDED:
        raise BatchError(
            f"batch {batch_id} has not ended ({state}): poll it first", batch_id=batch_id
        )
    return state


class GeminiBatchCore(BatchClientCore[ClientT, SleepT]):
    """The Gemini Batch API's side of a batch client, sync or async.

    `model` names the model every request runs on; a batch above `inline_max_bytes` goes as
    an uploaded file. See `BatchClientCore` for the other options.
    """

    rules: ClassVar[CreationRules] = GEMINI_RULES
    provider_max_requests: ClassVar[int] = MAX_REQUESTS_PER_GEMINI_BATCH
    provider_max_bytes: ClassVar[int] = MAX_BYTES_PER_GEMINI_BATCH

    def __init__(
        self,
        client: ClientT,
        *,
        model: str,
        inline_max_bytes: int = INLINE_MAX_BYTES,
        **options: Any,
    ) -> None:
        options.setdefault("max_requests", MAX_REQUESTS_PER_GEMINI_BATCH)
        options.setdefault("max_bytes", MAX_BYTES_PER_GEMINI_BATCH)
        super().__init__(client, model=model.removeprefix("models/"), **options)
        self.inline_max_bytes = min(inline_max_bytes, INLINE_MAX_BYTES)

    def _body(self, requests: Sequence[BatchRequest], positions: range) -> GeminiBatchBody:
        return GeminiBatchBody(
            requests, positions, model=self.model, inline_max_bytes=self.inline_max_bytes
        )

    def _status_of(self, batch: Any) -> BatchStatus:
        record = self.state_store.load(batch.name or "")
        return gemini_batch_status(batch, len(record.custom_ids) if record is not None else 0)

    def _raws(
        self, job: types.BatchJob, batch_id: str, outputs: Sequence[types.InlinedResponse]
    ) -> Iterator[RawBatchResult]:
        """A result for each response in `outputs` whose request the store maps: by its key
        when echoed, else by its place (responses come in input order)."""
        ids = self._custom_id_map(batch_id)
        in_order = sorted(ids, key=ids.__getitem__)
        state = job_state(job)
        for index, output in enumerate(outputs):
            key = (output.metadata or {}).get("key")
            custom_id = key if key in ids else in_order[index] if index < len(in_order) else None
            if custom_id is None:
                logger.warning("batch %s returned more responses than requests", batch_id)
            else:
                yield _raw(output, custom_id, ids[custom_id], state, batch_id)

    def _collect_into(
        self,
        collected: Collected,
        batch: SubmittedBatch,
        job: types.BatchJob,
        outputs: Sequence[types.InlinedResponse],
    ) -> None:
        """Add `batch`'s results from its ended `job`'s `outputs`, then its missing ones."""
        for raw in self._raws(job, batch.batch_id, outputs):
            if raw.custom_id in batch.custom_ids:
                collected.add(item_from_gemini_raw(raw))
        state = job_state(job)
        collected.batch_read(
            batch,
            missing=UNANSWERED.get(state, "errored"),
            error=f"no response: the batch ended {state}",
        )


__all__ = [
    "INLINE_MAX_BYTES",
    "MAX_BYTES_PER_GEMINI_BATCH",
    "MAX_REQUESTS_PER_GEMINI_BATCH",
    "UNANSWERED",
    "GeminiBatchCore",
    "ended_job",
    "gemini_ai_message",
    "inline_responses",
    "item_from_gemini_raw",
    "raw_from_gemini",
    "read_responses",
    "response_json",
    "results_file",
    "token_usage",
]
