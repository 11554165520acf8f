"""Routes of the Message Batches API under /v1/messages/batches."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from optimization.simulator.endpoint import api_endpoint, inject_faults, read_json, request_faults
from optimization.simulator.errors import ApiError, invalid
from optimization.simulator.faults import draw
from optimization.simulator.lost import LostResponse
from optimization.simulator.state import Simulator

MAX_PAGE = 1000


async def _faults(simulator: Simulator, request: Request) -> None:
    await inject_faults(simulator, request_faults(simulator, request), simulator.next_number())


def _base(request: Request) -> str:
    return str(request.base_url)


@api_endpoint
async def create_batch(simulator: Simulator, request: Request) -> Response:
    """POST /v1/messages/batches (then the `create_delay_ms` and `lose_response` faults)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > simulator.settings.batch_max_bytes:
        raise ApiError(413, "Request exceeds the maximum allowed number of bytes.")
    body = await read_json(request, simulator.settings.batch_max_bytes)
    faults = request_faults(simulator, request)
    number = simulator.next_number()
    await inject_faults(simulator, faults, number)
    batch = simulator.batches.create(body, number=number, faults=faults)
    # Both faults strike after the batch exists: the client may not know it was created.
    if faults.create_delay_ms:
        await asyncio.sleep(faults.create_delay_ms / 1000)
    if draw(simulator.settings.seed, "lose_response", number) < faults.lose_response:
        return LostResponse()
    return JSONResponse(batch.as_json(_base(request)))


@api_endpoint
async def retrieve_batch(simulator: Simulator, request: Request) -> Response:
    """GET /v1/messages/batches/{id}."""
    await _faults(simulator, request)
    batch = await run_in_threadpool(simulator.batches.get, request.path_params["batch_id"])
    return JSONResponse(batch.as_json(_base(request)))


@api_endpoint
async def cancel_batch(simulator: Simulator, request: Request) -> Response:
    """POST /v1/messages/batches/{id}/cancel."""
    await _faults(simulator, request)
    batch = await run_in_threadpool(simulator.batches.cancel, request.path_params["batch_id"])
    return JSONResponse(batch.as_json(_base(request)))


@api_endpoint
async def delete_batch(simulator: Simulator, request: Request) -> Response:
    """DELETE /v1/messages/batches/{id}."""
    await _faults(simulator, request)
    batch_id = request.path_params["batch_id"]
    await run_in_threadpool(simulator.batches.delete, batch_id)
    return JSONResponse({"id": batch_id, "type": "message_batch_deleted"})


@api_endpoint
async def batch_results(simulator: Simulator, request: Request) -> Response:
    """GET /v1/messages/batches/{id}/results: JSONL, streamed."""
    await _faults(simulator, request)
    lines = simulator.batches.results(request.path_params["batch_id"])
    # Bringing the batch up to date answers its due requests: off the event loop, and before
    # any byte is sent so a batch that has not ended still gets a proper 400.
    first = await run_in_threadpool(next, lines)
    return StreamingResponse(_pieces(first, lines), media_type="application/x-jsonl")


PIECE_BYTES = 64 * 1024


def _pieces(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    """The lines joined into pieces of about 64 KiB: Starlette hops threads per piece, and a
    piece per line made the simulator, not the client, the bottleneck of big downloads."""
    piece = [first]
    size = len(first)
    for line in rest:
        piece.append(line)
        size += len(line)
        if size >= PIECE_BYTES:
            yield b"".join(piece)
            piece, size = [], 0
    if piece:
        yield b"".join(piece)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise invalid(f"limit: Input should be an integer between 1 and {MAX_PAGE}")
    return int(raw)


@api_endpoint
async def list_batches(simulator: Simulator, request: Request) -> Response:
    """GET /v1/messages/batches?limit&before_id&after_id (newest first)."""
    await _faults(simulator, request)
    limit = _limit(request)
    batches = await run_in_threadpool(simulator.batches.list)
    ids = [batch.id for batch in batches]
    before, after = request.query_params.get("before_id"), request.query_params.get("after_id")
    for name, cursor in (("before_id", before), ("after_id", after)):
        if cursor is not None and cursor not in ids:
            raise invalid(f"{name}: No batch found with id {cursor}.")
    if before is not None:
        end = ids.index(before)
        page = batches[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        start = ids.index(after) + 1 if after is not None else 0
        page = batches[start : start + limit]
        has_more = start + limit < len(batches)
    base = _base(request)
    return JSONResponse(
        {
            "data": [batch.as_json(base) for batch in page],
            "has_more": has_more,
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None,
        }
    )


ROUTES = [
    Route("/v1/messages/batches", create_batch, methods=["POST"]),
    Route("/v1/messages/batches", list_batches, methods=["GET"]),
    Route("/v1/messages/batches/{batch_id}", retrieve_batch, methods=["GET"]),
    Route("/v1/messages/batches/{batch_id}", delete_batch, methods=["DELETE"]),
    Route("/v1/messages/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
    Route("/v1/messages/batches/{batch_id}/results", batch_results, methods=["GET"]),
]
