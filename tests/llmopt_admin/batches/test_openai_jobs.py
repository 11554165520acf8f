"""Batch jobs that target OpenAI and Azure OpenAI, against the simulator over real HTTP: the
task bodies in-process (submit, poll, cancel, standard API, a lost create response), a real
Celery worker on Redis (killed mid-poll), and the API's and the upload form's checks."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import openai
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count, Sum
from django.test import Client

from llmopt_admin.batches import leases, polling, services, submission
from llmopt_admin.batches.models import BatchJob, JobMode, JobProvider, JobStatus, Outcome
from llmopt_admin.batches.validation import ValidRequest
from llmopt_admin.savings.models import LedgerEvent
from optimization.pricing import TokenUsage, cost_of
from optimization.simulator import Faults

from .conftest import Simulator, Worker, wait_for

OPENAI_MODEL = "gpt-4o-mini"
DEPLOYMENT = "nightly-deployment"
LONG_SYSTEM = "You answer questions about the handbook. " + "Policy clause. " * 1500

LOST_CREATE_SEED = 3  # a simulator seed under which a batch create's answer is lost

pytestmark = pytest.mark.django_db(transaction=True)


def chat_requests(
    count: int, *, model: str = OPENAI_MODEL, system: str | None = None
) -> list[ValidRequest]:
    head = [{"role": "system", "content": system}] if system else []
    return [
        ValidRequest(
            custom_id=f"req-{i}",
            params={
                "model": model,
                "max_completion_tokens": 32,
                "messages": [*head, {"role": "user", "content": f"Say hello number {i}"}],
            },
        )
        for i in range(count)
    ]


def openai_job(count: int, **options: Any) -> BatchJob:
    system = options.pop("system", None)
    return services.batch_job_create(
        requests=chat_requests(count, system=system),
        submitted_by="operator",
        provider=JobProvider.OPENAI,
        **options,
    )


def azure_job(count: int) -> BatchJob:
    return services.batch_job_create(
        requests=chat_requests(count, model=DEPLOYMENT),
        submitted_by="operator",
        provider=JobProvider.AZURE_OPENAI,
        model=OPENAI_MODEL,
    )


def submit(job: BatchJob, *, attempts: int = 30) -> BatchJob:
    """Run the submit task body until the job has left the queue (retrying outages)."""
    for _ in range(attempts):
        with contextlib.suppress(leases.TransientProviderError):
            submission.batch_job_submit(job_id=job.pk)
        job.refresh_from_db()
        if job.status not in (JobStatus.QUEUED, JobStatus.SUBMITTING):
            return job
    raise AssertionError(f"job {job.pk} was not submitted: {job.status} {job.error}")


def poll_to_end(job: BatchJob, *, attempts: int = 30) -> BatchJob:
    for _ in range(attempts):
        with contextlib.suppress(leases.TransientProviderError):
            polling.batch_job_poll(job_id=job.pk, force=True)
        job.refresh_from_db()
        if job.is_final:
            return job
    raise AssertionError(f"job {job.pk} did not end: {job.status} {job.error}")


def run_to_end(job: BatchJob, simulator: Simulator) -> BatchJob:
    submit(job)
    simulator.finish_batches()
    return poll_to_end(job)


def batches_at_the_provider(simulator: Simulator) -> list[Any]:
    with openai.OpenAI(base_url=f"{simulator.base_url}/v1", api_key="sk-test") as sdk:
        return list(sdk.batches.list(limit=100))


def assert_priced_once_each(job: BatchJob, *, model: str, batch: bool) -> None:
    """Every request stored once, in input order, each priced by optimization.pricing for
    `model` from its own token counts, the job's totals and the ledger agreeing."""
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
        priced = cost_of(usage, model, batch=batch)
        assert (row.cost, row.baseline_cost) == (priced.cost, priced.baseline)
    assert job.cost == sum((row.cost for row in rows), Decimal(0))
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert events.count() == len(rows)
    assert set(events.values_list("provider", flat=True)) == {job.provider}
    assert events.aggregate(total=Sum("cost"))["total"] == job.cost


