"""API tokens in Django's admin: shown without their secret, scopes editable, revocable."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.test import Client

from llmopt_admin.accounts.models import ApiToken
from llmopt_admin.accounts.services import api_token_create

pytestmark = pytest.mark.django_db
LIST = "/admin/accounts/apitoken/"


@pytest.fixture
def superuser_client() -> Client:
    user = get_user_model().objects.create_superuser("root", email="", password=None)
    client = Client()
    client.force_login(user)
    return client


def test_the_list_shows_prefix_name_user_scopes_and_never_the_secret(
    superuser_client: Client, staff_user: AbstractUser
) -> None:
    token, raw = api_token_create(user=staff_user, name="pipeshub-prod", scopes=["ingest", "read"])
    page = superuser_client.get(LIST).content.decode()
    for shown in (token.prefix, "pipeshub-prod", "operator", "ingest, read"):
        assert shown in page
    assert raw not in page
    assert token.digest not in page
    change = superuser_client.get(f"{LIST}{token.pk}/change/").content.decode()
    assert raw not in change
    assert token.digest not in change


def test_the_revoke_action_revokes_the_selected_tokens(
    superuser_client: Client, staff_user: AbstractUser
) -> None:
    token, raw = api_token_create(user=staff_user, name="leaked", scopes=["admin"])
    _, kept_raw = api_token_create(user=staff_user, name="kept", scopes=["admin"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert Client().get("/api/batches", **auth).status_code == 200

    response = superuser_client.post(
        LIST, {"action": "revoke_tokens", "_selected_action": [token.pk]}, follow=True
    )
    assert "Revoked 1 API token" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked
    assert Client().get("/api/batches", **auth).status_code == 401
    kept_auth = {"HTTP_AUTHORIZATION": f"Bearer {kept_raw}"}
    assert Client().get("/api/batches", **kept_auth).status_code == 200


def test_scopes_are_edited_as_checkboxes_and_revoked_cannot_be_undone_in_a_form(
    superuser_client: Client, staff_user: AbstractUser
) -> None:
    token, _ = api_token_create(user=staff_user, name="recorder", scopes=["ingest"])
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    response = superuser_client.post(
        f"{LIST}{token.pk}/change/",
        {"name": "recorder", "scopes": ["ingest", "read"], "revoked": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    token.refresh_from_db()
    assert token.scopes == ["ingest", "read"]
    assert token.revoked  # read-only in the form: a revoked token stays revoked


def test_tokens_are_not_added_in_the_admin(superuser_client: Client) -> None:
    # Only the command shows the secret, once; an admin form has nowhere to show it.
    assert superuser_client.get(f"{LIST}add/").status_code == 403
