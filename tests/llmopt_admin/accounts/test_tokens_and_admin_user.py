from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from llmopt_admin.accounts.models import ApiToken, token_digest
from llmopt_admin.accounts.services import (
    ApiTokenRejected,
    api_token_authenticate,
    api_token_create,
)

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_ensure_admin_creates_a_superuser_and_prints_the_password_once() -> None:
    first = run("ensure_admin")
    password = first.split("password: ")[1].split()[0]
    user = get_user_model().objects.get(username="admin")
    assert user.is_staff
    assert user.is_superuser
    assert user.check_password(password)

    second = run("ensure_admin")
    assert password not in second
    assert "already exists" in second


def test_a_token_is_stored_only_as_its_digest_and_authenticates_its_user() -> None:
    user = get_user_model().objects.create_user("robot", is_staff=True)
    token, raw = api_token_create(user=user, name="backend", scopes=["read"])
    assert raw.startswith("llmopt_")
    assert token.digest == token_digest(raw)
    assert raw not in (token.digest, token.prefix)
    assert api_token_authenticate(raw=raw).user == user
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token.scopes == ["read"]


def test_a_revoked_or_unknown_token_authenticates_nobody() -> None:
    user = get_user_model().objects.create_user("robot")
    token, raw = api_token_create(user=user, name="backend", scopes=["ingest"])
    with pytest.raises(ApiTokenRejected, match="unknown"):
        api_token_authenticate(raw="llmopt_not-a-token")
    ApiToken.objects.filter(pk=token.pk).update(revoked=True)
    with pytest.raises(ApiTokenRejected, match="revoked"):
        api_token_authenticate(raw=raw)


def test_create_api_token_prints_a_working_token_with_the_scopes_asked_for() -> None:
    user = get_user_model().objects.create_user("robot")
    err = StringIO()
    out = StringIO()
    call_command(
        "create_api_token", "robot", "--name", "pipeshub", "--scope", "read,submit",
        "--scope", "ingest", stdout=out, stderr=err,
    )  # fmt: skip
    raw = out.getvalue().strip()
    assert "\n" not in raw  # stdout is the token alone, for TOKEN=$(manage.py create_api_token …)
    token = api_token_authenticate(raw=raw)
    assert token.user == user
    assert token.scopes == ["ingest", "submit", "read"]
    assert "ingest, submit, read" in err.getvalue()
    assert raw not in err.getvalue()
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        run("create_api_token", "ghost", "--scope", "read")


def test_create_api_token_needs_at_least_one_known_scope() -> None:
    get_user_model().objects.create_user("robot")
    with pytest.raises(CommandError, match="--scope"):
        run("create_api_token", "robot")
    with pytest.raises(CommandError, match=r"unknown scope 'write'.*ingest, submit, read, admin"):
        run("create_api_token", "robot", "--scope", "read,write")
    with pytest.raises(CommandError, match="at least one scope"):
        run("create_api_token", "robot", "--scope", " , ")
    assert not ApiToken.objects.exists()
