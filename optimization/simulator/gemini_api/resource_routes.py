"""Routes for Gemini batches (`/v1beta/batches`) and explicit caches (`/v1beta/cachedContents`).

Lists page with `pageSize` and an opaque `pageToken` (the next item's index), newest batches
first and caches oldest first, answering `nextPageToken` while more remain.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from optimization.simulator.endpoint import inject_faults, read_json, request_faults
from optimization.simulator.gemini_api.endpoint import gemini_endpoint
from optimization.simulator.gemini_api.errors import invalid_argument
from optimization.simulator.state import Simulator

MAX_PAGE = 1000
DEFAULT_PAGE = 50
MAX_CACHE_BODY = 32 * 1024 * 1024


async def _faults(simulator: Simulator, request: Request) -> None:
    await inject_faults(simulator, request_faults(simulator, request), simulator.next_number())


def _page(request: Request, items: list[Any], key: str) -> dict[str, Any]:
    raw_size = request.query_params.get("pageSize", str(DEFAULT_PAGE))
    raw_token = request.query_params.get("pageToken") or "0"
    if not raw_size.isdigit() or not raw_token.isdigit():
        raise invalid_argument("pageSize and pageToken must be non-negative integers")
    size = min(int(raw_size) or DEFAULT_PAGE, MAX_PAGE)
    start = int(raw_token)
    page: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        page["nextPageToken"] = str(start + size)
    return page


@gemini_endpoint
async def list_batches(simulator: Simulator, request: Request) -> Response:
    """GET /v1beta/batches (newest first)."""
    await _faults(simulator, request)
    operations = await run_in_threadpool(simulator.gemini.batches.operations)
    return JSONResponse(_page(request, operations, "operations"))


@gemini_endpoint
async def get_batch(simulator: Simulator, request: Request) -> Response:
    """GET /v1beta/batches/{id}."""
    await _faults(simulator, request)
    batches = simulator.gemini.batches
    return JSONResponse(await run_in_threadpool(batches.get, request.path_params["batch_id"]))


@gemini_endpoint
async def cancel_batch(simulator: Simulator, request: Request) -> Response:
    """POST /v1beta/batches/{id}:cancel (answers an empty object)."""
    await _faults(simulator, request)
    await run_in_threadpool(simulator.gemini.batches.cancel, request.path_params["batch_id"])
    return JSONResponse({})


@gemini_endpoint
async def delete_batch(simulator: Simulator, request: Request) -> Response:
    """DELETE /v1beta/batches/{id} (answers an empty object)."""
    await _faults(simulator, request)
    await run_in_threadpool(simulator.gemini.batches.delete, request.path_params["batch_id"])
    return JSONResponse({})


def _cache_name(request: Request) -> str:
    return f"cachedContents/{request.path_params['cache_id']}"


@gemini_endpoint
async def create_cache(simulator: Simulator, request: Request) -> Response:
    """POST /v1beta/cachedContents."""
    body = await read_json(request, MAX_CACHE_BODY)
    number = simulator.next_number()
    await inject_faults(simulator, request_faults(simulator, request), number)
    cache_id = simulator.make_id("cache", number).replace("_", "-")
    entry = simulator.gemini.cached_contents.create(
        body, cache_id=cache_id, now=simulator.clock.now()
    )
    return JSONResponse(entry.as_json())


@gemini_endpoint
async def list_caches(simulator: Simulator, request: Request) -> Response:
    """GET /v1beta/cachedContents (oldest first)."""
    await _faults(simulator, request)
    entries = simulator.gemini.cached_contents.list(now=simulator.clock.now())
    return JSONResponse(_page(request, [entry.as_json() for entry in entries], "cachedContents"))


@gemini_endpoint
async def get_cache(simulator: Simulator, request: Request) -> Response:
    """GET /v1beta/cachedContents/{id}."""
    await _faults(simulator, request)
    store = simulator.gemini.cached_contents
    return JSONResponse(store.get(_cache_name(request), now=simulator.clock.now()).as_json())


@gemini_endpoint
async def update_cache(simulator: Simulator, request: Request) -> Response:
    """PATCH /v1beta/cachedContents/{id}?updateMask=ttl (only the expiry can change)."""
    body = await read_json(request, MAX_CACHE_BODY)
    await _faults(simulator, request)
    entry = simulator.gemini.cached_contents.update(
        _cache_name(request),
        body,
        request.query_params.get("updateMask"),
        now=simulator.clock.now(),
    )
    return JSONResponse(entry.as_json())


@gemini_endpoint
async def delete_cache(simulator: Simulator, request: Request) -> Response:
    """DELETE /v1beta/cachedContents/{id}."""
    await _faults(simulator, request)
    simulator.gemini.cached_contents.delete(_cache_name(request), now=simulator.clock.now())
    return JSONResponse({})


ROUTES = [
    Route("/v1beta/batches", list_batches, methods=["GET"]),
    Route("/v1beta/batches/{batch_id}:cancel", cancel_batch, methods=["POST"]),
    Route("/v1beta/batches/{batch_id}", get_batch, methods=["GET"]),
    Route("/v1beta/batches/{batch_id}", delete_batch, methods=["DELETE"]),
    Route("/v1beta/cachedContents", create_cache, methods=["POST"]),
    Route("/v1beta/cachedContents", list_caches, methods=["GET"]),
    Route("/v1beta/cachedContents/{cache_id}", get_cache, methods=["GET"]),
    Route("/v1beta/cachedContents/{cache_id}", update_cache, methods=["PATCH"]),
    Route("/v1beta/cachedContents/{cache_id}", delete_cache, methods=["DELETE"]),
]
