"""Batches: POST/GET /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel."""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from optimization.simulator.endpoint import inject_faults, read_json, request_faults
from optimization.simulator.faults import draw
from optimization.simulator.lost import LostResponse
from optimization.simulator.openai_api.endpoint import Flavour, flavoured_routes
from optimization.simulator.openai_api.errors import invalid
from optimization.simulator.state import Simulator

MAX_PAGE = 100
MAX_BODY_BYTES = 1024 * 1024


async def _faults(simulator: Simulator, request: Request) -> None:
    await inject_faults(simulator, request_faults(simulator, request), simulator.next_number())


async def create_batch(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """POST /v1/batches (then the `create_delay_ms` and `lose_response` faults)."""
    body = await read_json(request, MAX_BODY_BYTES)
    faults = request_faults(simulator, request)
    number = simulator.next_number()
    await inject_faults(simulator, faults, number)
    batches = simulator.openai.batches
    batch = await run_in_threadpool(
        lambda: batches.create(
            body, number=number, faults=faults, endpoints=flavour.batch_endpoints
        )
    )
    view = await run_in_threadpool(batches.get, batch.id)
    # Both faults strike after the batch exists: the client may not know it was created.
    if faults.create_delay_ms:
        await asyncio.sleep(faults.create_delay_ms / 1000)
    if draw(simulator.settings.seed, "lose_response", number) < faults.lose_response:
        return LostResponse()
    return JSONResponse(view)


async def retrieve_batch(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """GET /v1/batches/{batch_id}."""
    await _faults(simulator, request)
    view = await run_in_threadpool(simulator.openai.batches.get, request.path_params["batch_id"])
    return JSONResponse(view)


async def cancel_batch(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """POST /v1/batches/{batch_id}/cancel."""
    await _faults(simulator, request)
    batch_id = request.path_params["batch_id"]
    return JSONResponse(await run_in_threadpool(simulator.openai.batches.cancel, batch_id))


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise invalid(
            f"Invalid 'limit': expected an integer between 1 and {MAX_PAGE}.", param="limit"
        )
    return int(raw)


async def list_batches(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """GET /v1/batches?after&limit (newest first)."""
    await _faults(simulator, request)
    limit = _limit(request)
    views = await run_in_threadpool(simulator.openai.batches.list)
    after = request.query_params.get("after")
    start = 0
    if after is not None:
        ids = [view["id"] for view in views]
        if after not in ids:
            raise invalid(f"Invalid 'after': no batch found with id '{after}'.", param="after")
        start = ids.index(after) + 1
    page = views[start : start + limit]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": start + limit < len(views),
        }
    )


ROUTES = flavoured_routes(
    ("POST", "/batches", create_batch),
    ("GET", "/batches", list_batches),
    ("GET", "/batches/{batch_id}", retrieve_batch),
    ("POST", "/batches/{batch_id}/cancel", cancel_batch),
)
