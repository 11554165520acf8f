"""Batch jobs that target Gemini, against the simulator's Gemini API over real HTTP: the task
bodies in-process (submit, poll, cancel, standard API, a lost create response), a real Celery
worker on Redis (killed mid-poll), and the API's and the upload form's checks of Gemini's
request format."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Count, Sum
from django.test import Client
from google import genai
from google.genai import types

from llmopt_admin.batches import polling, services, submission
from llmopt_admin.batches.models import BatchJob, JobMode, JobProvider, JobStatus, Outcome
from llmopt_admin.batches.validation import ValidRequest
from llmopt_admin.savings.models import LedgerEvent
from optimization.pricing import TokenUsage, cost_of
from optimization.simulator import Faults

from .conftest import Simulator, Worker, wait_for
from .test_openai_jobs import (  # the task-running and API helpers every provider's jobs share
    fields_of,
    poll_to_end,
    post_job,
    run_to_end,
    submit,
    upload,
)

GEMINI_MODEL = "gemini-2.5-flash"
LONG_SYSTEM = "You answer questions about the handbook. " + "Policy clause. " * 1500
LOST_CREATE_SEED = 3  # a simulator seed under which a batch create's answer is lost

pytestmark = pytest.mark.django_db(transaction=True)


def gemini_params(text: str, *, system: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {"maxOutputTokens": 32},
    }
    if system:
        params["systemInstruction"] = {"parts": [{"text": system}]}
    return params


def gemini_job(count: int, *, system: str | None = None, **options: Any) -> BatchJob:
    requests = [
        ValidRequest(
            custom_id=f"req-{i}", params=gemini_params(f"Say hello number {i}", system=system)
        )
        for i in range(count)
    ]
    return services.batch_job_create(
        requests=requests,
        submitted_by="operator",
        provider=JobProvider.GEMINI,
        model=GEMINI_MODEL,
        **options,
    )


def batches_at_the_provider(simulator: Simulator) -> list[types.BatchJob]:
    sdk = genai.Client(api_key="k", http_options=types.HttpOptions(base_url=simulator.base_url))
    return list(sdk.batches.list(config={"page_size": 100}))


def assert_priced_once_each(job: BatchJob, *, batch: bool) -> None:
    """Every request stored once, in input order, each priced by optimization.pricing for the
    job's Gemini model from its own token counts, the job's totals and the ledger agreeing."""
    rows = list(job.requests.order_by("position"))
    assert [row.custom_id for row in rows] == [f"req-{i}" for i in range(len(rows))]
    assert not job.requests.values("custom_id").annotate(n=Count("id")).filter(n__gt=1).exists()
    for row in rows:
        assert row.outcome == Outcome.SUCCEEDED
        assert f"hello number {row.position}" in row.output_text
        usage = TokenUsage(
            input_tokens=row.input_tokens,
            cache_read_tokens=row.cache_read_tokens,
            output_tokens=row.output_tokens,
        )
        priced = cost_of(usage, GEMINI_MODEL, batch=batch)
        assert (row.cost, row.baseline_cost) == (priced.cost, priced.baseline)
    assert job.cost == sum((row.cost for row in rows), Decimal(0))
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert events.count() == len(rows)
    assert set(events.values_list("provider", flat=True)) == {"gemini"}
    assert set(events.values_list("model", flat=True)) == {GEMINI_MODEL}
    assert events.aggregate(total=Sum("cost"))["total"] == job.cost


# --- in-process task bodies -------------------------------------------------------------


def test_a_gemini_job_is_submitted_polled_and_stored_in_order_with_cached_tokens_priced(
    simulator: Simulator, fast_polls: None
) -> None:
    job = run_to_end(gemini_job(6, system=LONG_SYSTEM), simulator)
    assert job.status == JobStatus.ENDED
    assert (job.succeeded_count, job.progress_percent) == (6, 100)
    assert_priced_once_each(job, batch=True)
    cached = job.requests.filter(cache_read_tokens__gt=0)
    assert cached.count() == 5  # the first processed writes the shared prefix, the rest read it
    row = cached.first()
    assert row is not None
    usage = row.output["usageMetadata"]  # the response as Gemini sent it
    assert row.cache_read_tokens == usage["cachedContentTokenCount"]
    assert row.input_tokens == usage["promptTokenCount"] - usage["cachedContentTokenCount"]
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert set(events.values_list("mode", flat=True)) == {"batch", "batch+cache"}
    assert job.baseline_cost > job.cost
    [batch] = batches_at_the_provider(simulator)
    assert job.provider_batches.get().batch_id == batch.name


def test_gemini_batch_pricing_halves_fresh_tokens_but_not_cache_reads() -> None:
    # What the stored costs above rest on: Gemini's batch price halves input and output, while
    # cached tokens cost what they cost outside a batch.
    reads = TokenUsage(cache_read_tokens=1_000_000)
    fresh = TokenUsage(input_tokens=1_000_000)
    assert cost_of(reads, GEMINI_MODEL, batch=True).cost == cost_of(reads, GEMINI_MODEL).cost
    assert cost_of(fresh, GEMINI_MODEL, batch=True).cost * 2 == cost_of(fresh, GEMINI_MODEL).cost


def test_failed_requests_of_a_gemini_batch_are_stored_errored_with_the_reason_and_not_charged(
    simulator_factory: Callable[..., Simulator], fast_polls: None
) -> None:
    simulator = simulator_factory(faults=Faults(batch_errored=0.5))
    job = run_to_end(gemini_job(10), simulator)
    assert job.status == JobStatus.ENDED
    errored = job.requests.filter(outcome=Outcome.ERRORED)
    succeeded = job.requests.filter(outcome=Outcome.SUCCEEDED)
    assert 0 < errored.count() < 10
    assert (job.errored_count, job.succeeded_count) == (errored.count(), succeeded.count())
    assert all(row.error and row.cost is None for row in errored)
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert events.count() == succeeded.count()
    assert job.cost == sum((row.cost for row in succeeded), Decimal(0))


def test_a_batch_the_provider_no_longer_knows_ends_its_requests_errored_saying_why(
    simulator_factory: Callable[..., Simulator], fast_polls: None
) -> None:
    simulator_factory()
    submit(gemini_job(3), attempts=1)
    simulator_factory()  # the provider loses its state: a new one answers at the settings' URLs
    job = poll_to_end(BatchJob.objects.get())
    assert job.status == JobStatus.ENDED
    errors = set(job.requests.values_list("error", flat=True))
    assert len(errors) == 1
    assert "the provider no longer knows batch" in errors.pop()


def test_canceling_a_gemini_job_cancels_its_batch_and_ends_the_job_canceled(
    simulator: Simulator, fast_polls: None
) -> None:
    job = submit(gemini_job(3))
    services.batch_job_cancel(job=job)
    polling.batch_job_poll(job_id=job.pk, force=True)  # asks the provider to cancel
    simulator.clock.advance(5)  # the provider finishes cancelling
    job = poll_to_end(job)
    assert job.status == JobStatus.CANCELED
    assert set(job.requests.values_list("outcome", flat=True)) == {Outcome.CANCELED}
    [batch] = batches_at_the_provider(simulator)
    assert batch.state == types.JobState.JOB_STATE_CANCELLED


def test_a_standard_gemini_job_calls_generate_content_and_prices_at_full_price(
    simulator: Simulator, fast_polls: None
) -> None:
    job = gemini_job(3, mode=JobMode.STANDARD)
    submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED, job.error
    assert_priced_once_each(job, batch=False)
    assert batches_at_the_provider(simulator) == []
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert set(events.values_list("mode", flat=True)) == {"standard"}


def test_a_standard_gemini_request_the_api_refuses_is_stored_errored_saying_why(
    simulator: Simulator, fast_polls: None
) -> None:
    requests = [
        ValidRequest(custom_id="req-0", params={**gemini_params("Hi"), "notAField": 1}),
        ValidRequest(custom_id="req-1", params=gemini_params("Say hello number 1")),
    ]
    job = services.batch_job_create(
        requests=requests,
        submitted_by="operator",
        provider=JobProvider.GEMINI,
        model=GEMINI_MODEL,
        mode=JobMode.STANDARD,
    )
    submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    refused, answered = job.requests.order_by("position")
    assert (refused.outcome, answered.outcome) == (Outcome.ERRORED, Outcome.SUCCEEDED)
    assert "400" in refused.error
    assert "notAField" in refused.error
    assert refused.cost is None
    assert "hello number 1" in answered.output_text


def test_a_lost_create_response_is_adopted_not_sent_again(
    simulator_factory: Callable[..., Simulator],
    fast_polls: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator = simulator_factory(faults=Faults(lose_response=0.5), seed=LOST_CREATE_SEED)
    with caplog.at_level(logging.WARNING, logger="optimization.batch_create"):
        job = run_to_end(gemini_job(4), simulator)
    assert "was created although its response was lost: adopted" in caplog.text
    assert job.status == JobStatus.ENDED
    assert len(batches_at_the_provider(simulator)) == job.provider_batches.count() == 1
    assert_priced_once_each(job, batch=True)


# --- a real Celery worker ---------------------------------------------------------------


def test_a_worker_killed_mid_poll_finishes_the_job_without_resubmitting(
    simulator: Simulator, worker_factory: Callable[..., Worker]
) -> None:
    worker = worker_factory()
    job = gemini_job(10)
    wait_for(
        lambda: job.provider_batches.filter(poll_count__gte=2).exists(),
        timeout=60,
        what="the worker polling the batch",
    )
    worker.kill()
    simulator.finish_batches()
    worker_factory()
    wait_for(lambda: BatchJob.objects.get(pk=job.pk).is_final, timeout=90, what="the end")
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    assert len(batches_at_the_provider(simulator)) == 1
    assert_priced_once_each(job, batch=True)


# --- what the API and the upload form accept ----------------------------------------------


def gemini_request(custom_id: str, **params: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": {**gemini_params("Hi"), **params}}


def test_the_api_stores_a_gemini_job_in_gemini_format_without_a_model_per_request(
    client: Client, token: str
) -> None:
    response = post_job(
        client,
        token,
        {
            "provider": "gemini",
            "model": GEMINI_MODEL,
            "requests": [gemini_request("a"), gemini_request("b")],
        },
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["provider"], response.json()["model"]) == ("gemini", GEMINI_MODEL)
    job = BatchJob.objects.get()
    assert list(job.requests.values_list("custom_id", flat=True)) == ["a", "b"]
    assert job.requests.get(custom_id="a").params == gemini_params("Hi")


def test_the_api_builds_gemini_requests_from_messages_as_the_chat_model_would(
    client: Client, token: str
) -> None:
    response = post_job(
        client,
        token,
        {
            "provider": "gemini",
            "model": GEMINI_MODEL,
            "messages": [
                [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]
            ],
            "params": {"generation_config": {"max_output_tokens": 16}},
        },
    )
    assert response.status_code == 201, response.json()
    params = BatchJob.objects.get().requests.get().params
    assert params["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    assert params["systemInstruction"]["parts"] == [{"text": "Be brief"}]
    assert params["generationConfig"]["maxOutputTokens"] == 16


def test_the_api_names_the_model_a_gemini_job_needs(client: Client, token: str) -> None:
    no_model = post_job(client, token, {"provider": "gemini", "requests": [gemini_request("a")]})
    assert no_model.status_code == 422
    assert "is required for Gemini" in fields_of(no_model)["model"]
    gpt = post_job(
        client,
        token,
        {"provider": "gemini", "model": "gpt-4o-mini", "requests": [gemini_request("a")]},
    )
    assert "is not a Gemini model this admin knows" in fields_of(gpt)["model"]
    assert not BatchJob.objects.exists()


def test_the_api_checks_gemini_params_by_gemini_rules_naming_each_field(
    client: Client, token: str
) -> None:
    response = post_job(
        client,
        token,
        {
            "provider": "gemini",
            "model": GEMINI_MODEL,
            "requests": [
                gemini_request("a", messages=[{"role": "user", "content": "Hi"}]),
                gemini_request("b", model=GEMINI_MODEL),
                gemini_request("c", generationConfig={"temperature": 3, "maxOutputTokens": 0}),
                gemini_request("d", contents=[{"role": "assistant", "parts": []}]),
                gemini_request("e", systemInstruction="Be brief"),
                gemini_request("f", contents=[{"parts": [{"text": "x", "inlineData": {}}]}]),
            ],
        },
    )
    assert response.status_code == 422
    errors = {(e["where"], e["field"]): e["message"] for e in response.json()["errors"]}
    assert "is not a GenerateContentRequest field" in errors[("requests[0]", "params.messages")]
    assert "the job's model runs every request" in errors[("requests[1]", "params.model")]
    config = "params.generationConfig"
    assert errors[("requests[2]", f"{config}.temperature")] == "must be a number from 0 to 2"
    assert errors[("requests[2]", f"{config}.maxOutputTokens")] == "must be a positive integer"
    assert errors[("requests[3]", "params.contents[0].role")] == "must be one of user, model"
    assert "non-empty list of parts" in errors[("requests[3]", "params.contents[0].parts")]
    assert "must be an object with parts" in errors[("requests[4]", "params.systemInstruction")]
    assert "exactly one of" in errors[("requests[5]", "params.contents[0].parts[0]")]
    assert not BatchJob.objects.exists()


def test_the_upload_form_stores_a_gemini_job_and_names_bad_lines(staff_client: Client) -> None:
    bad = upload(staff_client, [gemini_request("a", system="x")], provider="gemini")
    page = bad.content.decode()
    assert bad.status_code == 400
    assert "is required for Gemini" in page
    assert "line 1, params.system: is not a GenerateContentRequest field" in page
    assert not BatchJob.objects.exists()
    lines = [gemini_request("a"), gemini_request("b")]
    response = upload(staff_client, lines, provider="gemini", model=GEMINI_MODEL)
    assert response.status_code == 302
    job = BatchJob.objects.get()
    assert (job.provider, job.model, job.request_count) == ("gemini", GEMINI_MODEL, 2)
