"""API authentication: a bearer token (machines), judged by its scopes alone, or a staff session
(browsers), which has full access and is CSRF-checked on unsafe methods.

A request that carries an Authorization header is judged by that header only: a missing, wrong
or revoked token is a 401 with `WWW-Authenticate: Bearer`, never the session's CSRF answer. A
valid token without the scope the request needs is a 403 naming that scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Schema
from ninja.errors import AuthenticationError, AuthorizationError
from ninja.security import HttpBearer, SessionAuth

from llmopt_admin.accounts.scopes import ScopeRule, scope_rule_for
from llmopt_admin.accounts.services import ApiTokenRejected, api_token_authenticate

__all__ = [
    "ForbiddenOut",
    "ScopeMissing",
    "StaffSessionAuth",
    "TokenAuth",
    "TokenRejected",
    "UnauthorizedOut",
    "api_auth",
    "authentication_failed",
    "scope_missing",
]

REALM = "llmopt"
NO_CREDENTIALS = (
    "authentication required: send 'Authorization: Bearer <token>' (a token from "
    "manage.py create_api_token) or sign in as a staff member"
)


class TokenRejected(AuthenticationError):
    """An Authorization header that authenticates nobody."""

    def __init__(self, message: str) -> None:
        super().__init__(message=message)


class ScopeMissing(AuthorizationError):
    """A valid token whose scopes do not cover the request."""

    def __init__(self, *, rule: ScopeRule, granted: Sequence[str], method: str, path: str):
        needed = " or ".join((rule.scope, *rule.also))
        super().__init__(
            message=f"this token's scopes ({', '.join(granted) or 'none'}) do not include "
            f"{needed}, which {method} {path} needs"
        )
        self.scope = rule.scope
        self.granted = list(granted)


class TokenAuth(HttpBearer):
    """`Authorization: Bearer llmopt_…` issued by `manage.py create_api_token`, allowed what
    `rules` grant its scopes (a request no rule names needs `admin`)."""

    def __init__(self, rules: Sequence[ScopeRule]) -> None:
        super().__init__()
        self.rules = tuple(rules)

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get(self.header)
        if header is None:
            return None  # no token offered: a staff session may answer
        scheme, _, raw = header.strip().partition(" ")
        if scheme.lower() != self.openapi_scheme or not raw.strip():
            raise TokenRejected("the Authorization header must be 'Bearer <token>'")
        return self.authenticate(request, raw.strip())

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            api_token = api_token_authenticate(raw=token)
        except ApiTokenRejected as rejected:
            raise TokenRejected(str(rejected)) from None
        method, path = request.method or "", request.path_info
        rule = scope_rule_for(self.rules, method, path)
        if not rule.allows(api_token.scopes):
            raise ScopeMissing(rule=rule, granted=api_token.scopes, method=method, path=path)
        request.user = api_token.user
        return api_token.user


class StaffSessionAuth(SessionAuth):
    """A signed-in staff member's session: everything, with ninja's CSRF check on unsafe
    methods. Without a staff session the answer is 401, not a CSRF refusal."""

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if request.headers.get("Authorization") is not None:
            return None  # a machine client: its token alone decides
        if user is None or not user.is_authenticated or not user.is_staff:
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return request.user


def api_auth(rules: Sequence[ScopeRule]) -> list[Any]:
    """The API's authentication: a token first, then a staff session."""
    return [TokenAuth(rules), StaffSessionAuth()]


class UnauthorizedOut(Schema):
    """The body of a 401 (authentication_failed)."""

    detail: str


class ForbiddenOut(Schema):
    """The body of a 403: a token without the scope (scope_missing), or, with `detail` alone,
    a staff session's unsafe request that failed django-ninja's CSRF check."""

    detail: str
    missing_scope: str | None = None
    token_scopes: list[str] | None = None


def authentication_failed(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    """401 with `WWW-Authenticate: Bearer` (RFC 6750), naming what was wrong."""
    if isinstance(exc, TokenRejected):
        detail = exc.message
        challenge = f'Bearer realm="{REALM}", error="invalid_token"'
    else:
        detail = NO_CREDENTIALS
        challenge = f'Bearer realm="{REALM}"'
    response = JsonResponse({"detail": detail}, status=401)
    response["WWW-Authenticate"] = challenge
    return response


def scope_missing(request: HttpRequest, exc: ScopeMissing) -> HttpResponse:
    """403 naming the scope the token lacks."""
    response = JsonResponse(
        {"detail": exc.message, "missing_scope": exc.scope, "token_scopes": exc.granted},
        status=403,
    )
    response["WWW-Authenticate"] = (
        f'Bearer realm="{REALM}", error="insufficient_scope", scope="{exc.scope}"'
    )
    return response
