"""Batch jobs for machines: submit, list, read, stream results, cancel, retry.

Mounted at /api/batches with the API's default auth (bearer token or staff session).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from ninja import Router, Schema, Status

from llmopt_admin.accounts.models import ApiToken, token_digest
from llmopt_admin.batches import selectors, services
from llmopt_admin.batches.models import BatchJob, JobMode, JobSource
from llmopt_admin.batches.validation import (
    RequestError,
    RequestsInvalid,
    ValidRequest,
    validate_requests,
)

router = Router(tags=["batches"])

MAX_BODY_BYTES = 256 * 1024 * 1024  # the provider's own limit for one batch


class ErrorOut(Schema):
    detail: str
    errors: list[dict[str, str]] = []


class CountsOut(Schema):
    succeeded: int
    errored: int
    canceled: int
    expired: int
    pending: int


class JobOut(Schema):
    id: int
    name: str
    status: str
    provider: str
    model: str
    mode: str
    source: str
    request_count: int
    counts: CountsOut
    progress_percent: int
    cost: Decimal
    baseline_cost: Decimal
    saved: Decimal
    error: str
    submitted_by: str
    parent_id: int | None
    retry_ids: list[int]
    provider_batch_ids: list[str]
    cancel_requested: bool
    created_at: datetime
    submitted_at: datetime | None
    ended_at: datetime | None
    results_url: str


class JobListOut(Schema):
    count: int
    items: list[JobOut]


class RetryIn(Schema):
    mode: Literal["batch", "standard"] = "batch"


def job_out(job: BatchJob) -> dict[str, Any]:
    """The API shape of a job."""
    return {
        "id": job.pk,
        "name": job.name,
        "status": job.status,
        "provider": job.provider,
        "model": job.model,
        "mode": job.mode,
        "source": job.source,
        "request_count": job.request_count,
        "counts": {
            "succeeded": job.succeeded_count,
            "errored": job.errored_count,
            "canceled": job.canceled_count,
            "expired": job.expired_count,
            "pending": job.request_count - job.finished_count,
        },
        "progress_percent": job.progress_percent,
        "cost": job.cost,
        "baseline_cost": job.baseline_cost,
        "saved": job.saved,
        "error": job.error,
        "submitted_by": job.submitted_by,
        "parent_id": job.parent_id,
        "retry_ids": list(job.retries.values_list("pk", flat=True)),
        "provider_batch_ids": list(job.provider_batches.values_list("batch_id", flat=True)),
        "cancel_requested": job.cancel_requested_at is not None,
        "created_at": job.created_at,
        "submitted_at": job.submitted_at,
        "ended_at": job.ended_at,
        "results_url": f"/api/batches/{job.pk}/results",
    }


def _error(status: int, detail: str, errors: list[dict[str, str]] | None = None) -> JsonResponse:
    return JsonResponse({"detail": detail, "errors": errors or []}, status=status)


def _submitter(request: HttpRequest) -> str:
    """'token:<name>' for a bearer token, else the signed-in user's name."""
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() == "bearer" and raw.strip():
        name = (
            ApiToken.objects.filter(digest=token_digest(raw.strip()))
            .values_list("name", flat=True)
            .first()
        )
        if name:
            return services.submitter_label(user=None, token_name=name)
    return services.submitter_label(user=getattr(request, "auth", None))


def _user(request: HttpRequest) -> Any:
    user = getattr(request, "auth", None)
    return user if getattr(user, "is_authenticated", False) else None


def _job_or_404(job_id: int) -> BatchJob | JsonResponse:
    try:
        return selectors.batch_job_get(job_id=job_id)
    except BatchJob.DoesNotExist:
        return _error(404, f"no batch job {job_id}")


def _error_dicts(errors: list[RequestError]) -> list[dict[str, str]]:
    return [{"where": e.where, "field": e.field, "message": e.message} for e in errors]


def _requests_from_messages(body: dict[str, Any]) -> list[tuple[str, Any]] | RequestsInvalid:
    """(where, request) pairs built from `messages` + `params` with THE one converter."""
    # LangChain and the Anthropic SDK load only when a job comes in this form, so that starting
    # the web app or a manage.py command never waits for them.
    from langchain_core.messages import convert_to_messages

    from optimization.batch_wire import default_custom_id
    from optimization.messages import messages_to_anthropic_params

    conversations = body.get("messages")
    params = body.get("params")
    if not isinstance(params, dict):
        return RequestsInvalid([RequestError("body", "params", "must be an object")], 1)
    if not isinstance(conversations, list):
        return RequestsInvalid([RequestError("body", "messages", "must be a list")], 1)
    custom_ids = body.get("custom_ids")
    if custom_ids is not None and (
        not isinstance(custom_ids, list) or len(custom_ids) != len(conversations)
    ):
        return RequestsInvalid(
            [RequestError("body", "custom_ids", "must be a list as long as messages")], 1
        )
    items: list[tuple[str, Any]] = []
    errors: list[RequestError] = []
    for i, conversation in enumerate(conversations):
        where = f"messages[{i}]"
        try:
            converted = messages_to_anthropic_params(convert_to_messages(conversation), **params)
        except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
            errors.append(RequestError(where, "", f"cannot be read as chat messages: {exc}"))
            continue
        custom_id = custom_ids[i] if custom_ids is not None else default_custom_id(i)
        items.append((where, {"custom_id": custom_id, "params": converted}))
    if errors:
        return RequestsInvalid(errors[:50], len(errors))
    return items