# --- in-process task bodies -------------------------------------------------------------


def test_an_openai_job_is_submitted_polled_and_stored_in_order_with_cached_tokens_priced(
    simulator: Simulator, fast_polls: None
) -> None:
    job = openai_job(6, system=LONG_SYSTEM)
    assert (job.provider, job.model) == ("openAI", OPENAI_MODEL)
    job = run_to_end(job, simulator)
    assert job.status == JobStatus.ENDED
    assert (job.succeeded_count, job.progress_percent) == (6, 100)
    assert_priced_once_each(job, model=OPENAI_MODEL, batch=True)
    cached = job.requests.filter(cache_read_tokens__gt=0)
    assert cached.count() == 5  # the first processed writes the shared prefix, the rest read it
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert set(events.values_list("mode", flat=True)) == {"batch", "batch+cache"}
    assert job.baseline_cost > job.cost
    [batch] = batches_at_the_provider(simulator)
    assert batch.endpoint == "/v1/chat/completions"
    assert job.provider_batches.get().batch_id == batch.id


def test_an_azure_job_goes_through_its_deployment_and_is_priced_as_the_jobs_model(
    simulator: Simulator, fast_polls: None
) -> None:
    job = run_to_end(azure_job(4), simulator)
    assert job.status == JobStatus.ENDED
    assert_priced_once_each(job, model=OPENAI_MODEL, batch=True)
    outputs = job.requests.values_list("output__model", flat=True)
    assert set(outputs) == {DEPLOYMENT}  # the simulator answers as the deployment
    assert job.cost > 0
    [batch] = batches_at_the_provider(simulator)
    assert batch.endpoint == "/chat/completions"  # Azure's batch endpoint has no /v1


def test_failed_requests_of_an_openai_batch_are_stored_errored_with_the_reason_and_not_charged(
    simulator_factory: Callable[..., Simulator], fast_polls: None
) -> None:
    simulator = simulator_factory(faults=Faults(batch_errored=0.5))
    job = run_to_end(openai_job(10), simulator)
    assert job.status == JobStatus.ENDED
    errored = job.requests.filter(outcome=Outcome.ERRORED)
    succeeded = job.requests.filter(outcome=Outcome.SUCCEEDED)
    assert 0 < errored.count() < 10
    assert (job.errored_count, job.succeeded_count) == (errored.count(), succeeded.count())
    assert all("500 server_error" in row.error and row.cost is None for row in errored)
    assert job.cost == sum((row.cost for row in succeeded), Decimal(0))
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert sorted(events.values_list("request_id", flat=True)) == sorted(
        f"batchjob-{job.pk}-{custom_id}"
        for custom_id in succeeded.values_list("custom_id", flat=True)
    )


def test_a_batch_the_provider_no_longer_knows_ends_its_requests_errored_saying_why(
    simulator_factory: Callable[..., Simulator], fast_polls: None
) -> None:
    simulator_factory()
    submit(openai_job(3), attempts=1)
    simulator_factory()  # the provider loses its state: a new one answers at the settings' URLs
    job = poll_to_end(BatchJob.objects.get())
    assert job.status == JobStatus.ENDED
    errors = set(job.requests.values_list("error", flat=True))
    assert len(errors) == 1
    assert "the provider no longer knows batch" in errors.pop()
    assert job.errored_count == 3


def test_canceling_an_openai_job_cancels_its_batch_and_ends_the_job_canceled(
    simulator: Simulator, fast_polls: None
) -> None:
    job = submit(openai_job(3))
    services.batch_job_cancel(job=job)
    polling.batch_job_poll(job_id=job.pk, force=True)  # asks the provider to cancel
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELING
    simulator.clock.advance(5)  # the provider finishes cancelling
    job = poll_to_end(job)
    assert job.status == JobStatus.CANCELED
    assert set(job.requests.values_list("outcome", flat=True)) == {Outcome.CANCELED}
    [batch] = batches_at_the_provider(simulator)
    assert batch.status == "cancelled"


