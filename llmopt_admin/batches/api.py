"""Batch jobs for machines: submit, list, read, stream results, cancel, retry.

Mounted at /api/batches with the API's default auth (bearer token or staff session).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from ninja import Query, Router, Status

from llmopt_admin.accounts.models import ApiToken, token_digest
from llmopt_admin.batches import selectors, services
from llmopt_admin.batches.models import (
    BatchJob,
    JobMode,
    JobProvider,
    JobSource,
    JobStatus,
    Outcome,
)
from llmopt_admin.batches.schemas import (
    BIGINT,
    MAX_LIMIT,
    MAX_NAME_LENGTH,
    BatchErrorOut,
    BatchJobListOut,
    BatchJobOut,
    BatchListQuery,
    BatchResultsQuery,
    BatchRetryIn,
    BatchSubmitIn,
)
from llmopt_admin.batches.validation import (
    CUSTOM_ID_PATTERN,
    CUSTOM_ID_RULE,
    RequestError,
    RequestsInvalid,
    ValidRequest,
    job_model_errors,
    json_value_errors,
    validate_requests,
)
from llmopt_admin.openapi import ValidationErrorOut, json_body
from llmopt_admin.savings.validation import (
    declared_length,
    field_name,
    json_body_load,
    text_problem,
)

router = Router(tags=["batches"])

MAX_BODY_BYTES = 256 * 1024 * 1024  # the provider's own limit for one batch
BODY_KEYS = frozenset(BatchSubmitIn.model_fields)
MESSAGES_ONLY_KEYS = ("custom_ids", "params")

# OpenAPI links (followed by clients and by the schemathesis run): a job's id leads to it.
_JOB_ID = {"job_id": "$response.body#/id"}
_JOB_LINKS = {
    "GetJob": {"operationId": "llmopt_admin_batches_api_get_job", "parameters": _JOB_ID},
    "GetResults": {"operationId": "llmopt_admin_batches_api_get_results", "parameters": _JOB_ID},
    "CancelJob": {"operationId": "llmopt_admin_batches_api_cancel_job", "parameters": _JOB_ID},
    "RetryJob": {"operationId": "llmopt_admin_batches_api_retry_job", "parameters": _JOB_ID},
}
# A 422 is this API's own (BatchErrorOut) or django-ninja's, for a parameter or body that does
# not fit the operation's types (ValidationErrorOut).
Invalid = BatchErrorOut | ValidationErrorOut


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


def _read_json(request: HttpRequest) -> Any:
    """The request's JSON body, or a 413/400 JsonResponse saying why there is none."""
    declared = request.headers.get("Content-Length", "")
    if (declared_length(declared) or 0) > MAX_BODY_BYTES:
        return _error(413, f"body is {declared[:40]} bytes; the limit is {MAX_BODY_BYTES}")
    # Read here, not by a ninja schema, so the limit applies to chunked bodies too.
    raw = request.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return _error(413, f"body is over the {MAX_BODY_BYTES}-byte limit")
    try:
        # Parts too deep or too long to read stay in place as markers the checks name.
        return json_body_load(raw)
    except ValueError as exc:  # also UnicodeDecodeError
        return _error(
            400, f"body is not JSON: {exc}", [{"where": "body", "field": "", "message": str(exc)}]
        )


def _name_error(name: Any) -> str | None:
    if name is None:
        return None
    if not isinstance(name, str):
        return "must be a string"
    if len(name) > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters (got {len(name)})"
    return text_problem(name)


def _body_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    """What is wrong with the body's own fields (not its requests)."""
    unknown = f"is not allowed (only {', '.join(sorted(BODY_KEYS))})"
    errors = [
        {"where": "body", "field": field_name(key), "message": unknown}
        for key in sorted(set(body) - BODY_KEYS)
    ]
    if (problem := _name_error(body.get("name"))) is not None:
        errors.append({"where": "body", "field": "name", "message": problem})
    mode = body.get("mode", JobMode.BATCH)
    if not isinstance(mode, str) or mode not in JobMode.values:
        errors.append({"where": "body", "field": "mode", "message": "must be batch or standard"})
    errors.extend(
        {"where": "body", "field": field, "message": message}
        for field, message in job_model_errors(
            body.get("provider", JobProvider.ANTHROPIC), body.get("model")
        )
    )
    if "requests" in body:
        errors.extend(
            {"where": "body", "field": key, "message": "goes with messages, not requests"}
            for key in MESSAGES_ONLY_KEYS
            if key in body
        )
    return errors


