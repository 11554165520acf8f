"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optimization.simulator.errors import ApiError

# OpenAI has no 529: an overloaded engine answers 503.
_STATUS = {529: 503}
_TYPES = {429: "requests", 500: "server_error", 503: "server_error"}
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


class OpenAIError(ApiError):
    """An error answered in OpenAI's shape, naming the offending `param` and a `code`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers=headers)
        self.param = param
        self.code = code


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> OpenAIError:
    """A 400 invalid_request_error."""
    return OpenAIError(400, message, param=param, code=code)


def openai_status(error: ApiError) -> int:
    """The HTTP status OpenAI answers for `error`."""
    return _STATUS.get(error.status, error.status)


def error_object(error: ApiError) -> dict[str, Any]:
    """The inner object: message, type, param and code (also written in batch error lines)."""
    status = openai_status(error)
    return {
        "message": error.message,
        "type": _TYPES.get(status, "invalid_request_error"),
        "param": getattr(error, "param", None),
        "code": getattr(error, "code", None) or _CODES.get(status),
    }


def error_body(error: ApiError) -> dict[str, Any]:
    """The full error body."""
    return {"error": error_object(error)}
