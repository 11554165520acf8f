"""Standard-API jobs fail honestly: each request succeeds or fails on its own, saying why."""

from __future__ import annotations

import pytest
from django.test import Client

from llmopt_admin.batches import services, submission
from llmopt_admin.batches.models import JobMode, JobStatus, Outcome
from llmopt_admin.batches.validation import ValidRequest

from .conftest import Simulator, make_requests

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_request_the_sdk_refuses_fails_alone_with_its_error(simulator: Simulator) -> None:
    requests = make_requests(3)
    # The SDK refuses a non-streaming call this long before sending it.
    too_long = ValidRequest(
        custom_id="too-long", params={**requests[1].params, "max_tokens": 64_000}
    )
    job = services.batch_job_create(
        requests=[requests[0], too_long, requests[2]], submitted_by="t", mode=JobMode.STANDARD
    )
    submission.batch_job_submit(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.ENDED
    assert (job.succeeded_count, job.errored_count) == (2, 1)
    failed = job.requests.get(custom_id="too-long")
    assert failed.outcome == Outcome.ERRORED
    assert "streaming" in failed.error.lower()
    assert "missing from the batch results" not in failed.error


def test_a_job_with_failures_never_looks_like_a_clean_success(
    simulator: Simulator, staff_client: Client
) -> None:
    requests = make_requests(2)
    too_long = ValidRequest(
        custom_id="too-long", params={**requests[1].params, "max_tokens": 64_000}
    )
    job = services.batch_job_create(
        requests=[requests[0], too_long], submitted_by="t", mode=JobMode.STANDARD
    )
    submission.batch_job_submit(job_id=job.pk)
    page = staff_client.get(f"/batches/{job.pk}/").content.decode()
    assert "Ended · 1 failed" in page
    assert 'class="badge warn" data-status="ended"' in page
