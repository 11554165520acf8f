"""Who is asking: a missing, wrong or revoked bearer token is a 401 with `WWW-Authenticate:
Bearer`, never the session's CSRF answer; a staff session stays CSRF-checked."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client

from llmopt_admin.accounts.models import ApiToken
from llmopt_admin.accounts.services import api_token_create
from llmopt_admin.api import api

pytestmark = pytest.mark.django_db

UNSAFE = [
    ("POST", "/api/batches"),
    ("POST", "/api/usage/events"),
    ("PATCH", "/api/config/ai-models"),
]


def _send(client: Client, method: str, path: str, **headers: Any) -> Any:
    return client.generic(method, path, "{}", content_type="application/json", **headers)


def _assert_401(response: Any, says: str) -> None:
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/json"
    assert says in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer ")
    assert "CSRF" not in response.content.decode()


@pytest.mark.parametrize(("method", "path"), UNSAFE)
def test_an_unsafe_request_without_credentials_is_401_not_a_csrf_refusal(
    method: str, path: str
) -> None:
    response = _send(Client(enforce_csrf_checks=True), method, path)
    _assert_401(response, "Authorization: Bearer")
    assert "error=" not in response["WWW-Authenticate"]  # no token was offered


@pytest.mark.parametrize(("method", "path"), UNSAFE)
def test_a_wrong_token_on_an_unsafe_request_is_401_not_a_csrf_refusal(
    method: str, path: str
) -> None:
    client = Client(enforce_csrf_checks=True)
    response = _send(client, method, path, HTTP_AUTHORIZATION="Bearer llmopt_wrong")
    _assert_401(response, "unknown API token")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]


def test_a_revoked_token_is_401_and_says_so(staff_user: AbstractUser) -> None:
    token, raw = api_token_create(user=staff_user, name="old", scopes=["admin"])
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    client = Client(enforce_csrf_checks=True)
    _assert_401(
        _send(client, "POST", "/api/batches", HTTP_AUTHORIZATION=f"Bearer {raw}"), "revoked"
    )
    _assert_401(_send(client, "GET", "/api/batches", HTTP_AUTHORIZATION=f"Bearer {raw}"), "revoked")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "Bearer ", "llmopt_abc"])
def test_an_authorization_header_that_is_not_a_bearer_token_is_401(header: str) -> None:
    response = _send(
        Client(enforce_csrf_checks=True), "POST", "/api/batches", HTTP_AUTHORIZATION=header
    )
    _assert_401(response, "Bearer")


def test_a_bearer_header_is_never_answered_by_the_session_even_for_signed_in_staff(
    staff_user: AbstractUser,
) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = _send(client, "POST", "/api/batches", HTTP_AUTHORIZATION="Bearer llmopt_wrong")
    _assert_401(response, "unknown API token")
    # A valid token is judged by its scopes alone, whatever the session could do.
    raw = api_token_create(user=staff_user, name="narrow", scopes=["ingest"])[1]
    response = _send(client, "GET", "/api/batches", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403
    assert response.json()["missing_scope"] == "read"


def test_a_non_staff_session_is_401(outsider_client: Client) -> None:
    _assert_401(_send(outsider_client, "GET", "/api/batches"), "Authorization: Bearer")


def test_a_staff_session_is_still_csrf_checked_on_unsafe_methods(staff_user: AbstractUser) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    assert _send(client, "GET", "/api/batches").status_code == 200
    refused = _send(client, "POST", "/api/batches/999999/cancel")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    client.get("/savings/")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    allowed = _send(client, "POST", "/api/batches/999999/cancel", HTTP_X_CSRFTOKEN=csrf)
    assert allowed.status_code == 404


def test_every_operation_of_the_api_answers_401_without_credentials() -> None:
    paths = api.get_openapi_schema()["paths"]
    operations = [(method.upper(), path) for path, item in paths.items() for method in item]
    assert len(operations) >= 12
    for method, path in operations:
        response = _send(Client(enforce_csrf_checks=True), method, path.replace("{job_id}", "1"))
        _assert_401(response, "Authorization: Bearer")
