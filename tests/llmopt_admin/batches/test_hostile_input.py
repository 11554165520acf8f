"""Hostile input to the batch API and pages: never a 500, always a message naming the field,
and nothing stored unless all of it can be stored and sent as it was given.

PostgreSQL refuses NUL, lone surrogates, NaN and infinities in text and jsonb, and values longer
than their column; the provider refuses unknown parameters, unknown models and more output than
a model writes. All of these are checked before a job is stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmopt_admin.accounts.services import api_token_create
from llmopt_admin.batches import services
from llmopt_admin.batches.models import BatchJob, BatchJobRequest, JobStatus, Outcome
from llmopt_admin.batches.validation import (
    MAX_PARAMS_DEPTH,
    RequestsInvalid,
    ValidRequest,
    validate_requests,
)
from tests.llmopt_admin.savings.hostile import (
    DEEP_ARRAY,
    HUGE_INTEGER,
    dumps,
    hostile_query_values,
    hostile_values,
    query,
)

pytestmark = pytest.mark.django_db
MODEL = "claude-haiku-4-5"  # at most 64,000 output tokens
PROPERTY = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
    }
    params.update(overrides)
    return params


def _request(custom_id: str, **overrides: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": _params(**overrides)}


def _param(key: str) -> Callable[[dict[str, Any], Any], None]:
    def put(request: dict[str, Any], value: Any) -> None:
        request["params"][key] = value

    return put


def _message(key: str) -> Callable[[dict[str, Any], Any], None]:
    def put(request: dict[str, Any], value: Any) -> None:
        request["params"]["messages"][0][key] = value

    return put


def _item(key: str) -> Callable[[dict[str, Any], Any], None]:
    def put(request: dict[str, Any], value: Any) -> None:
        request[key] = value

    return put


# Where a hostile value goes in one request, and the field the answer must then name.
REQUEST_TARGETS: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "params.model": _param("model"),
    "params.max_tokens": _param("max_tokens"),
    "params.messages": _param("messages"),
    "params.system": _param("system"),
    "params.temperature": _param("temperature"),
    "params.top_p": _param("top_p"),
    "params.top_k": _param("top_k"),
    "params.stop_sequences": _param("stop_sequences"),
    "params.metadata": _param("metadata"),
    "params.tools": _param("tools"),
    "params.unknown_param": _param("unknown_param"),
    "params.messages[0].role": _message("role"),
    "params.messages[0].content": _message("content"),
    "params": _item("params"),
    "custom_id": _item("custom_id"),
    "extra": _item("extra"),
}


def _post(client: Client, token: str, path: str, body: Any) -> Any:
    return client.post(
        path,
        data=body if isinstance(body, str | bytes) else json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def _rows() -> tuple[int, int]:
    return BatchJob.objects.count(), BatchJobRequest.objects.count()


def _same(stored: Any, sent: Any) -> bool:
    """Equal as JSON values (jsonb gives 1e308 back as the integer it equals)."""
    if isinstance(stored, dict) and isinstance(sent, dict):
        return stored.keys() == sent.keys() and all(_same(stored[k], sent[k]) for k in sent)
    if isinstance(stored, list) and isinstance(sent, list):
        return len(stored) == len(sent) and all(map(_same, stored, sent))
    numbers = (int, float)
    if isinstance(stored, numbers) and isinstance(sent, numbers):
        return math.isclose(stored, sent, rel_tol=1e-15, abs_tol=0)
    return bool(stored == sent)


@pytest.fixture
def token(staff_user: Any) -> str:
    return api_token_create(user=staff_user, name="hostile", scopes=["submit"])[1]


def _ended_job(outcomes: list[str]) -> BatchJob:
    requests = [ValidRequest(f"r{i}", _params()) for i in range(len(outcomes))]
    job = services.batch_job_create(requests=requests, submitted_by="t")
    for row, outcome in zip(job.requests.order_by("position"), outcomes, strict=True):
        row.outcome = outcome
        row.save()
    BatchJob.objects.filter(pk=job.pk).update(status=JobStatus.ENDED, ended_at=timezone.now())
    job.refresh_from_db()
    return job


# --- POST /api/batches -----------------------------------------------------------------------


@PROPERTY
@given(target=st.sampled_from(sorted(REQUEST_TARGETS)), value=hostile_values)
def test_a_hostile_value_anywhere_in_a_request_is_named_and_nothing_is_half_stored(
    client: Client, token: str, target: str, value: Any
) -> None:
    hostile = _request("b")
    REQUEST_TARGETS[target](hostile, value)
    body = {"name": "hostile", "requests": [_request("a"), hostile, _request("c")]}
    before = _rows()

    response = _post(client, token, "/api/batches", dumps(body))

    assert response.status_code in (201, 422), response.content[:500]
    if response.status_code == 201:  # stored whole, exactly as sent
        job = BatchJob.objects.get(pk=response.json()["id"])
        stored = job.requests.get(position=1)
        assert _same(stored.params, json.loads(dumps(hostile))["params"])
        assert _rows() == (before[0] + 1, before[1] + 3)
        return
    errors = response.json()["errors"]
    assert any(
        e["where"] == "requests[1]" and (e["field"] + ".").startswith(target.split("[")[0])
        for e in errors
    ), errors
    assert _rows() == before


@PROPERTY
@given(
    target=st.sampled_from(["conversation", "content", "model", "max_tokens", "custom_ids"]),
    value=hostile_values,
)
def test_a_hostile_value_in_message_lists_is_named_and_nothing_is_stored(
    client: Client, token: str, target: str, value: Any
) -> None:
    conversation: Any = [{"role": "user", "content": "hi"}]
    body: dict[str, Any] = {
        "messages": [[{"role": "user", "content": "first"}], conversation],
        "params": {"model": MODEL, "max_tokens": 16},
    }
    if target == "conversation":
        body["messages"][1] = value
    elif target == "content":
        conversation[0]["content"] = value
    elif target == "custom_ids":
        body["custom_ids"] = ["first", value]
    else:
        body["params"][target] = value
    before = _rows()

    response = _post(client, token, "/api/batches", dumps(body))

    assert response.status_code in (201, 422), response.content[:500]
    if response.status_code == 201:
        assert _rows() == (before[0] + 1, before[1] + 2)
        return
    answer = json.dumps(response.json())
    needle = {"conversation": "messages", "content": "messages[1]"}.get(target, target)
    assert needle in answer, answer[:500]
    assert _rows() == before


@PROPERTY
@given(field=st.sampled_from(["name", "mode"]), value=hostile_values)
def test_a_hostile_job_field_is_named_and_nothing_is_stored(
    client: Client, token: str, field: str, value: Any
) -> None:
    before = _rows()
    response = _post(
        client, token, "/api/batches", dumps({field: value, "requests": [_request("a")]})
    )
    assert response.status_code in (201, 422), response.content[:500]
    if response.status_code == 201:
        assert BatchJob.objects.get(pk=response.json()["id"]).name == (
            (value or "") if field == "name" else ""
        )
        return
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert _rows() == before


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"model": "m" * 500}, "params.model", "at most 120 characters (got 500)"),
        ({"model": "gpt-4o"}, "params.model", "is not a model this admin knows"),
        ({"model": "claude-nonexistent-9"}, "params.model", "is not a model this admin knows"),
        ({"max_tokens": 64_001}, "params.max_tokens", "at most 64000, the most claude-haiku-4-5"),
        (
            {"model": "claude-sonnet-4-5", "max_tokens": 10**6},
            "params.max_tokens",
            "at most 128000, the most any Claude model writes",
        ),
        ({"max_tokens": 2**64}, "params.max_tokens", "within 64 bits"),
        ({"temperatur": 0.5}, "params.temperatur", "is not a Messages API parameter"),
        (
            {"messages": [{"role": "user", "content": "a\x00b"}]},
            "params.messages[0].content",
            "NUL",
        ),
        ({"system": "\ud800"}, "params.system", "lone surrogate"),
        ({"metadata": {"user_id": float("nan")}}, "params.metadata.user_id", "finite"),
        ({"metadata": {"user\x00": "x"}}, "params.metadata.user\x00", "is a key that"),
        ({"tools": [{"x": float("inf")}]}, "params.tools[0].x", "finite"),
        ({"stop_sequences": [float("-inf")]}, "params.stop_sequences[0]", "finite"),
        (
            {"metadata": json.loads("[" * 40 + "]" * 40)},
            "params.metadata" + "[0]" * (MAX_PARAMS_DEPTH - 1),
            f"nested more than {MAX_PARAMS_DEPTH} levels deep",
        ),
    ],
)
def test_requests_are_checked_against_what_can_be_known_before_anything_is_stored(
    client: Client, token: str, overrides: dict[str, Any], field: str, message: str
) -> None:
    body = json.dumps({"requests": [_request("a"), _request("b", **overrides)]})
    response = _post(client, token, "/api/batches", body)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["where"], error["field"]) == ("requests[1]", field)
    assert message in error["message"]
    assert _rows() == (0, 0)


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (DEEP_ARRAY, "params.metadata", "nested more than"),
        (HUGE_INTEGER, "params.max_tokens", "5000 digits, too long to read"),
    ],
)
def test_json_too_deep_or_too_long_for_python_is_named_not_a_500(
    client: Client, token: str, raw: Any, field: str, message: str
) -> None:
    key = field.removeprefix("params.")
    body = dumps({"requests": [_request("a"), _request("b", **{key: raw})]})
    response = _post(client, token, "/api/batches", body)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["where"] == "requests[1]"
    assert error["field"].startswith(field)
    assert message in error["message"]


@pytest.mark.parametrize("length", ["9" * 5_000, "1" + "0" * 30, "²", "١٢"])
def test_a_content_length_python_cannot_read_is_no_500(
    client: Client, token: str, length: str
) -> None:
    response = client.post(
        "/api/batches",
        data=json.dumps({"requests": [_request("a")]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        CONTENT_LENGTH=length,
    )
    assert response.status_code in (400, 413)
    assert "body" in response.json()["detail"]
    assert _rows() == (0, 0)


def test_a_custom_id_with_a_trailing_newline_is_refused(client: Client, token: str) -> None:
    request = _request("a")
    request["custom_id"] = "a\n"
    response = _post(client, token, "/api/batches", {"requests": [request]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "custom_id"


def test_a_flat_message_list_is_refused_not_mangled(client: Client, token: str) -> None:
    body = {
        "messages": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
        "params": {"model": MODEL, "max_tokens": 16},
    }
    response = _post(client, token, "/api/batches", body)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "messages"
    assert "list of conversations, each a list of messages" in error["message"]
    assert _rows() == (0, 0)


@pytest.mark.parametrize(
    "conversation", ["hello", {"role": "user", "content": "x"}, [], ["hello"], [["user", "x"]]]
)
def test_a_conversation_that_is_not_a_list_of_messages_is_named(
    client: Client, token: str, conversation: Any
) -> None:
    body = {
        "messages": [[{"role": "user", "content": "ok"}], conversation],
        "params": {"model": MODEL, "max_tokens": 16},
    }
    response = _post(client, token, "/api/batches", body)
    assert response.status_code == 422
    assert [e["where"] for e in response.json()["errors"]] == ["messages[1]"]
    assert _rows() == (0, 0)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "n" * 201, "requests": [_request("a")]}, "name"),
        ({"name": "a\x00", "requests": [_request("a")]}, "name"),
        ({"name": {"a": 1}, "requests": [_request("a")]}, "name"),
        ({"nmae": "x", "requests": [_request("a")]}, "nmae"),
        ({"params": {}, "requests": [_request("a")]}, "params"),
    ],
)
def test_the_jobs_own_fields_are_checked_not_truncated(
    client: Client, token: str, body: dict[str, Any], field: str
) -> None:
    response = _post(client, token, "/api/batches", body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert _rows() == (0, 0)


# --- query strings and ids -------------------------------------------------------------------


@PROPERTY
@given(
    params=st.dictionaries(
        st.sampled_from(["limit", "offset", "status"]),
        st.one_of(st.sampled_from([str(2**63), str(2**64), str(10**40)]), hostile_query_values),
        min_size=1,
    )
)
def test_the_list_api_refuses_hostile_queries_naming_them(
    client: Client, token: str, params: dict[str, str]
) -> None:
    response = client.get(query("/api/batches", params), HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (200, 422), response.content[:300]
    if response.status_code == 422:
        assert any(name in response.content.decode() for name in params)


@pytest.mark.parametrize(
    "params",
    [
        {"offset": str(2**64)},
        {"limit": str(2**64)},
        {"offset": str(-(2**64))},
        {"status": "ended\x00"},
    ],
)
def test_values_beyond_64_bits_and_unknown_statuses_are_a_422_naming_the_parameter(
    client: Client, token: str, params: dict[str, str]
) -> None:
    response = client.get("/api/batches", params, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == next(iter(params))


@PROPERTY
@given(
    page=st.sampled_from(["list", "detail", "results", "api_results", "api_job"]),
    value=hostile_query_values,
)
def test_pages_and_results_survive_hostile_queries(
    client: Client, staff_client: Client, token: str, page: str, value: str
) -> None:
    job = BatchJob.objects.first() or _ended_job([Outcome.SUCCEEDED, Outcome.ERRORED])
    paths = {
        "list": (staff_client, query("/batches/", {"status": value, "page": value})),
        "detail": (staff_client, query(f"/batches/{job.pk}/", {"outcome": value, "page": value})),
        "results": (staff_client, query(f"/batches/{job.pk}/results.jsonl", {"outcome": value})),
        "api_results": (client, query(f"/api/batches/{job.pk}/results", {"outcome": value})),
        "api_job": (client, f"/api/batches/{job.pk}?x=1"),
    }
    user, path = paths[page]
    response = user.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (200, 422), response.status_code
    if isinstance(response, StreamingHttpResponse):
        b"".join(response.streaming_content)  # read to the end: it must not break off
    if response.status_code == 422:
        assert "outcome" in response.content.decode()


@pytest.mark.parametrize("job_id", [str(2**63), str(2**64), "9" * 40])
def test_an_id_beyond_64_bits_is_a_404(
    client: Client, staff_client: Client, token: str, job_id: str
) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get(f"/api/batches/{job_id}", **auth).status_code == 404
    assert client.get(f"/api/batches/{job_id}/results", **auth).status_code == 404
    assert _post(client, token, f"/api/batches/{job_id}/cancel", {}).status_code == 404
    assert staff_client.get(f"/batches/{job_id}/").status_code == 404
    assert staff_client.post(f"/batches/{job_id}/cancel/").status_code == 404


def test_an_unknown_outcome_is_refused_before_the_results_stream_starts(
    client: Client, token: str
) -> None:
    job = _ended_job([Outcome.SUCCEEDED])
    response = client.get(
        f"/api/batches/{job.pk}/results", {"outcome": "x\x00"}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "outcome"


@pytest.mark.parametrize(
    "body",
    ["[" * 30_000 + "]" * 30_000, dumps({"mode": DEEP_ARRAY}), '{"mode": "later"}', "{not json"],
)
def test_a_hostile_retry_body_is_refused_not_a_500(client: Client, token: str, body: str) -> None:
    job = _ended_job([Outcome.ERRORED])
    before = _rows()
    response = _post(client, token, f"/api/batches/{job.pk}/retry", body)
    assert response.status_code in (400, 422)
    if response.status_code == 422:
        assert "mode" in response.content.decode()
    assert _rows() == before


# --- the JSONL upload page --------------------------------------------------------------------


def _upload(staff_client: Client, *lines: str, name: str = "requests.jsonl") -> Any:
    upload = SimpleUploadedFile(name, "\n".join(lines).encode(), "application/x-ndjson")
    return staff_client.post("/batches/upload/", {"file": upload, "name": ""})


@PROPERTY
@given(target=st.sampled_from(sorted(REQUEST_TARGETS)), value=hostile_values)
def test_a_hostile_line_in_an_upload_is_named_and_nothing_is_stored(
    staff_client: Client, target: str, value: Any
) -> None:
    hostile = _request("b")
    REQUEST_TARGETS[target](hostile, value)
    before = _rows()
    response = _upload(staff_client, dumps(_request("a")), dumps(hostile), dumps(_request("c")))
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        page = response.content.decode()
        assert "line 2" in page
        assert "line 1" not in page
        assert "line 3" not in page
        assert _rows() == before


def test_an_upload_line_nested_too_deep_is_named(staff_client: Client) -> None:
    line = dumps(_request("b", metadata=DEEP_ARRAY))
    response = _upload(staff_client, dumps(_request("a")), line)
    assert response.status_code == 400
    assert "line 2, params.metadata" in response.content.decode()
    assert _rows() == (0, 0)


def test_a_file_name_with_nul_becomes_a_storable_job_name(staff_client: Client) -> None:
    response = _upload(staff_client, dumps(_request("a")), name="a\x00b.jsonl")
    assert response.status_code == 302
    assert "\x00" not in BatchJob.objects.get().name


def test_validation_names_every_field_it_refuses() -> None:
    with pytest.raises(RequestsInvalid) as caught:
        validate_requests(
            [("requests[0]", {"custom_id": "a", "params": _params(model="x\x00", stream=True)})]
        )
    fields = [e.field for e in caught.value.errors]
    assert fields == ["params.model", "params.stream"]
