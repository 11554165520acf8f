"""What every API route shares: authentication, request ids, JSON bodies, faults, errors."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from optimization.simulator.errors import ApiError, invalid
from optimization.simulator.faults import HEADER, Faults, draw
from optimization.simulator.state import Simulator

Handler = Callable[[Simulator, Request], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
TOO_LARGE = "Request exceeds the maximum allowed number of bytes."


def simulator_of(request: Request) -> Simulator:
    """The Simulator behind the app serving `request`."""
    simulator: Simulator = request.app.state.simulator
    return simulator


def authenticate(simulator: Simulator, request: Request) -> None:
    """401 without an API key (or with one outside `settings.api_keys`); 400 without a version."""
    key = request.headers.get("x-api-key")
    bearer = request.headers.get("authorization", "")
    if not key and bearer.lower().startswith("bearer "):
        key = bearer[7:].strip()
    if not key:
        raise ApiError(401, "x-api-key header is required")
    allowed = simulator.settings.api_keys
    if allowed is not None and key not in allowed:
        raise ApiError(401, "invalid x-api-key")
    if not request.headers.get("anthropic-version"):
        raise invalid("anthropic-version: header is required")


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body; 413 above `max_bytes`, 400 when it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, TOO_LARGE)
    raw = await request.body()
    if len(raw) > max_bytes:
        raise ApiError(413, TOO_LARGE)
    try:
        return json.loads(raw)
    except ValueError as error:
        raise invalid(f"There was an error parsing the body of your request: {error}") from None


def request_faults(simulator: Simulator, request: Request) -> Faults:
    """The instance's current faults overridden by the request's `x-simulator-faults` header."""
    try:
        return simulator.faults.overridden_by(request.headers.get(HEADER))
    except ValueError as error:
        raise invalid(str(error)) from None


async def inject_faults(simulator: Simulator, faults: Faults, number: int) -> None:
    """Wait `delay_ms`, then maybe fail with 429, 529 or 500 (deterministic per number)."""
    if faults.delay_ms:
        await asyncio.sleep(faults.delay_ms / 1000)
    seed = simulator.settings.seed
    if draw(seed, "rate_limit", number) < faults.rate_limit:
        raise ApiError(
            429,
            "Number of request tokens has exceeded your per-minute rate limit.",
            headers={"retry-after": str(simulator.settings.retry_after_seconds)},
        )
    if draw(seed, "overloaded", number) < faults.overloaded:
        raise ApiError(529, "Overloaded")
    if draw(seed, "server_error", number) < faults.server_error:
        raise ApiError(500, "Internal server error")


def api_endpoint(handler: Handler) -> Endpoint:
    """Wrap a handler: authenticate, attach `request-id`, shape ApiErrors as the API does."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        simulator = simulator_of(request)
        request_id = simulator.make_id("req", simulator.next_number())
        try:
            authenticate(simulator, request)
            response = await handler(simulator, request)
        except ApiError as error:
            response = JSONResponse(
                error.body(request_id), status_code=error.status, headers=error.headers
            )
        response.headers["request-id"] = request_id
        return response

    return endpoint
