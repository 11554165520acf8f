"""The API's own description is true: schemathesis drives the live WSGI app on PostgreSQL with
cases drawn from /api/openapi.json and checks every answer against it.

The schema is the one /api/openapi.json serves (that URL wants a staff session, so it is built
with api.get_openapi_schema()); requests go through llmopt_admin.wsgi.application with an
`admin` token. Each operation gets schema-valid and schema-violating cases; the stateful run
follows the description's OpenAPI links (a submitted job's id to read, cancel, retry it and fetch
its results; a read's ETag to the If-Match of a write).

Checks: all of schemathesis's, with these decisions:
- positive_data_acceptance is off: what the API accepts depends on more than the schema can
  say (the document's current revision, the models the price table knows, a provider's limits,
  a start before an end), and those refusals are documented 4xx answers.
- negative_data_rejection also counts 412 and 413 as a refusal (a well-formed If-Match naming
  no current revision; a body over its limit), and is off for POST /api/usage/events, where a
  schema-violating event is refused by index in a 200 (`rejected`) so its neighbours still count.
- missing_required_header also counts 428 as a refusal: PATCH without If-Match is 428
  Precondition Required (RFC 6585), the status made for exactly that.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
import schemathesis
from django.contrib.auth.models import AbstractUser
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis.stateful import initialize
from ninja import Schema
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput

from llmopt_admin.accounts import services
from llmopt_admin.accounts.services import RAW_PREFIX, api_token_create
from llmopt_admin.api import api
from llmopt_admin.batches import tasks
from llmopt_admin.batches.models import Outcome
from llmopt_admin.batches.schemas import BatchSubmitIn
from llmopt_admin.configs.schemas import IF_MATCH_PATTERN
from llmopt_admin.wsgi import application
from optimization.stores.base import StoredDocument

from .batches.test_views import _ended_job, _request

MAX_EXAMPLES = 30
# Coverage-phase cases are built when pytest collects the test, before any fixture can create a
# token, so the token's value is fixed here and the `token` fixture has api_token_create issue it.
TOKEN_SUFFIX = "schemathesis-run-token"
TOKEN = RAW_PREFIX + TOKEN_SUFFIX
CONFIG = schemathesis.Config.from_str(
    f"""
[auth.openapi.TokenAuth]
bearer = "{TOKEN}"

[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true

[checks.positive_data_acceptance]
enabled = false

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "413", "415",
                     "422", "428", "429"]

[checks.missing_required_header]
expected-statuses = ["400", "401", "403", "406", "415", "422", "428"]

[[operations]]
include-path = "/api/usage/events"
checks.negative_data_rejection.enabled = false
"""
)
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def _published_schema() -> dict[str, Any]:
    """The schema as /api/openapi.json serves it (JSON, and a copy schemathesis may change)."""
    return json.loads(json.dumps(api.get_openapi_schema()))


schema = schemathesis.openapi.from_dict(_published_schema(), config=CONFIG)
schema.app = application


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Jobs the API handed to the worker (transaction.on_commit); no broker, no provider."""
    sent: list[int] = []
    monkeypatch.setattr(tasks, "enqueue", lambda task, job_id: sent.append(job_id))
    return sent


@pytest.fixture
def token(
    monkeypatch: pytest.MonkeyPatch,
    staff_user: AbstractUser,
    ai_models: StoredDocument,
    enqueued: list[int],
) -> str:
    """The admin TOKEN, with a config document and ended jobs to read and retry. Tests using it
    are transactional: Django's WSGI handler closes a connection it finds inside a transaction
    (as a plain django_db test's is) when a request starts."""
    _ended_job([Outcome.SUCCEEDED, Outcome.ERRORED])
    _ended_job([Outcome.EXPIRED])
    monkeypatch.setattr(
        services, "secrets", SimpleNamespace(token_urlsafe=lambda nbytes: TOKEN_SUFFIX)
    )
    token = api_token_create(user=staff_user, name="schemathesis", scopes=["admin"])[1]
    assert token == TOKEN
    return token


@pytest.mark.django_db(transaction=True)  # on the test: a module pytestmark does not reach it
@schema.parametrize()
@SETTINGS
def test_every_operation_answers_as_its_description_says(
    case: schemathesis.Case, token: str
) -> None:
    case.call_and_validate()