_SUBMIT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "Either `requests` (Anthropic's batch format) or `messages` "
                    "(chat message lists, converted exactly as ChatAnthropic converts them) "
                    "with `params` (model, max_tokens, temperature, ...). Nothing is stored "
                    "unless every request is valid.",
                    "properties": {
                        "name": {"type": "string"},
                        "mode": {"type": "string", "enum": ["batch", "standard"]},
                        "requests": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["custom_id", "params"],
                                "properties": {
                                    "custom_id": {"type": "string"},
                                    "params": {"type": "object"},
                                },
                            },
                        },
                        "messages": {
                            "type": "array",
                            "items": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "description": '{"role": "system|user|assistant", '
                                    '"content": ...}',
                                },
                            },
                        },
                        "custom_ids": {"type": "array", "items": {"type": "string"}},
                        "params": {"type": "object"},
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    response={201: JobOut, 400: ErrorOut, 413: ErrorOut, 422: ErrorOut},
    openapi_extra=_SUBMIT_BODY,
    summary="Submit a batch job",
)
def submit_job(request: HttpRequest) -> Any:
    """Store a job (requests in Anthropic's batch format, or message lists plus params) and
    submit it in the background. Poll GET /api/batches/{id}; fetch GET .../results."""
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return _error(413, f"body is {declared} bytes; the limit is {MAX_BODY_BYTES}")
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return _error(413, f"body is over the {MAX_BODY_BYTES}-byte limit")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _error(400, f"body is not JSON: {exc}")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    mode = body.get("mode", JobMode.BATCH)
    if mode not in JobMode.values:
        return _error(
            422,
            "invalid job",
            [{"where": "body", "field": "mode", "message": "must be batch or standard"}],
        )
    if ("requests" in body) == ("messages" in body):
        return _error(422, "give either requests or messages (with params), not both or neither")
    if "requests" in body:
        if not isinstance(body["requests"], list):
            return _error(422, "requests must be a list")
        items: Any = [(f"requests[{i}]", item) for i, item in enumerate(body["requests"])]
    else:
        items = _requests_from_messages(body)
        if isinstance(items, RequestsInvalid):
            return _error(422, f"{items.total} invalid request(s)", _error_dicts(items.errors))
    try:
        requests: list[ValidRequest] = validate_requests(items)
    except RequestsInvalid as invalid:
        return _error(422, f"{invalid.total} invalid request(s)", _error_dicts(invalid.errors))
    job = services.batch_job_create(
        requests=requests,
        submitted_by=_submitter(request),
        user=_user(request),
        name=str(body.get("name") or "")[:200],
        source=JobSource.API,
        mode=mode,
    )
    return Status(201, job_out(job))


@router.get("", response=JobListOut, summary="List batch jobs")
def list_jobs(
    request: HttpRequest, status: str | None = None, limit: int = 50, offset: int = 0
) -> Any:
    """Jobs, newest first; `status` filters (queued, in_progress, ended, ...)."""
    jobs = selectors.batch_job_list(status=selectors.valid_status(status))
    limit = max(1, min(limit, 500))
    offset = max(0, offset)
    return {"count": jobs.count(), "items": [job_out(j) for j in jobs[offset : offset + limit]]}


@router.get("/{job_id}", response={200: JobOut, 404: ErrorOut}, summary="One batch job")
def get_job(request: HttpRequest, job_id: int) -> Any:
    job = _job_or_404(job_id)
    return job if isinstance(job, JsonResponse) else job_out(job)


@router.get(
    "/{job_id}/results",
    response={200: None, 404: ErrorOut},
    summary="A job's results as JSONL",
    openapi_extra={
        "responses": {
            "200": {
                "description": "One JSON object per line, in input order: custom_id, position, "
                "outcome, output_text, output, error, usage, cost, baseline_cost.",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        }
    },
)
def get_results(request: HttpRequest, job_id: int, outcome: str | None = None) -> Any:
    """Streamed from the database; `outcome` keeps only succeeded, errored, ... requests."""
    job = _job_or_404(job_id)
    if isinstance(job, JsonResponse):
        return job
    return StreamingHttpResponse(
        selectors.batch_job_results_jsonl(job=job, outcome=selectors.valid_outcome(outcome)),
        content_type="application/x-ndjson",
    )


@router.post(
    "/{job_id}/cancel",
    response={200: JobOut, 404: ErrorOut, 409: ErrorOut},
    summary="Cancel a batch job",
)
def cancel_job(request: HttpRequest, job_id: int) -> Any:
    """Ask the worker to cancel; requests that already finished keep their results."""
    job = _job_or_404(job_id)
    if isinstance(job, JsonResponse):
        return job
    try:
        services.batch_job_cancel(job=job)
    except services.JobActionRefused as refused:
        return _error(409, str(refused))
    return job_out(job)


@router.post(
    "/{job_id}/retry",
    response={201: JobOut, 404: ErrorOut, 409: ErrorOut},
    summary="Retry a job's errored and expired requests as a new, linked job",
)
def retry_job(request: HttpRequest, job_id: int, payload: RetryIn) -> Any:
    job = _job_or_404(job_id)
    if isinstance(job, JsonResponse):
        return job
    try:
        retry = services.batch_job_retry(
            job=job, mode=payload.mode, submitted_by=_submitter(request), user=_user(request)
        )
    except services.JobActionRefused as refused:
        return _error(409, str(refused))
    return Status(201, job_out(retry))
