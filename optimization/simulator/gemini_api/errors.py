"""Google-shaped API errors: `{"error": {"code": 400, "message": ..., "status": ...}}`.

The shared simulator code raises `ApiError` (Anthropic's statuses); the Gemini routes answer
every one of them in Google's shape, with Google's status names (ai.google.dev "Troubleshooting
guide": 400 INVALID_ARGUMENT, 403 PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED,
500 INTERNAL, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optimization.simulator.errors import ApiError

GOOGLE_STATUS: Mapping[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# Anthropic's 529 "overloaded" is Google's 503 UNAVAILABLE; a too-large body is a 400 there.
_STATUS_FROM_ANTHROPIC: Mapping[int, int] = {529: 503, 413: 400, 405: 400}
_MESSAGES_FROM_ANTHROPIC: Mapping[int, str] = {
    429: "Resource has been exhausted (e.g. check quota).",
    503: "The model is overloaded. Please try again later.",
    500: "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting",
}
# Error `type`s of Anthropic-shaped bodies (batch items) back to their HTTP code.
_CODE_OF_TYPE: Mapping[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 400,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 503,
}


class GoogleError(Exception):
    """An error the Gemini routes answer with, in Google's shape."""

    def __init__(
        self, code: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = GOOGLE_STATUS.get(code, "UNKNOWN")
        self.message = message
        self.headers = dict(headers or {})

    def error_object(self) -> dict[str, Any]:
        """The inner `{"code", "message", "status"}` object (also a batch item's `error`)."""
        return {"code": self.code, "message": self.message, "status": self.status}

    def body(self) -> dict[str, Any]:
        """The full error body."""
        return {"error": self.error_object()}

    @classmethod
    def from_api_error(cls, error: ApiError) -> GoogleError:
        """The Google twin of an error raised by the shared (Anthropic-shaped) code."""
        code = _STATUS_FROM_ANTHROPIC.get(error.status, error.status)
        message = _MESSAGES_FROM_ANTHROPIC.get(code, error.message)
        return cls(code, message, headers=error.headers)


def invalid_argument(message: str) -> GoogleError:
    """A 400 INVALID_ARGUMENT."""
    return GoogleError(400, message)


def error_object_from_anthropic(body: Mapping[str, Any]) -> dict[str, Any]:
    """A batch item's Anthropic-shaped error body as Google's `{"code", "message", "status"}`."""
    inner = body.get("error") or {}
    code = _CODE_OF_TYPE.get(str(inner.get("type")), 500)
    return GoogleError(code, str(inner.get("message", ""))).error_object()
