"""Issuing and checking API tokens."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from llmopt_admin.accounts.models import ApiToken, token_digest

RAW_PREFIX = "llmopt_"  # marks our tokens in logs and secret scanners


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the raw token, which is shown only once."""
    raw = RAW_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, digest=token_digest(raw), prefix=raw[:12])
    return token, raw


def api_token_authenticate(*, raw: str) -> AbstractBaseUser | None:
    """The active user behind a raw token, or None for an unknown or revoked token."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(raw), revoked=False, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user
