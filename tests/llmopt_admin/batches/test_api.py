"""The batch API for machines: bearer-token submit, list, read, results, cancel, retry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from llmopt_admin.accounts.services import api_token_create
from llmopt_admin.batches.models import BatchJob, JobStatus, Outcome

from .conftest import MODEL
from .test_views import _ended_job, _request

pytestmark = pytest.mark.django_db


@pytest.fixture
def token(staff_user: User) -> str:
    return api_token_create(user=staff_user, name="pipeshub-dev", scopes=["submit"])[1]


def _post(client: Client, token: str, path: str, body: Any) -> Any:
    return client.post(
        path,
        data=body if isinstance(body, bytes | str) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def _get(client: Client, token: str, path: str) -> Any:
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_it_refuses_callers_without_a_token_or_staff_session(
    client: Client, outsider_client: Client
) -> None:
    assert client.get("/api/batches").status_code == 401
    assert outsider_client.get("/api/batches").status_code == 401
    assert client.post("/api/batches", "{}", content_type="application/json").status_code == 401


def test_a_token_submits_requests_in_anthropic_batch_format(client: Client, token: str) -> None:
    response = _post(
        client,
        token,
        "/api/batches",
        {"name": "nightly", "requests": [_request("a"), _request("b")]},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["request_count"], body["submitted_by"]) == (
        "queued",
        2,
        "token:pipeshub-dev",
    )
    assert body["counts"] == {
        "succeeded": 0,
        "errored": 0,
        "canceled": 0,
        "expired": 0,
        "pending": 2,
    }
    assert body["results_url"] == f"/api/batches/{body['id']}/results"


def test_message_lists_are_converted_by_the_one_converter(client: Client, token: str) -> None:
    response = _post(
        client,
        token,
        "/api/batches",
        {
            "messages": [
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                [{"role": "user", "content": "Bye"}],
            ],
            "params": {"model": MODEL, "max_tokens": 20, "temperature": 0.2},
        },
    )
    assert response.status_code == 201
    job = BatchJob.objects.get(pk=response.json()["id"])
    first, second = job.requests.order_by("position")
    assert (first.custom_id, second.custom_id) == ("r0", "r1")
    assert first.params["system"] == "Be brief."
    assert first.params["messages"] == [{"role": "user", "content": "Hi"}]
    assert (first.params["model"], first.params["temperature"]) == (MODEL, 0.2)


def test_invalid_requests_are_named_and_nothing_is_stored(client: Client, token: str) -> None:
    bad = _request("b", max_tokens=0)
    response = _post(client, token, "/api/batches", {"requests": [_request("a"), bad]})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "where": "requests[1]",
            "field": "params.max_tokens",
            "message": "is required and must be a positive integer",
        }
    ]
    assert not BatchJob.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b"{not json", 400, "not JSON"),
        ("[]", 400, "JSON object"),
        ({}, 422, "either requests or messages"),
        ({"requests": {}}, 422, "must be a list"),
        ({"requests": [], "mode": "later"}, 422, "invalid job"),
        ({"messages": [[{"role": "user", "content": "x"}]]}, 422, "invalid request"),
        ({"messages": [[{"role": "wizard", "content": "x"}]], "params": {}}, 422, "invalid"),
    ],
)
def test_malformed_bodies_get_a_clear_error(
    client: Client, token: str, body: Any, status: int, detail: str
) -> None:
    response = _post(client, token, "/api/batches", body)
    assert response.status_code == status
    assert detail in response.json()["detail"]


def test_list_get_and_results(client: Client, token: str) -> None:
    job = _ended_job([Outcome.SUCCEEDED, Outcome.EXPIRED])
    listed = _get(client, token, "/api/batches?status=ended").json()
    assert listed["count"] == 1
    assert listed["items"][0]["id"] == job.pk
    one = _get(client, token, f"/api/batches/{job.pk}").json()
    assert one["counts"]["expired"] == 1
    assert one["progress_percent"] == 100
    results = _get(client, token, f"/api/batches/{job.pk}/results")
    assert results["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(x) for x in b"".join(results.streaming_content).splitlines()]
    assert [x["outcome"] for x in lines] == ["succeeded", "expired"]
    assert _get(client, token, "/api/batches/424242").status_code == 404


def test_cancel_and_retry(client: Client, token: str) -> None:
    queued = _post(client, token, "/api/batches", {"requests": [_request("a")]}).json()
    canceled = _post(client, token, f"/api/batches/{queued['id']}/cancel", {})
    assert canceled.status_code == 200
    assert canceled.json()["cancel_requested"] is True

    job = _ended_job([Outcome.ERRORED, Outcome.SUCCEEDED])
    assert _post(client, token, f"/api/batches/{job.pk}/cancel", {}).status_code == 409
    retry = _post(client, token, f"/api/batches/{job.pk}/retry", {"mode": "standard"})
    assert retry.status_code == 201
    assert (retry.json()["parent_id"], retry.json()["mode"], retry.json()["request_count"]) == (
        job.pk,
        "standard",
        1,
    )
    assert _get(client, token, f"/api/batches/{job.pk}").json()["retry_ids"] == [retry.json()["id"]]
    again = _post(client, token, f"/api/batches/{retry.json()['id']}/retry", {})
    assert again.status_code == 409
    assert BatchJob.objects.get(pk=retry.json()["id"]).status == JobStatus.QUEUED


def test_a_staff_session_can_use_the_api_too(staff_client: Client) -> None:
    response = staff_client.get("/api/batches")
    assert response.status_code == 200
    assert response.json() == {"count": 0, "items": []}
