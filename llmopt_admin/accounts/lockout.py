"""The page a locked-out sign-in gets (django-axes' AXES_LOCKOUT_CALLABLE)."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """429 with the sign-in page saying why and for how long; Retry-After in seconds."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "registration/locked_out.html",
        {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "minutes": math.ceil(seconds / 60),
            "next": request.POST.get("next", "") if request.method == "POST" else "",
        },
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response
