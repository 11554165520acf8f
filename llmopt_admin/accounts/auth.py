"""API authentication: a staff session (browser, CSRF-checked) or a bearer token (machines)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from llmopt_admin.accounts.services import api_token_authenticate


class StaffSessionAuth(SessionAuth):
    """A signed-in staff member's session; ninja checks CSRF for unsafe methods."""

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            return user
        return None


class TokenAuth(HttpBearer):
    """`Authorization: Bearer llmopt_…` issued by `manage.py create_api_token`."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(raw=token)
        if user is not None:
            request.user = user
        return user


API_AUTH = [TokenAuth(), StaffSessionAuth()]