def _requests_from_messages(body: dict[str, Any]) -> list[tuple[str, Any]] | RequestsInvalid:
    """(where, request) pairs built from `messages` + `params` with THE one converter."""
    # LangChain and the Anthropic SDK load only when a job comes in this form, so that starting
    # the web app or a manage.py command never waits for them.
    from langchain_core.messages import convert_to_messages

    from optimization.batch_wire import default_custom_id

    to_params = _params_builder(body.get("provider", JobProvider.ANTHROPIC), body.get("model"))
    conversations = body.get("messages")
    params = body.get("params")
    if not isinstance(params, dict):
        return RequestsInvalid([RequestError("body", "params", "must be an object")], 1)
    if not isinstance(conversations, list) or not conversations:
        return RequestsInvalid(
            [RequestError("body", "messages", "must be a non-empty list of conversations")], 1
        )
    if all(isinstance(item, dict) for item in conversations):
        return RequestsInvalid([RequestError("body", "messages", _FLAT_MESSAGES)], 1)
    custom_ids = body.get("custom_ids")
    if custom_ids is not None and (
        not isinstance(custom_ids, list) or len(custom_ids) != len(conversations)
    ):
        return RequestsInvalid(
            [RequestError("body", "custom_ids", "must be a list as long as messages")], 1
        )
    # Checked before the converter sees them (it copies them into every request).
    errors = [
        RequestError("body", field, message)
        for field, message in json_value_errors(params, "params")
    ]
    if "messages" in params or "system" in params:
        errors.append(RequestError("body", "params", _PARAMS_HOLD_MESSAGES))
    errors.extend(
        RequestError("body", f"custom_ids[{i}]", CUSTOM_ID_RULE)
        for i, custom_id in enumerate(custom_ids or ())
        if not isinstance(custom_id, str) or not CUSTOM_ID_PATTERN.fullmatch(custom_id)
    )
    if errors:
        return RequestsInvalid(errors[:50], len(errors))
    items: list[tuple[str, Any]] = []
    for i, conversation in enumerate(conversations):
        where = f"messages[{i}]"
        problem = _conversation_error(conversation)
        if problem is not None:
            errors.append(RequestError(where, "", problem))
            continue
        try:
            converted = to_params(convert_to_messages(conversation), params)
        # The converter is LangChain's: whatever it raises on a message it cannot read is that
        # message's fault, reported with its position.
        except _CONVERTER_ERRORS as exc:
            errors.append(RequestError(where, "", f"cannot be read as chat messages: {exc}"))
            continue
        custom_id = custom_ids[i] if custom_ids is not None else default_custom_id(i)
        items.append((where, {"custom_id": custom_id, "params": converted}))
    if errors:
        return RequestsInvalid(errors[:50], len(errors))
    return items


def _params_builder(
    provider: str, model: Any
) -> Callable[[list[Any], dict[str, Any]], dict[str, Any]]:
    """How a conversation and the shared params become one request's params for `provider`:
    as ChatAnthropic converts messages, as ChatGoogleGenerativeAI prepares a call of the job's
    `model` (params are its call arguments) for Gemini, or as langchain-openai does for
    OpenAI's family."""
    if provider == JobProvider.ANTHROPIC:
        from optimization.messages import messages_to_anthropic_params

        return lambda messages, params: messages_to_anthropic_params(messages, **params)
    if provider == JobProvider.GEMINI:
        from langchain_google_genai import ChatGoogleGenerativeAI

        from optimization.gemini_batches import gemini_batch_requests

        # Only converts: the key is never sent anywhere.
        chat = ChatGoogleGenerativeAI(model=str(model), google_api_key="conversion-only")

        def gemini_params(messages: list[Any], params: dict[str, Any]) -> dict[str, Any]:
            request = gemini_batch_requests(chat, [messages], params)[0].params
            # The batch names the job's model once; a request naming it too is refused.
            return {key: value for key, value in request.items() if key != "model"}

        return gemini_params
    from langchain_core.messages import convert_to_openai_messages

    return lambda messages, params: {**params, "messages": convert_to_openai_messages(messages)}


_CONVERTER_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    RecursionError,
)
_FLAT_MESSAGES = (
    "is a list of messages; it must be a list of conversations, each a list of messages: "
    '[[{"role": "user", "content": "..."}], ...]'
)
_PARAMS_HOLD_MESSAGES = 'must not hold "messages" or "system": they come from each conversation'


def _conversation_error(conversation: Any) -> str | None:
    """Why `conversation` is not a list of message objects (the converter would read a string
    as one message per character and an object as one message per key)."""
    if not isinstance(conversation, list) or not conversation:
        return "must be a non-empty list of messages (objects with role and content)"
    for k, message in enumerate(conversation):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            return f"message {k} must be an object with role and content"
    return None