def test_a_standard_openai_job_calls_chat_completions_and_prices_at_full_price(
    simulator: Simulator, fast_polls: None
) -> None:
    job = openai_job(3, mode=JobMode.STANDARD)
    submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    assert_priced_once_each(job, model=OPENAI_MODEL, batch=False)
    assert batches_at_the_provider(simulator) == []
    events = LedgerEvent.objects.filter(request_id__startswith=f"batchjob-{job.pk}-")
    assert set(events.values_list("mode", flat=True)) == {"standard"}


def test_a_retry_of_an_openai_job_goes_to_openai_with_the_same_model(
    simulator: Simulator, fast_polls: None
) -> None:
    job = azure_job(2)
    job.requests.update(outcome=Outcome.ERRORED)
    BatchJob.objects.filter(pk=job.pk).update(status=JobStatus.ENDED)
    job.refresh_from_db()
    retry = services.batch_job_retry(job=job, mode=JobMode.STANDARD, submitted_by="operator")
    assert (retry.provider, retry.model) == (JobProvider.AZURE_OPENAI, OPENAI_MODEL)
    submission.batch_job_submit(job_id=retry.pk)
    retry.refresh_from_db()
    assert retry.status == JobStatus.ENDED
    assert_priced_once_each(retry, model=OPENAI_MODEL, batch=False)


def test_a_lost_create_response_is_adopted_not_sent_again(
    simulator_factory: Callable[..., Simulator],
    fast_polls: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator = simulator_factory(faults=Faults(lose_response=0.5), seed=LOST_CREATE_SEED)
    with caplog.at_level(logging.WARNING, logger="optimization.batch_create"):
        job = run_to_end(openai_job(4), simulator)
    assert "was created although its response was lost: adopted" in caplog.text
    assert job.status == JobStatus.ENDED
    assert len(batches_at_the_provider(simulator)) == job.provider_batches.count() == 1
    assert_priced_once_each(job, model=OPENAI_MODEL, batch=True)


# --- a real Celery worker ---------------------------------------------------------------


@pytest.mark.parametrize("make_job", [openai_job, lambda n: azure_job(n)], ids=["openai", "azure"])
def test_a_worker_killed_mid_poll_finishes_the_job_without_resubmitting(
    simulator: Simulator, worker_factory: Callable[..., Worker], make_job: Callable[[int], BatchJob]
) -> None:
    worker = worker_factory()
    job = make_job(10)
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
    assert_priced_once_each(job, model=OPENAI_MODEL, batch=True)


# --- what the API and the upload form accept ----------------------------------------------


def post_job(client: Client, token: str, body: dict[str, Any]) -> Any:
    return client.post(
        "/api/batches",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def chat_request(custom_id: str, **params: Any) -> dict[str, Any]:
    body = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "Hi"}], **params}
    return {"custom_id": custom_id, "params": body}


def fields_of(response: Any) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.json()["errors"]}


def test_the_api_stores_an_openai_job_in_chat_completions_format(
    client: Client, token: str
) -> None:
    response = post_job(
        client, token, {"provider": "openAI", "requests": [chat_request("a"), chat_request("b")]}
    )
    assert response.status_code == 201
    assert (response.json()["provider"], response.json()["model"]) == ("openAI", OPENAI_MODEL)
    job = BatchJob.objects.get()
    assert list(job.requests.values_list("custom_id", flat=True)) == ["a", "b"]


def test_the_api_builds_openai_requests_from_messages_and_fills_the_jobs_model(
    client: Client, token: str
) -> None:
    response = post_job(
        client,
        token,
        {
            "provider": "openAI",
            "model": OPENAI_MODEL,
            "messages": [
                [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}]
            ],
            "params": {"max_completion_tokens": 16},
        },
    )
    assert response.status_code == 201, response.json()
    params = BatchJob.objects.get().requests.get().params
    assert params == {
        "model": OPENAI_MODEL,
        "max_completion_tokens": 16,
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Hi"}],
    }


