"""Issuing, checking and revoking API tokens."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from llmopt_admin.accounts.models import ApiToken, token_digest
from llmopt_admin.accounts.scopes import scopes_parse

RAW_PREFIX = "llmopt_"  # marks our tokens in logs and secret scanners


class ApiTokenRejected(Exception):
    """The raw token opens nothing; the message says why (unknown, revoked, inactive user)."""


def api_token_create(
    *, user: AbstractBaseUser, name: str, scopes: Iterable[str]
) -> tuple[ApiToken, str]:
    """Create a token for `user` with `scopes` (checked: UnknownScope); returns the row and the
    raw token, which is shown only once."""
    granted = scopes_parse(scopes)
    raw = RAW_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, digest=token_digest(raw), prefix=raw[:12], scopes=granted
    )
    return token, raw


def api_token_authenticate(*, raw: str) -> ApiToken:
    """The live token behind `raw`, its user loaded; marks it used. ApiTokenRejected if none."""
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(raw)).first()
    if token is None:
        raise ApiTokenRejected("unknown API token")
    if token.revoked:
        raise ApiTokenRejected(f"API token {token.prefix}… has been revoked")
    if not token.user.is_active:
        raise ApiTokenRejected(f"the user of API token {token.prefix}… is deactivated")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def api_tokens_revoke(*, tokens: QuerySet[ApiToken]) -> int:
    """Revoke `tokens` for good (their next request is a 401); returns how many were live."""
    return tokens.filter(revoked=False).update(revoked=True)