@router.post(
    "",
    response={201: BatchJobOut, 400: BatchErrorOut, 413: BatchErrorOut, 422: BatchErrorOut},
    openapi_extra={**json_body(BatchSubmitIn), "responses": {201: {"links": _JOB_LINKS}}},
    summary="Submit a batch job",
)
def submit_job(request: HttpRequest) -> Any:
    """Store a job (requests in Anthropic's batch format, or message lists plus params) and
    submit it in the background. Poll GET /api/batches/{id}; fetch GET .../results."""
    body = _read_json(request)
    if isinstance(body, JsonResponse):
        return body
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    errors = _body_errors(body)
    if errors:
        return _error(422, "invalid job", errors)
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
    provider = body.get("provider", JobProvider.ANTHROPIC)
    model = body.get("model")
    try:
        requests: list[ValidRequest] = validate_requests(items, provider=provider, model=model)
    except RequestsInvalid as invalid:
        return _error(422, f"{invalid.total} invalid request(s)", _error_dicts(invalid.errors))
    job = services.batch_job_create(
        requests=requests,
        submitted_by=_submitter(request),
        user=_user(request),
        name=body.get("name") or "",
        source=JobSource.API,
        mode=body.get("mode", JobMode.BATCH),
        provider=provider,
        model=model,
    )
    return Status(201, job_out(job))


@router.get("", response={200: BatchJobListOut, 422: Invalid}, summary="List batch jobs")
def list_jobs(request: HttpRequest, query: Query[BatchListQuery]) -> Any:
    """Jobs, newest first; `status` filters (queued, in_progress, ended, ...). `limit` is held
    to 1-500 and a negative `offset` to 0; beyond 64 bits either is refused."""
    status, limit, offset = query.status, query.limit, query.offset
    errors = []
    if status and selectors.valid_status(status) is None:
        errors.append(_query_error("status", f"must be one of {', '.join(JobStatus.values)}"))
    if not -BIGINT <= limit < BIGINT:
        errors.append(_query_error("limit", f"must be a whole number from 1 to {MAX_LIMIT}"))
    if not -BIGINT <= offset < BIGINT - MAX_LIMIT:
        errors.append(_query_error("offset", f"must be a whole number from 0 to {BIGINT - 1}"))
    if errors:
        return _error(422, "invalid query", errors)
    jobs = selectors.batch_job_list(status=status or None)
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    return {"count": jobs.count(), "items": [job_out(j) for j in jobs[offset : offset + limit]]}


def _query_error(field: str, message: str) -> dict[str, str]:
    return {"where": "query", "field": field, "message": message}


@router.get(
    "/{job_id}",
    response={200: BatchJobOut, 404: BatchErrorOut, 422: Invalid},
    summary="One batch job",
)
def get_job(request: HttpRequest, job_id: int) -> Any:
    job = _job_or_404(job_id)
    return job if isinstance(job, JsonResponse) else job_out(job)


@router.get(
    "/{job_id}/results",
    response={200: None, 404: BatchErrorOut, 422: Invalid},
    summary="A job's results as JSONL",
    openapi_extra={
        "responses": {
            200: {
                "description": "One JSON object per line, in input order: custom_id, position, "
                "outcome, output_text, output, error, usage, cost, baseline_cost.",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        }
    },
)
def get_results(request: HttpRequest, job_id: int, query: Query[BatchResultsQuery]) -> Any:
    """Streamed from the database; `outcome` keeps only succeeded, errored, ... requests."""
    outcome = query.outcome
    if outcome and selectors.valid_outcome(outcome) is None:
        # Checked before the stream starts: a stream cannot turn into an error once begun.
        message = f"must be one of {', '.join(Outcome.values)}"
        return _error(422, "invalid query", [_query_error("outcome", message)])
    job = _job_or_404(job_id)
    if isinstance(job, JsonResponse):
        return job
    return StreamingHttpResponse(
        selectors.batch_job_results_jsonl(job=job, outcome=outcome or None),
        content_type="application/x-ndjson",
    )


@router.post(
    "/{job_id}/cancel",
    response={200: BatchJobOut, 404: BatchErrorOut, 409: BatchErrorOut, 422: Invalid},
    openapi_extra={"responses": {200: {"links": {"GetJob": _JOB_LINKS["GetJob"]}}}},
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
    response={
        201: BatchJobOut,
        400: BatchErrorOut,
        404: BatchErrorOut,
        409: BatchErrorOut,
        422: Invalid,
    },
    openapi_extra={"responses": {201: {"links": _JOB_LINKS}}},
    summary="Retry a job's errored and expired requests as a new, linked job",
)
def retry_job(request: HttpRequest, job_id: int, payload: BatchRetryIn) -> Any:
    """`{}` retries in batch mode, `{"mode": "standard"}` one call per request. django-ninja
    parses this body: one it cannot parse is its 400, a missing body or another mode its 422."""
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
