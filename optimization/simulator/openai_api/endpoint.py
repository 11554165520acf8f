"""What every OpenAI and Azure OpenAI route shares: authentication, request ids, errors."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from optimization.simulator.endpoint import simulator_of
from optimization.simulator.errors import ApiError
from optimization.simulator.openai_api.errors import OpenAIError, error_body, openai_status
from optimization.simulator.state import Simulator


@dataclass(frozen=True)
class Flavour:
    """How one family of clients calls: OpenAI's `/v1`, Azure's `/openai` or `/openai/v1`."""

    prefix: str
    azure: bool
    needs_api_version: bool
    batch_endpoints: tuple[str, ...]


OPENAI = Flavour(
    "/v1",
    azure=False,
    needs_api_version=False,
    batch_endpoints=("/v1/chat/completions", "/v1/responses"),
)
AZURE = Flavour(
    "/openai",
    azure=True,
    needs_api_version=True,
    batch_endpoints=("/chat/completions", "/v1/chat/completions", "/responses", "/v1/responses"),
)
AZURE_V1 = Flavour(
    "/openai/v1",
    azure=True,
    needs_api_version=False,
    batch_endpoints=("/chat/completions", "/v1/chat/completions", "/responses", "/v1/responses"),
)
FLAVOURS = (OPENAI, AZURE, AZURE_V1)

Handler = Callable[[Simulator, Request, Flavour], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def authenticate(simulator: Simulator, request: Request, flavour: Flavour) -> None:
    """401 without a key (Bearer; Azure also `api-key`) or with one outside
    `settings.api_keys`; 400 on Azure's versioned paths without `api-version`."""
    bearer = request.headers.get("authorization", "")
    key = bearer[7:].strip() if bearer.lower().startswith("bearer ") else ""
    if flavour.azure:
        key = request.headers.get("api-key") or key
    if not key:
        raise OpenAIError(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    allowed = simulator.settings.api_keys
    if allowed is not None and key not in allowed:
        raise OpenAIError(401, f"Incorrect API key provided: {key[:3]}***{key[-4:]}.")
    if flavour.needs_api_version and not request.query_params.get("api-version"):
        raise OpenAIError(
            400, "Missing required query parameter: 'api-version'.", param="api-version"
        )


def openai_endpoint(handler: Handler, flavour: Flavour) -> Endpoint:
    """Wrap a handler: authenticate, attach `x-request-id`, answer errors in OpenAI's shape."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        simulator = simulator_of(request)
        request_id = simulator.make_id("req", simulator.next_number())
        try:
            authenticate(simulator, request, flavour)
            response = await handler(simulator, request, flavour)
        except ApiError as error:
            response = JSONResponse(
                error_body(error), status_code=openai_status(error), headers=error.headers
            )
        response.headers["x-request-id"] = request_id
        return response

    return endpoint


def flavoured_routes(*specs: tuple[str, str, Handler]) -> list[Route]:
    """A route for each `(method, path after the prefix, handler)` under every flavour."""
    return [
        Route(flavour.prefix + path, openai_endpoint(handler, flavour), methods=[method])
        for flavour in FLAVOURS
        for method, path, handler in specs
    ]
