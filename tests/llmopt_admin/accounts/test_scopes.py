"""API token scopes: every operation needs one, a token's scopes are its only rights."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.test import Client

from llmopt_admin.accounts.scopes import ScopeRule
from llmopt_admin.accounts.services import api_token_create
from llmopt_admin.api import api
from optimization.telemetry import UsageEvent

pytestmark = pytest.mark.django_db

SCOPES = ("ingest", "submit", "read", "admin")

# Every operation of the API and the scopes that open it (admin opens everything). A new
# operation fails test_every_operation_of_the_api_has_a_scope until it is listed here.
OPERATIONS: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/config/ai-models"): {"read"},
    ("PATCH", "/api/config/ai-models"): set(),
    ("GET", "/api/batches"): {"read", "submit"},
    ("POST", "/api/batches"): {"submit"},
    ("GET", "/api/batches/{job_id}"): {"read", "submit"},
    ("GET", "/api/batches/{job_id}/results"): {"read", "submit"},
    ("POST", "/api/batches/{job_id}/cancel"): {"submit"},
    ("POST", "/api/batches/{job_id}/retry"): {"submit"},
    ("POST", "/api/usage/events"): {"ingest"},
    ("GET", "/api/savings/summary"): {"read"},
    ("GET", "/api/savings/breakdown"): {"read"},
    ("GET", "/api/savings/timeseries"): {"read"},
}


def _token(user: AbstractUser, *scopes: str) -> dict[str, str]:
    raw = api_token_create(user=user, name="scoped", scopes=scopes)[1]
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _call(method: str, template: str, auth: dict[str, str], body: Any = None) -> Any:
    path = template.replace("{job_id}", "999999")
    data = json.dumps({} if body is None else body)
    return Client().generic(method, path, data, content_type="application/json", **auth)


def _event() -> dict[str, Any]:
    return UsageEvent(
        request_id="req-scopes",
        timestamp=datetime.now(UTC),
        provider="anthropic",
        model="claude-sonnet-4-5",
        mode="cached",
        input_tokens=10,
        output_tokens=5,
    ).to_json()


def test_every_operation_of_the_api_has_a_scope() -> None:
    schema = api.get_openapi_schema()
    operations = {
        (method.upper(), path) for path, item in schema["paths"].items() for method in item
    }
    assert operations == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_each_operation_is_open_to_its_scopes_and_admin_and_403_to_the_others(
    staff_user: AbstractUser, method: str, path: str
) -> None:
    allowed = OPERATIONS[(method, path)] | {"admin"}
    for scope in SCOPES:
        response = _call(method, path, _token(staff_user, scope))
        if scope in allowed:
            assert response.status_code not in (401, 403), (scope, response.content)
        else:
            assert response.status_code == 403, (scope, response.content)
            body = response.json()
            needed = min(OPERATIONS[(method, path)] or {"admin"})
            assert body["missing_scope"] == needed
            assert needed in body["detail"]
            assert f"{method} " in body["detail"]
            assert body["token_scopes"] == [scope]
            assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_a_non_staff_users_ingest_token_can_post_usage_and_nothing_else(
    outsider: AbstractUser,
) -> None:
    auth = _token(outsider, "ingest")
    posted = _call("POST", "/api/usage/events", auth, {"events": [_event()]})
    assert posted.status_code == 200, posted.content
    assert posted.json()["accepted"] == 1
    # What a token without the scope used to get: every job, its prompts and outputs, cancel,
    # submit on the organisation's provider key.
    for method, path, missing in [
        ("GET", "/api/batches", "read"),
        ("GET", "/api/batches/{job_id}", "read"),
        ("GET", "/api/batches/{job_id}/results", "read"),
        ("POST", "/api/batches/{job_id}/cancel", "submit"),
        ("POST", "/api/batches", "submit"),
        ("GET", "/api/savings/summary", "read"),
        ("GET", "/api/config/ai-models", "read"),
        ("PATCH", "/api/config/ai-models", "admin"),
    ]:
        response = _call(method, path, auth)
        assert response.status_code == 403, (method, path)
        assert response.json()["missing_scope"] == missing


def test_a_read_token_reads_jobs_but_cannot_submit_or_cancel(outsider: AbstractUser) -> None:
    auth = _token(outsider, "read")
    assert _call("GET", "/api/batches", auth).status_code == 200
    assert _call("GET", "/api/savings/summary", auth).status_code == 200
    assert _call("POST", "/api/batches", auth).json()["missing_scope"] == "submit"
    assert _call("POST", "/api/batches/{job_id}/cancel", auth).status_code == 403
    assert _call("POST", "/api/usage/events", auth).json()["missing_scope"] == "ingest"


def test_a_staff_session_keeps_full_access(staff_client: Client) -> None:
    for method, path in OPERATIONS:
        response = staff_client.generic(
            method, path.replace("{job_id}", "999999"), "{}", content_type="application/json"
        )
        assert response.status_code not in (401, 403), (method, path, response.content)


def test_scopes_are_checked_on_path_segments_not_on_string_prefixes() -> None:
    rule = ScopeRule("GET", "/api/batches", "read")
    assert rule.matches("GET", "/api/batches")
    assert rule.matches("GET", "/api/batches/3/results")
    assert not rule.matches("GET", "/api/batchesX")
    assert not rule.matches("POST", "/api/batches")


def test_a_token_of_a_deactivated_user_is_refused(staff_user: AbstractUser) -> None:
    auth = _token(staff_user, "admin")
    get_user_model().objects.filter(pk=staff_user.pk).update(is_active=False)
    response = _call("GET", "/api/batches", auth)
    assert response.status_code == 401
