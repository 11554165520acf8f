"""The batch pages: list with live rows, upload, detail, download, cancel, retry; staff only."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from llmopt_admin.batches import job_state, services
from llmopt_admin.batches.models import BatchJob, JobStatus, Outcome

from .conftest import MODEL, make_requests

pytestmark = pytest.mark.django_db


def _jsonl(*lines: object) -> SimpleUploadedFile:
    body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    return SimpleUploadedFile("requests.jsonl", body.encode(), "application/x-ndjson")


def _request(custom_id: str, **params: object) -> dict[str, object]:
    body: dict[str, object] = {
        "model": MODEL,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    }
    body.update(params)
    return {"custom_id": custom_id, "params": body}


def _ended_job(outcomes: list[str]) -> BatchJob:
    job = services.batch_job_create(requests=make_requests(len(outcomes)), submitted_by="t")
    for row, outcome in zip(job.requests.order_by("position"), outcomes, strict=True):
        row.outcome = outcome
        row.output_text = f"answer {row.position}" if outcome == Outcome.SUCCEEDED else ""
        row.error = "" if outcome == Outcome.SUCCEEDED else f"request {outcome}"
        row.save()
    job_state.refresh_totals(job)
    job.status = JobStatus.ENDED
    job.ended_at = timezone.now()
    job.save()
    return job


@pytest.mark.parametrize("path", ["/batches/", "/batches/upload/"])
def test_anonymous_visitors_are_sent_to_sign_in(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_signed_in_non_staff_are_refused(outsider_client: Client) -> None:
    job = _ended_job([Outcome.SUCCEEDED])
    for path in ["/batches/", f"/batches/{job.pk}/", f"/batches/{job.pk}/results.jsonl"]:
        assert outsider_client.get(path).status_code == 403
    assert outsider_client.post(f"/batches/{job.pk}/retry/", {"mode": "batch"}).status_code == 403


def test_the_list_shows_status_progress_counts_and_cost_with_live_rows_for_open_jobs(
    staff_client: Client,
) -> None:
    open_job = services.batch_job_create(requests=make_requests(2), submitted_by="operator")
    done = _ended_job([Outcome.SUCCEEDED, Outcome.ERRORED])
    page = staff_client.get("/batches/").content.decode()
    assert f'id="job-{open_job.pk}"' in page
    assert f'hx-get="/batches/{open_job.pk}/row/"' in page
    assert 'hx-trigger="every 2s"' in page
    assert f'hx-get="/batches/{done.pk}/row/"' not in page  # final rows do not poll
    assert 'aria-valuenow="100"' in page
    row = staff_client.get(f"/batches/{done.pk}/row/").content.decode()
    assert "hx-trigger" not in row
    assert "Ended" in row


def test_the_status_filter_keeps_only_matching_jobs(staff_client: Client) -> None:
    open_job = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    done = _ended_job([Outcome.SUCCEEDED])
    page = staff_client.get("/batches/?status=ended").content.decode()
    assert f'id="job-{done.pk}"' in page
    assert f'id="job-{open_job.pk}"' not in page


def test_a_valid_upload_stores_a_job_and_opens_its_page(staff_client: Client) -> None:
    response = staff_client.post(
        "/batches/upload/", {"file": _jsonl(_request("a"), _request("b")), "name": ""}
    )
    job = BatchJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/batches/{job.pk}/"
    assert (job.request_count, job.name, job.source, job.submitted_by) == (
        2,
        "requests.jsonl",
        "upload",
        "operator",
    )
    assert list(job.requests.values_list("custom_id", flat=True)) == ["a", "b"]


def test_an_upload_with_a_bad_line_names_it_and_submits_nothing(staff_client: Client) -> None:
    bad = _request("b")
    del bad["params"]["max_tokens"]  # type: ignore[attr-defined]
    response = staff_client.post(
        "/batches/upload/", {"file": _jsonl(_request("a"), bad, "{broken")}
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert "Nothing was submitted" in page
    assert "line 2, params.max_tokens: is required and must be a positive integer" in page
    assert "line 3: is not valid JSON" in page
    assert not BatchJob.objects.exists()


def test_the_detail_page_filters_requests_by_outcome(staff_client: Client) -> None:
    job = _ended_job([Outcome.SUCCEEDED, Outcome.ERRORED, Outcome.EXPIRED])
    page = staff_client.get(f"/batches/{job.pk}/?outcome=errored").content.decode()
    assert 'data-custom-id="req-1"' in page
    assert 'data-custom-id="req-0"' not in page
    assert "request errored" in page
    everything = staff_client.get(f"/batches/{job.pk}/").content.decode()
    assert all(f'data-custom-id="req-{i}"' in everything for i in range(3))
    assert "Retry the 2 errored, expired or canceled requests" in everything


def test_the_download_streams_results_as_jsonl_in_input_order(staff_client: Client) -> None:
    job = _ended_job([Outcome.SUCCEEDED, Outcome.ERRORED])
    response = staff_client.get(f"/batches/{job.pk}/results.jsonl")
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    assert f"batch-job-{job.pk}.jsonl" in response["Content-Disposition"]
    lines = [json.loads(x) for x in b"".join(response.streaming_content).splitlines()]
    assert [(x["custom_id"], x["outcome"]) for x in lines] == [
        ("req-0", "succeeded"),
        ("req-1", "errored"),
    ]
    assert lines[0]["output_text"] == "answer 0"
    assert lines[1]["error"] == "request errored"
    only = staff_client.get(f"/batches/{job.pk}/results.jsonl?outcome=errored")
    assert len(b"".join(only.streaming_content).splitlines()) == 1


def test_the_progress_card_stops_polling_and_reloads_once_the_job_is_final(
    staff_client: Client,
) -> None:
    job = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    card = staff_client.get(f"/batches/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in card.content.decode()
    assert "HX-Refresh" not in card
    BatchJob.objects.filter(pk=job.pk).update(status=JobStatus.ENDED)
    card = staff_client.get(f"/batches/{job.pk}/progress/", HTTP_HX_REQUEST="true")
    assert "hx-trigger" not in card.content.decode()
    assert card["HX-Refresh"] == "true"


def test_cancel_records_the_request_and_refuses_a_final_job(staff_client: Client) -> None:
    job = services.batch_job_create(requests=make_requests(1), submitted_by="t")
    response = staff_client.post(f"/batches/{job.pk}/cancel/", follow=True)
    job.refresh_from_db()
    assert job.cancel_requested_at is not None
    assert "cancel requested" in response.content.decode()
    done = _ended_job([Outcome.SUCCEEDED])
    response = staff_client.post(f"/batches/{done.pk}/cancel/", follow=True)
    assert "nothing to cancel" in response.content.decode()


def test_retry_makes_a_linked_job_in_the_chosen_mode(staff_client: Client) -> None:
    job = _ended_job([Outcome.SUCCEEDED, Outcome.ERRORED, Outcome.EXPIRED])
    response = staff_client.post(f"/batches/{job.pk}/retry/", {"mode": "standard"})
    retry = BatchJob.objects.get(parent=job)
    assert response["Location"] == f"/batches/{retry.pk}/"
    assert retry.mode == "standard"
    assert list(retry.requests.values_list("custom_id", flat=True)) == ["req-1", "req-2"]
    parent_page = staff_client.get(f"/batches/{job.pk}/").content.decode()
    assert f'href="/batches/{retry.pk}/"' in parent_page
    child_page = staff_client.get(f"/batches/{retry.pk}/").content.decode()
    assert f'Retries requests of <a href="/batches/{job.pk}/"' in child_page


def test_retry_without_a_mode_or_with_nothing_to_retry_explains_why(
    staff_client: Client,
) -> None:
    job = _ended_job([Outcome.SUCCEEDED])
    page = staff_client.post(f"/batches/{job.pk}/retry/", {}, follow=True).content.decode()
    assert "Choose how to retry" in page
    page = staff_client.post(
        f"/batches/{job.pk}/retry/", {"mode": "batch"}, follow=True
    ).content.decode()
    assert "no errored, expired or canceled requests" in page


def test_an_unknown_job_is_404(staff_client: Client) -> None:
    assert staff_client.get("/batches/999999/").status_code == 404
