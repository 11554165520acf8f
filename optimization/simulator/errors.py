"""Anthropic-shaped API errors: status code, `error.type`, message, and the JSON body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ERROR_TYPES: Mapping[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """An error the simulator answers with, exactly as Anthropic's API would shape it."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = ERROR_TYPES[status]
        self.message = message
        self.headers = dict(headers or {})

    def error_object(self) -> dict[str, str]:
        """The inner `{"type": ..., "message": ...}` object (also used in batch results)."""
        return {"type": self.type, "message": self.message}

    def body(self, request_id: str | None) -> dict[str, Any]:
        """The full error body: `{"type": "error", "error": {...}, "request_id": ...}`."""
        return {"type": "error", "error": self.error_object(), "request_id": request_id}


def invalid(message: str) -> ApiError:
    """A 400 invalid_request_error."""
    return ApiError(400, message)
