"""Routes for tests to steer and inspect a running simulator, outside the API under /v1.

- `GET /_simulator/faults`: every instance-wide fault by name.
- `POST /_simulator/faults` with a JSON object of name → number: replaces the instance-wide
  faults (unnamed ones are off) and answers the new ones; 400 on an unknown name or a value
  out of range. `x-simulator-faults` headers still override them per request.
- `GET /_simulator/counts`: `ledger.Counts.as_json()` — how many times each batch request was
  sent and billed, and how many /v1/messages answers each request body got.

They need no API key and take no sequence number, so steering a simulator never shifts the
fault draws of the API traffic around it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from optimization.simulator.endpoint import read_json, simulator_of
from optimization.simulator.errors import ApiError, invalid
from optimization.simulator.faults import Faults
from optimization.simulator.state import Simulator

MAX_BODY_BYTES = 64 * 1024


def _control(
    handler: Callable[[Simulator, Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Shape ApiErrors as the API does (without request ids: these are not API requests)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(simulator_of(request), request)
        except ApiError as error:
            return JSONResponse(error.body(None), status_code=error.status)

    endpoint.__doc__ = handler.__doc__
    return endpoint


async def get_faults(simulator: Simulator, request: Request) -> Response:
    """GET /_simulator/faults."""
    return JSONResponse(simulator.faults.as_dict())


async def set_faults(simulator: Simulator, request: Request) -> Response:
    """POST /_simulator/faults."""
    body = await read_json(request, MAX_BODY_BYTES)
    try:
        faults = Faults.from_mapping(body)
    except ValueError as error:
        raise invalid(str(error)) from None
    return JSONResponse(simulator.set_faults(faults).as_dict())


async def get_counts(simulator: Simulator, request: Request) -> Response:
    """GET /_simulator/counts."""
    # Counting first brings every batch up to date, which answers its due requests.
    counts = await run_in_threadpool(simulator.counts)
    return JSONResponse(counts.as_json())


ROUTES = [
    Route("/_simulator/faults", _control(get_faults), methods=["GET"]),
    Route("/_simulator/faults", _control(set_faults), methods=["POST"]),
    Route("/_simulator/counts", _control(get_counts), methods=["GET"]),
]