Workflow = schema.as_state_machine()
# schemathesis starts its scenarios only from operations whose inputs it believes it can fill; it
# reads the body's custom_id as a reference to a "Custom" resource nothing produces, and so never
# starts with POST /api/batches. Each scenario here starts with a job submitted through it.
SUBMITTED = "POST /api/batches -> 201"  # the bundle schemathesis keeps that link's sources in
JOB = {"requests": [_request("r0")]}


class SubmitFirst(Workflow):
    @initialize(
        target=Workflow.bundles[SUBMITTED],
        case=schema["/api/batches"]["POST"].as_strategy(body=JOB, media_type="application/json"),
    )
    def submit_a_job(self, case: schemathesis.Case) -> StepOutput:
        # Recorded as schemathesis's own first steps are (specs.openapi.stateful.transition), so
        # that the links followed from this job know their parent.
        first = StepInput.initial(case)
        self.recorder.record_case(case=case)
        self.control.record_step(first, self.recorder)
        output = self.step(first)
        assert output.response.status_code == 201, output.response.text
        return output


@pytest.mark.django_db(transaction=True)
def test_linked_operations_answer_as_the_description_says(token: str, enqueued: list[int]) -> None:
    SubmitFirst.run(settings=settings(SETTINGS, stateful_step_count=6))
    assert enqueued  # submitted jobs went to the worker


# --- what the runs above found, each kept by a focused test ------------------------------------


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    paths = _published_schema()["paths"]
    return [
        (method.upper(), path, op) for path, item in paths.items() for method, op in item.items()
    ]


def _assert_documented(response: Any, method: str, path: str) -> None:
    """`response` has a status the operation documents and a body its schema for it allows."""
    document = _published_schema()
    responses = document["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in responses, (response.status_code, list(responses))
    schema_for = responses[str(response.status_code)]["content"]["application/json"]["schema"]
    # The document's own components resolve the schema's $refs (OpenAPI 3.1 is JSON Schema).
    jsonschema.Draft202012Validator({**document, **schema_for}).validate(response.json())


def test_no_two_schemas_of_the_api_share_a_name() -> None:
    """A name is one component of the description: two classes with one name (batches' and
    savings' ErrorOut were) publish one shape for both, and one of them is then wrong."""
    found: dict[str, set[type]] = {}
    stack = list(Schema.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("llmopt_admin."):
            found.setdefault(cls.__name__, set()).add(cls)
    assert {name: classes for name, classes in found.items() if len(classes) > 1} == {}
    assert {"BatchErrorOut", "SavingsErrorOut", "ConfigErrorsOut"} <= found.keys()


@pytest.mark.django_db
def test_batch_errors_have_the_shape_the_description_publishes(
    client: Client, staff_token: str
) -> None:
    auth = {"HTTP_AUTHORIZATION": f"Bearer {staff_token}"}
    refused = client.get("/api/batches", {"status": "later"}, **auth)
    assert refused.json()["errors"][0]["field"] == "status"
    _assert_documented(refused, "GET", "/api/batches")
    missing = client.get("/api/batches/424242", **auth)
    _assert_documented(missing, "GET", "/api/batches/{job_id}")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/api/batches/abc", None, 422),  # not a whole number: django-ninja's own 422
        ("GET", "/api/batches?limit=many", None, 422),
        ("GET", "/api/batches/abc/results", None, 422),
        ("POST", "/api/batches/abc/cancel", None, 422),
        ("POST", "/api/batches/{job_id}/retry", "", 422),  # no body
        ("POST", "/api/batches/{job_id}/retry", "{not json", 400),
        ("POST", "/api/batches/{job_id}/retry", '{"mode": "later"}', 422),
    ],
)
def test_django_ninjas_own_refusals_are_documented(
    client: Client, staff_token: str, method: str, path: str, body: str | None, status: int
) -> None:
    job = _ended_job([Outcome.ERRORED])
    url = path.replace("{job_id}", str(job.pk))
    response = client.generic(
        method,
        url,
        body or "",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
    )
    assert response.status_code == status, response.content
    template = path.split("?")[0].replace("/abc", "/{job_id}")
    _assert_documented(response, method, template)