def test_the_api_names_the_provider_and_model_fields_it_refuses(client: Client, token: str) -> None:
    unknown = post_job(client, token, {"provider": "bedrock", "requests": [chat_request("a")]})
    assert unknown.status_code == 422
    assert "must be one of anthropic, openAI, azureOpenAI" in fields_of(unknown)["provider"]
    no_model = post_job(client, token, {"provider": "azureOpenAI", "requests": [chat_request("a")]})
    assert no_model.status_code == 422
    assert "is required for Azure OpenAI" in fields_of(no_model)["model"]
    claude = post_job(
        client,
        token,
        {"provider": "openAI", "model": "claude-haiku-4-5", "requests": [chat_request("a")]},
    )
    assert "is not an OpenAI model this admin knows" in fields_of(claude)["model"]
    assert not BatchJob.objects.exists()


def test_the_api_checks_openai_params_by_the_chat_completions_rules(
    client: Client, token: str
) -> None:
    response = post_job(
        client,
        token,
        {
            "provider": "openAI",
            "requests": [
                chat_request("a", system="Be brief"),
                chat_request("b", model="claude-haiku-4-5"),
                chat_request("c", temperature=3, stream=True),
                {
                    "custom_id": "d",
                    "params": {
                        "model": OPENAI_MODEL,
                        "messages": [{"role": "human", "content": "x"}],
                    },
                },
            ],
        },
    )
    assert response.status_code == 422
    errors = {(e["where"], e["field"]): e["message"] for e in response.json()["errors"]}
    assert errors[("requests[0]", "params.system")] == "is not a Chat Completions API parameter"
    assert "is not an OpenAI model this admin knows" in errors[("requests[1]", "params.model")]
    assert errors[("requests[2]", "params.temperature")] == "must be a number from 0 to 2"
    assert "not supported in a batch" in errors[("requests[2]", "params.stream")]
    assert errors[("requests[3]", "params.messages[0].role")].startswith("must be one of system")
    assert not BatchJob.objects.exists()


def test_an_anthropic_job_still_refuses_an_openai_model_and_says_where_it_belongs(
    client: Client, token: str
) -> None:
    response = post_job(
        client,
        token,
        {
            "requests": [
                {
                    "custom_id": "a",
                    "params": {
                        "model": OPENAI_MODEL,
                        "max_tokens": 8,
                        "messages": [{"role": "user", "content": "Hi"}],
                    },
                }
            ]
        },
    )
    assert response.status_code == 422
    assert "set the job's provider to openAI or azureOpenAI" in fields_of(response)["params.model"]


def upload(staff_client: Client, lines: list[dict[str, Any]], **fields: str) -> Any:
    content = "\n".join(json.dumps(line) for line in lines).encode()
    return staff_client.post(
        "/batches/upload/",
        {"file": SimpleUploadedFile("requests.jsonl", content), "name": "", **fields},
    )


def test_the_upload_form_stores_an_azure_job_priced_as_its_model(staff_client: Client) -> None:
    lines = [chat_request("a", model=DEPLOYMENT), chat_request("b", model=DEPLOYMENT)]
    response = upload(staff_client, lines, provider="azureOpenAI", model=OPENAI_MODEL)
    assert response.status_code == 302
    job = BatchJob.objects.get()
    assert (job.provider, job.model, job.request_count) == ("azureOpenAI", OPENAI_MODEL, 2)


def test_the_upload_form_names_the_model_field_and_checks_lines_in_the_providers_format(
    staff_client: Client,
) -> None:
    response = upload(staff_client, [chat_request("a", system="x")], provider="azureOpenAI")
    page = response.content.decode()
    assert response.status_code == 400
    assert "is required for Azure OpenAI" in page
    assert "line 1, params.system: is not a Chat Completions API parameter" in page
    assert not BatchJob.objects.exists()
