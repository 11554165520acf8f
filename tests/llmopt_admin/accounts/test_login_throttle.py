"""Repeated failed sign-ins lock that username from that address for a while (django-axes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def operator() -> Any:
    return get_user_model().objects.create_user("alice", password=PASSWORD, is_staff=True)


def _sign_in(url: str, username: str, password: str, address: str = "10.0.0.1") -> Any:
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": username, "password": password})
    response.signed_in = "_auth_user_id" in client.session
    return response


@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_five_failures_lock_the_username_from_that_address_for_fifteen_minutes(
    url: str, operator: Any
) -> None:
    for _ in range(4):
        failed = _sign_in(url, "alice", "wrong")
        assert failed.status_code == 200
        assert not failed.signed_in
    locked = _sign_in(url, "alice", "wrong")
    assert locked.status_code == 429

    # Even the right password is refused now, with a message saying why and for how long.
    refused = _sign_in(url, "alice", PASSWORD)
    assert refused.status_code == 429
    assert not refused.signed_in
    page = refused.content.decode()
    assert "Too many failed sign-ins" in page
    assert "15 minutes" in page
    assert "5 failed attempts" in page
    assert refused["Retry-After"] == "900"

    # The lock is for that username from that address only.
    assert _sign_in(url, "alice", PASSWORD, address="10.0.0.2").signed_in


def test_the_lock_lapses_after_fifteen_minutes(operator: Any) -> None:
    from axes.models import AccessAttempt

    for _ in range(5):
        _sign_in("/login/", "alice", "wrong")
    assert _sign_in("/login/", "alice", PASSWORD).status_code == 429
    attempt = AccessAttempt.objects.get()
    AccessAttempt.objects.update(attempt_time=attempt.attempt_time - timedelta(minutes=16))
    assert _sign_in("/login/", "alice", PASSWORD).signed_in


def test_a_success_before_the_limit_starts_the_count_again(operator: Any) -> None:
    for _ in range(4):
        _sign_in("/login/", "alice", "wrong")
    assert _sign_in("/login/", "alice", PASSWORD).signed_in
    for _ in range(4):
        _sign_in("/login/", "alice", "wrong")
    assert _sign_in("/login/", "alice", PASSWORD).signed_in