@pytest.mark.django_db
def test_refused_credentials_and_scopes_have_the_documented_answers(
    staff_user: AbstractUser, staff_token: str
) -> None:
    ingest = api_token_create(user=staff_user, name="recorder", scopes=["ingest"])[1]
    session = Client(enforce_csrf_checks=True)
    session.force_login(staff_user)
    answers = [
        (Client().get("/api/batches"), 401),
        (Client().get("/api/batches", HTTP_AUTHORIZATION="Bearer llmopt_nonsense"), 401),
        (Client().get("/api/batches", HTTP_AUTHORIZATION=f"Bearer {ingest}"), 403),
        (session.post("/api/batches/1/cancel"), 403),  # no CSRF token
    ]
    for response, status in answers:
        assert response.status_code == status
        _assert_documented(response, response.request["REQUEST_METHOD"], "/api/batches")
        if status == 401 or "missing_scope" in response.json():
            assert response["WWW-Authenticate"].startswith("Bearer ")
    for method, path, operation in _operations():
        for status, model in (("401", "UnauthorizedOut"), ("403", "ForbiddenOut")):
            content = operation["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": f"#/components/schemas/{model}"}, (method, path)


def test_every_query_parameter_an_operation_reads_is_published() -> None:
    read = {
        ("GET", "/api/batches"): {"status", "limit", "offset"},
        ("GET", "/api/batches/{job_id}/results"): {"job_id", "outcome"},
        **{
            ("GET", f"/api/savings/{name}"): {"period", "start", "end", "provider", "model"}
            for name in ("summary", "breakdown", "timeseries")
        },
        ("PATCH", "/api/config/ai-models"): {"If-Match"},
    }
    for method, path, operation in _operations():
        published = {parameter["name"] for parameter in operation["parameters"]}
        assert read.get((method, path), published) == published, (method, path)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "example", BatchSubmitIn.model_json_schema()["examples"], ids=["requests", "messages"]
)
def test_the_published_submit_examples_are_accepted(
    client: Client, staff_token: str, example: dict[str, Any]
) -> None:
    response = client.post(
        "/api/batches",
        json.dumps(example),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
    )
    assert response.status_code == 201, response.content
    _assert_documented(response, "POST", "/api/batches")


def test_the_served_json_keeps_every_documented_answer() -> None:
    """Status 201 and "201" are two keys of a dict but one of JSON, where the last wins: an
    `openapi_extra` keyed by text replaced the 201 of POST /api/batches by its links alone."""
    built = api.get_openapi_schema()["paths"]
    for method, path, operation in _operations():
        assert len(operation["responses"]) == len(built[path][method.lower()]["responses"])
        for status, answer in operation["responses"].items():
            if not status.startswith("2") or path.endswith("/results"):
                continue
            assert "application/json" in answer["content"], (method, path, status)


def test_every_link_names_an_operation_and_its_parameters() -> None:
    operations = {op["operationId"]: op for _, _, op in _operations()}
    links = [
        link
        for _, _, operation in _operations()
        for answer in operation["responses"].values()
        for link in answer.get("links", {}).values()
    ]
    assert len(links) >= 11
    for link in links:
        target = operations[link["operationId"]]
        names = {p["name"] for p in target["parameters"]}
        assert {name.removeprefix("header.") for name in link["parameters"]} <= names, link


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("if_match", "published"),
    [
        ('"1"', True),
        ('"999"', True),
        ('W/"1"', True),
        (' "999" , W/"1"', True),
        ("1", False),
        ("*", False),
        ("", False),
        ('"1', False),
    ],
)
def test_the_published_if_match_pattern_is_what_the_endpoint_reads_as_entity_tags(
    client: Client, staff_token: str, ai_models: StoredDocument, if_match: str, published: bool
) -> None:
    """A header the pattern allows is judged by its revision (200, 412); any other is refused
    as malformed (400) or missing (428)."""
    assert ai_models.revision == "1"
    response = client.patch(
        "/api/config/ai-models",
        json.dumps({"llm": {"0": {"cachingEnabled": True}}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
        HTTP_IF_MATCH=if_match,
    )
    assert bool(re.fullmatch(IF_MATCH_PATTERN, if_match)) is published
    assert (response.status_code in (200, 412)) is published, response.content
    _assert_documented(response, "PATCH", "/api/config/ai-models")
