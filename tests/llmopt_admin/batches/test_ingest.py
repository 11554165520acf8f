"""Storing a finished batch's results: as the API sent them, priced once, totals per chunk."""

from __future__ import annotations

import logging
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db.models import Sum

from llmopt_admin.batches import polling, results, services, submission
from llmopt_admin.batches.models import BatchJob, BatchJobRequest, Outcome
from llmopt_admin.batches.provider import provider_for
from llmopt_admin.savings.models import LedgerEvent
from optimization.batch_wire import RawBatchResult
from optimization.pricing import TokenUsage, cost_of
from optimization.telemetry import usage_event_for

from .conftest import MODEL, Simulator, make_requests

pytestmark = pytest.mark.django_db(transaction=True)


def _ended_job(simulator: Simulator, count: int) -> BatchJob:
    """A job whose one provider batch has ended at the simulator (results not fetched yet)."""
    job = services.batch_job_create(requests=make_requests(count), submitted_by="t")
    submission.batch_job_submit(job_id=job.pk)
    simulator.finish_batches()
    return job


def _raw_results(job: BatchJob) -> list[RawBatchResult]:
    [batch] = job.provider_batches.all()
    with provider_for(job) as provider:
        return [
            item
            for chunk in provider.chunks(provider.batches.raw_results(batch.batch_id), 3)
            for item in chunk
        ]


def _totals_from_rows(job: BatchJob) -> tuple[int, int, Decimal, Decimal]:
    rows = job.requests.all()
    sums = rows.aggregate(cost=Sum("cost"), baseline=Sum("baseline_cost"))
    return (
        rows.filter(outcome=Outcome.SUCCEEDED).count(),
        rows.filter(outcome=Outcome.ERRORED).count(),
        sums["cost"] or Decimal(0),
        sums["baseline"] or Decimal(0),
    )


def _totals(job: BatchJob) -> tuple[int, int, Decimal, Decimal]:
    job.refresh_from_db()
    return job.succeeded_count, job.errored_count, job.cost, job.baseline_cost


def test_results_are_stored_as_the_api_sent_them_and_priced_once(
    simulator: Simulator, fast_polls: None
) -> None:
    job = _ended_job(simulator, 4)
    polling.batch_job_poll(job_id=job.pk, force=True)
    for row in job.requests.all():
        message = row.output
        assert message["type"] == "message"
        assert message["model"] == MODEL
        assert message["content"][0]["text"] == row.output_text
        assert f"Say hello number {row.position}" in row.output_text
        assert message["usage"]["input_tokens"] == row.input_tokens
        assert message["usage"]["output_tokens"] == row.output_tokens
        priced = cost_of(row_usage(row), MODEL, batch=True)
        assert (row.cost, row.baseline_cost) == (priced.cost, priced.baseline)
        event = LedgerEvent.objects.get(request_id=f"batchjob-{job.pk}-{row.custom_id}")
        assert (event.cost, event.baseline_cost) == (row.cost, row.baseline_cost)


def row_usage(row: BatchJobRequest) -> TokenUsage:
    return TokenUsage(
        input_tokens=row.input_tokens,
        cache_write_5m_tokens=row.cache_write_5m_tokens,
        cache_write_1h_tokens=row.cache_write_1h_tokens,
        cache_read_tokens=row.cache_read_tokens,
        output_tokens=row.output_tokens,
    )


def test_job_totals_follow_each_stored_chunk_and_do_not_move_when_it_is_stored_again(
    simulator: Simulator, fast_polls: None
) -> None:
    job = _ended_job(simulator, 7)
    items = _raw_results(job)
    assert len(items) == 7
    results.store_results(job=job, items=items[:3])
    assert _totals(job) == _totals_from_rows(job)
    assert _totals(job)[0] == 3
    assert _totals(job)[2] > 0
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-").count()
    results.store_results(job=job, items=items[:3])  # a duplicate delivery of that chunk
    assert _totals(job) == _totals_from_rows(job)
    assert _totals(job)[0] == 3
    assert LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-").count() == (
        events
    )
    results.store_results(job=job, items=items[2:])  # overlapping the first chunk
    assert _totals(job) == _totals_from_rows(job)
    assert _totals(job)[0] == 7


def test_a_request_stored_errored_then_succeeded_moves_between_the_counts(
    simulator: Simulator, fast_polls: None
) -> None:
    job = _ended_job(simulator, 2)
    items = _raw_results(job)
    first = items[0]
    failed = RawBatchResult(
        first.position,
        first.custom_id,
        "errored",
        None,
        {"type": "error", "error": {"type": "api_error", "message": "boom"}},
        "api_error: boom",
        TokenUsage(),
        first.batch_id,
    )
    results.store_results(job=job, items=[failed])
    assert _totals(job)[:2] == (0, 1)
    row = job.requests.get(custom_id=first.custom_id)
    assert (row.outcome, row.error, row.output) == (Outcome.ERRORED, "api_error: boom", None)
    results.store_results(job=job, items=items)
    assert _totals(job) == _totals_from_rows(job)
    assert _totals(job)[:2] == (2, 0)


def test_a_result_for_a_request_the_job_does_not_have_is_left_out_and_not_charged(
    simulator: Simulator, fast_polls: None, caplog: pytest.LogCaptureFixture
) -> None:
    job = _ended_job(simulator, 1)
    [item] = _raw_results(job)
    assert item.message is not None
    ghost = RawBatchResult.from_message(5, "ghost", item.message, batch_id=item.batch_id)
    with caplog.at_level(logging.WARNING):
        results.store_results(job=job, items=[ghost, item])
    assert "1 results name no request of the job, e.g. 'ghost'" in caplog.text
    assert job.requests.count() == 1
    assert not LedgerEvent.objects.filter(request_id=f"batchjob-{job.pk}-ghost").exists()
    assert _totals(job)[0] == 1


def test_results_of_a_model_without_a_price_have_no_cost_and_warn_once_per_model(
    simulator: Simulator, fast_polls: None, caplog: pytest.LogCaptureFixture
) -> None:
    job = _ended_job(simulator, 3)
    model = f"in-house-{uuid4().hex[:8]}"
    items = [
        RawBatchResult.from_message(
            item.position, item.custom_id, {**item.message, "model": model}, batch_id=item.batch_id
        )
        for item in _raw_results(job)
        if item.message is not None
    ]
    with caplog.at_level(logging.WARNING):
        results.store_results(job=job, items=items[:2])
        results.store_results(job=job, items=items[2:])
        # The wrapper's usage events share the warning: one per model and process, not per app.
        usage_event_for(provider="anthropic", model=model, mode="batch", usage=TokenUsage(1))
    assert caplog.text.count(f"no price for model {model!r}") == 1
    assert [row.cost for row in job.requests.all()] == [None, None, None]
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert {(event.cost_source, event.cost) for event in events} == {("reported", Decimal(0))}
    assert events.count() == 3
