"""View decorators shared by the admin's apps."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.utils.http import url_has_allowed_host_and_scheme

View = Callable[..., HttpResponse]


def _page_path(request: HttpRequest) -> str:
    """The page to come back to after signing in: for an htmx request the page the browser
    shows (HX-Current-URL, when it is on this site), not the partial's own URL, which may
    answer only POST or only a fragment; otherwise the requested path."""
    current = request.headers.get("HX-Current-URL", "")
    if current and url_has_allowed_host_and_scheme(
        current, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(current)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.path


def staff_required(view: View) -> View:
    """Staff only: anonymous visitors go to the login page, signed-in non-staff get 403.

    An htmx request from an expired session gets 401 with HX-Redirect, so htmx sends the whole
    page to the login (and back to the page afterwards) instead of swapping it into one card.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            if request.headers.get("HX-Request"):
                login = f"{settings.LOGIN_URL}?{urlencode({'next': _page_path(request)})}"
                return HttpResponse(status=401, headers={"HX-Redirect": login})
            return redirect_to_login(request.get_full_path())
        if not user.is_staff:
            raise PermissionDenied("staff only")
        return view(request, *args, **kwargs)

    return wrapped
