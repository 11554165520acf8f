"""Jobs run through the standard API (retries an operator sends now, at full price)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.utils import timezone

from llmopt_admin.batches.chunking import batched
from llmopt_admin.batches.job_state import finish_job, note_error, refresh_totals
from llmopt_admin.batches.leases import TransientProviderError, renew_lease
from llmopt_admin.batches.models import (
    BatchJob,
    JobStatus,
    Outcome,
)
from llmopt_admin.batches.provider import Provider, is_transient, provider_for
from llmopt_admin.batches.results import store_results
from optimization.batch_wire import RawBatchResult
from optimization.pricing import TokenUsage

logger = logging.getLogger(__name__)


STANDARD_CONCURRENCY = 4  # parallel standard-API calls of one retry job


def run_standard(job: BatchJob) -> None:
    """Send each pending request through the provider's standard API; results are stored as
    each small group finishes, so a killed run resumes with the requests still pending
    (resending at most the group in flight). A request the provider turns away for now (429,
    529, 5xx, connection) stays pending: the run stops and the task retries it later, backing
    off."""
    job.status = JobStatus.IN_PROGRESS
    job.submitted_at = job.submitted_at or timezone.now()
    job.save(update_fields=["status", "submitted_at", "updated_at"])
    with (
        provider_for(job) as provider,
        ThreadPoolExecutor(STANDARD_CONCURRENCY, thread_name_prefix="standard-api") as calls,
    ):
        pending = job.requests.filter(outcome=Outcome.PENDING).order_by("position")
        rows = list(pending.values_list("position", "custom_id", "params", "id"))
        row_ids = {custom_id: row_id for _, custom_id, _, row_id in rows}
        for group in batched(rows, STANDARD_CONCURRENCY * 4):
            job.refresh_from_db(fields=["cancel_requested_at"])
            if job.cancel_requested_at is not None:
                break
            items, paused = _call_standard(calls, provider, group)
            store_results(job=job, items=items, batch_mode=False, row_ids=row_ids)
            renew_lease(job)
            if paused:
                refresh_totals(job)
                message = f"{len(paused)} requests paused by the provider, will retry: {paused[0]}"
                note_error(job, message)
                raise TransientProviderError(message)
    job.requests.filter(outcome=Outcome.PENDING).update(
        outcome=Outcome.CANCELED, error="canceled by the operator", completed_at=timezone.now()
    )
    finish_job(job)


def _call_standard(
    calls: ThreadPoolExecutor,
    provider: Provider,
    group: Iterable[tuple[int, str, dict[str, Any], int]],
) -> tuple[list[RawBatchResult], list[Exception]]:
    """(final results, errors worth trying again later) of one group of standard calls, made
    `STANDARD_CONCURRENCY` at a time on the `calls` threads (one SDK client, whose connection
    pool they share)."""
    outcomes = list(calls.map(lambda row: _call_one(provider, *row[:3]), group))
    results = [item for item in outcomes if isinstance(item, RawBatchResult)]
    paused = [item for item in outcomes if not isinstance(item, RawBatchResult)]
    return results, paused


def _call_one(
    provider: Provider, position: int, custom_id: str, params: dict[str, Any]
) -> RawBatchResult | Exception:
    try:
        return provider.call_standard(position, custom_id, params)
    except provider.api_error as exc:
        if is_transient(exc):
            return exc
        body = getattr(exc, "body", None)
        details = body if isinstance(body, dict) else None
        return RawBatchResult(
            position, custom_id, "errored", None, details, str(exc)[:2000], TokenUsage(), ""
        )
    except Exception as exc:  # refused by the SDK before sending (e.g. max_tokens too large
        # for a non-streaming call): this request fails on its own, saying why
        error = f"{type(exc).__name__}: {exc}"[:2000]
        return RawBatchResult(position, custom_id, "errored", None, None, error, TokenUsage(), "")
