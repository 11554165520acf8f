"""The google-genai side of the batch flows: each effect as a `google.genai.Client.aio` call,
and the rules the create-once flow follows for Gemini (`optimization.batch_create.
CreationRules`).

The shared flows speak of `status_code`s, `.id`s and pages with `.data`; google-genai raises
`errors.APIError` (`.code`) or the HTTP library's own transport errors, names batches
`batches/…` and pages with an `AsyncPager`. `perform` translates both ways: every SDK error
becomes a `GeminiStatusError` or `GeminiConnectionError`, every listed batch a `ListedBatch`.

Creating a batch is one call sent once (`models/{model}:batchGenerateContent`, the SDK's
retries off), inline, or above `GeminiBatchBody.inline_max_bytes` naming a JSONL file uploaded
first (once per group: a create sent again reuses it). Its display name carries the state
store's intent id, so after a lost create response the batch listed under that name is the
one to adopt, never a guess.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from optimization._batch_core import BatchStatus
from optimization._batch_io import (
    LIST_PAGE_SIZE,
    CancelBatch,
    CreateBatch,
    Effect,
    ListBatches,
    NextPage,
    RetrieveBatch,
    Sleep,
)
from optimization._gemini_adapter import TRANSPORT_ERRORS, post_json, post_json_sync
from optimization.batch_create import CreationRules
from optimization.batch_state import SubmitIntent
from optimization.batch_wire import BatchRequest

T = TypeVar("T")

DISPLAY_NAME_PREFIX = "llmopt-"
ENDED = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
    }
)
# What a poll sends again (as google-genai's own retry rule: 408, 429, 5xx; 409 like Anthropic).
_RETRIED_STATUSES = frozenset({408, 409, 429})
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


class GeminiAPIError(Exception):
    """An error of a Gemini call, as the shared flows see it."""


class GeminiStatusError(GeminiAPIError):
    """The API answered with an error status (`status_code`, Google's `status`, `details`)."""

    def __init__(self, sdk_error: genai_errors.APIError) -> None:
        super().__init__(str(sdk_error))
        self.status_code: int = sdk_error.code or 0
        self.status = sdk_error.status
        self.details = sdk_error.details
        self.response = sdk_error.response


class GeminiNotFoundError(GeminiStatusError):
    """404: the API does not know the batch (or file) named."""


class GeminiConnectionError(GeminiAPIError):
    """The connection broke or timed out: whether the call took effect is unknown."""


@contextmanager
def sdk_errors() -> Iterator[None]:
    """Raise the SDK's errors inside the block as the shared flows' (see the module doc)."""
    try:
        yield
    except genai_errors.APIError as exc:
        raise (GeminiNotFoundError if exc.code == 404 else GeminiStatusError)(exc) from exc
    except TRANSPORT_ERRORS as exc:
        raise GeminiConnectionError(f"{type(exc).__name__}: {exc}") from exc


async def translated(call: Awaitable[T]) -> T:
    """Await an SDK call, raising its errors as the shared flows' (see the module doc)."""
    with sdk_errors():
        return await call


def display_name(intent_id: str) -> str:
    """The display name of a batch created under `intent_id` (what finds it again)."""
    return f"{DISPLAY_NAME_PREFIX}{intent_id}"


@dataclass(frozen=True)
class ListedBatch:
    """A batch as the create flow sees it: id (`batches/…`), display name, creation time."""

    id: str
    display_name: str
    created_at: float

    @classmethod
    def of_job(cls, job: types.BatchJob) -> ListedBatch:
        created = job.create_time.timestamp() if job.create_time is not None else 0.0
        return cls(job.name or "", job.display_name or "", created)


@dataclass(frozen=True)
class ListedPage:
    """One page of listed batches; `pager` fetches the next."""

    data: list[ListedBatch]
    pager: Any

    def has_next_page(self) -> bool:
        return bool(self.pager.config.get("page_token"))


class GeminiBatchBody:
    """The requests of one batch, `requests[positions]`, each keyed by its custom_id, sent
    inline up to `inline_max_bytes` or else as an uploaded JSONL file (`file_name` once it
    is uploaded)."""

    def __init__(
        self,
        requests: Sequence[BatchRequest],
        positions: range,
        *,
        model: str,
        inline_max_bytes: int,
    ) -> None:
        self.requests = [requests[i] for i in positions]
        self.model = model
        self.inline_max_bytes = inline_max_bytes
        self.size = sum(len(request.body) + len(request.custom_id) for request in self.requests)
        self.file_name: str | None = None

    @property
    def inline(self) -> bool:
        """Whether the requests travel inline."""
        return self.size <= self.inline_max_bytes

    @property
    def needs_upload(self) -> bool:
        """Whether the input file is still to be uploaded (once: a create sent again reuses it)."""
        return not self.inline and self.file_name is None

    @property
    def create_path(self) -> str:
        """The create call's path, relative to the API version."""
        return f"models/{self.model}:batchGenerateContent"

    def as_json(self, name: str) -> dict[str, Any]:
        """The `batchGenerateContent` body under display name `name`."""
        source: dict[str, Any]
        if self.inline:
            inline = [
                {"request": request.params, "metadata": {"key": request.custom_id}}
                for request in self.requests
            ]
            source = {"requests": {"requests": inline}}
        else:
            source = {"fileName": self.file_name}
        return {"batch": {"displayName": name, "inputConfig": source}}

    def write_jsonl_in(self, directory: str) -> str:
        """Write the input file into `directory`; its path."""
        path = os.path.join(directory, "requests.jsonl")
        self.write_jsonl(path)
        return path

    def uploaded(self, file: types.File) -> None:
        """The input file is uploaded as `file`: creates name it from now on."""
        self.file_name = file.name

    def write_jsonl(self, path: str) -> None:
        """Write the input file: one `{"key": custom_id, "request": {...}}` line a request."""
        with open(path, "wb") as handle:
            for request in self.requests:
                handle.write(b'{"key":"' + request.custom_id.encode() + b'","request":')
                handle.write(request.body)
                handle.write(b"}\n")


def _upload_config(name: str) -> types.UploadFileConfig:
    return types.UploadFileConfig(mime_type="jsonl", display_name=name)


def _created(response: dict[str, Any], name: str) -> ListedBatch:
    return ListedBatch(str(response["name"]), name, 0.0)


async def _create(client: genai.Client, body: GeminiBatchBody, intent_id: str) -> ListedBatch:
    name = display_name(intent_id)
    if body.needs_upload:
        with tempfile.TemporaryDirectory(prefix="gemini-batch-") as directory:
            path = await asyncio.to_thread(body.write_jsonl_in, directory)
            body.uploaded(await client.aio.files.upload(file=path, config=_upload_config(name)))
    return _created(await post_json(client, body.create_path, body.as_json(name)), name)


def _create_sync(client: genai.Client, body: GeminiBatchBody, intent_id: str) -> ListedBatch:
    name = display_name(intent_id)
    if body.needs_upload:
        with tempfile.TemporaryDirectory(prefix="gemini-batch-") as directory:
            file = body.write_jsonl_in(directory)
            body.uploaded(client.files.upload(file=file, config=_upload_config(name)))
    return _created(post_json_sync(client, body.create_path, body.as_json(name)), name)


def _page(pager: Any) -> ListedPage:
    return ListedPage([ListedBatch.of_job(job) for job in pager.page], pager)


def _call(
    effect: Effect, batches: Any, create: Callable[..., Any], sleep: Callable[[float], Any]
) -> Any:
    """The SDK call (sync, or a coroutine with the async SDK) that carries out `effect`."""
    match effect:
        case CreateBatch(body=GeminiBatchBody() as body, intent_id=intent_id):
            return create(body, intent_id)
        case ListBatches():
            return batches.list(config={"page_size": LIST_PAGE_SIZE})
        case NextPage(page=ListedPage(pager=pager)):
            return pager.next_page()
        case RetrieveBatch(batch_id=batch_id):
            return batches.get(name=batch_id)
        case CancelBatch(batch_id=batch_id):
            return batches.cancel(name=batch_id)
        case Sleep(seconds=seconds):
            return sleep(seconds)
    raise TypeError(f"no google-genai call for {effect!r}")


def _as_flow_sees(effect: Effect, result: Any) -> Any:
    """A call's result as the flow wants it: a listed page as a `ListedPage`."""
    match effect:
        case ListBatches():
            return _page(result)
        case NextPage(page=ListedPage(pager=pager)):
            return _page(pager)
    return result


async def perform(
    effect: Effect, client: genai.Client, sleep: Callable[[float], Awaitable[None]]
) -> Any:
    """Carry out one effect of a batch flow with `client.aio`."""
    call = _call(effect, client.aio.batches, functools.partial(_create, client), sleep)
    return _as_flow_sees(effect, await translated(call))


def perform_sync(effect: Effect, client: genai.Client, sleep: Callable[[float], None]) -> Any:
    """Carry out one effect of a batch flow with the sync `client`."""
    with sdk_errors():
        result = _call(effect, client.batches, functools.partial(_create_sync, client), sleep)
    return _as_flow_sees(effect, result)


def gemini_would_retry(exc: BaseException | None) -> bool:
    """Whether a Gemini call's error is worth sending again later (connection trouble, 408,
    409, 429, 5xx)."""
    if isinstance(exc, GeminiConnectionError):
        return True
    if isinstance(exc, GeminiStatusError):
        return exc.status_code >= 500 or exc.status_code in _RETRIED_STATUSES
    return False


def _retry_after(exc: Exception) -> float | None:
    """Google's `RetryInfo.retryDelay` ("30s"), else a `Retry-After` header, else None."""
    details = getattr(exc, "details", None)
    error = details.get("error", {}) if isinstance(details, dict) else {}
    for detail in error.get("details") or []:
        delay = detail.get("retryDelay", "") if isinstance(detail, dict) else ""
        match = _DELAY.match(str(delay))
        if match:
            return float(match[1])
    response = getattr(exc, "response", None)
    header = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None


def _made_for(batch: ListedBatch, intent: SubmitIntent) -> bool:
    return batch.display_name == display_name(intent.intent_id)


def _created_at(batch: ListedBatch) -> float:
    return batch.created_at


GEMINI_RULES = CreationRules(
    api_error=GeminiAPIError,
    status_error=GeminiStatusError,
    connection_error=GeminiConnectionError,
    should_retry=gemini_would_retry,
    retry_after=_retry_after,
    refused_statuses=frozenset({429}),  # RESOURCE_EXHAUSTED: refused before anything was made
    matches=_made_for,
    created_at=_created_at,
    listed_newest_first=False,  # the order of `GET /v1beta/batches` is not documented
)


def job_state(job: types.BatchJob) -> str:
    """The job's state name (`JOB_STATE_…`)."""
    state = job.state
    return state.value if isinstance(state, types.JobState) else str(state or "")


def gemini_batch_status(job: types.BatchJob, total: int) -> BatchStatus:
    """A Gemini batch job as a `BatchStatus`, in the Message Batches' words (`ended` once
    succeeded, failed, cancelled or expired). Tallies come from inline responses; a batch
    answered in a file reports them once collected."""
    state = job_state(job)
    succeeded = errored = 0
    for item in (job.dest.inlined_responses or []) if job.dest is not None else []:
        if item.response is not None:
            succeeded += 1
        else:
            errored += 1
    unanswered = {"JOB_STATE_CANCELLED": "canceled", "JOB_STATE_EXPIRED": "expired"}
    outcome = unanswered.get(state)
    if state in ENDED:
        processing_status = "ended"
    elif state == "JOB_STATE_CANCELLING":
        processing_status = "canceling"
    else:
        processing_status = "in_progress"
    return BatchStatus(
        batch_id=job.name or "",
        processing_status=processing_status,
        succeeded=succeeded,
        errored=0 if outcome else errored,
        canceled=errored if outcome == "canceled" else 0,
        expired=errored if outcome == "expired" else 0,
        processing=0 if state in ENDED else max(total - succeeded - errored, 0),
    )


__all__ = [
    "ENDED",
    "GEMINI_RULES",
    "GeminiAPIError",
    "GeminiBatchBody",
    "GeminiConnectionError",
    "GeminiNotFoundError",
    "GeminiStatusError",
    "ListedBatch",
    "ListedPage",
    "display_name",
    "gemini_batch_status",
    "gemini_would_retry",
    "job_state",
    "perform",
    "perform_sync",
    "sdk_errors",
    "translated",
]
