"""What every Gemini route shares: the API key, Google-shaped errors, faults.

The key travels as the `x-goog-api-key` header (what google-genai sends) or the `key` query
parameter. As Google answers: no key → 403 PERMISSION_DENIED; a key outside
`settings.api_keys` → 400 INVALID_ARGUMENT "API key not valid".
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from optimization.simulator.endpoint import simulator_of
from optimization.simulator.errors import ApiError
from optimization.simulator.gemini_api.errors import GoogleError
from optimization.simulator.state import Simulator

Handler = Callable[[Simulator, Request], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


def authenticate(simulator: Simulator, request: Request) -> None:
    """403 without an API key, 400 with one outside `settings.api_keys`."""
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if not key:
        raise GoogleError(403, NO_KEY)
    allowed = simulator.settings.api_keys
    if allowed is not None and key not in allowed:
        raise GoogleError(400, "API key not valid. Please pass a valid API key.")


def error_response(error: GoogleError) -> Response:
    """The JSON response for `error`."""
    return JSONResponse(error.body(), status_code=error.code, headers=error.headers)


def gemini_endpoint(handler: Handler) -> Endpoint:
    """Wrap a handler: authenticate, shape every error as Google does."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        simulator = simulator_of(request)
        try:
            authenticate(simulator, request)
            return await handler(simulator, request)
        except GoogleError as error:
            return error_response(error)
        except ApiError as error:  # raised by the shared code (body limits, faults, batches)
            return error_response(GoogleError.from_api_error(error))

    return endpoint
