"""Routes of the Files API: resumable upload under /upload/v1beta/files, get, delete, download.

The upload URL handed out at the start carries the session (`upload_id`), as Google's does, so
its chunks need no API key.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from optimization.simulator.endpoint import read_json, simulator_of
from optimization.simulator.gemini_api.endpoint import error_response, gemini_endpoint
from optimization.simulator.gemini_api.errors import GoogleError, invalid_argument
from optimization.simulator.gemini_api.files import MAX_FILE_BYTES
from optimization.simulator.state import Simulator

MAX_START_BODY = 64 * 1024


@gemini_endpoint
async def start_upload(simulator: Simulator, request: Request) -> Response:
    """POST /upload/v1beta/files with `X-Goog-Upload-Command: start`."""
    command = request.headers.get("x-goog-upload-command", "")
    if command.strip() != "start":
        raise invalid_argument(
            "Only resumable uploads are simulated (X-Goog-Upload-Command: start)"
        )
    body = await read_json(request, MAX_START_BODY) if await request.body() else {}
    upload_id = simulator.make_id("upload", simulator.next_number())
    simulator.gemini.files.start_upload(
        upload_id, body, request.headers.get("x-goog-upload-header-content-length")
    )
    url = f"{str(request.base_url).rstrip('/')}/upload/v1beta/files?upload_id={upload_id}"
    return JSONResponse({}, headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"})


async def upload_chunk(request: Request) -> Response:
    """POST /upload/v1beta/files?upload_id=…: one chunk (`upload`, last `upload, finalize`)."""
    simulator = simulator_of(request)
    try:
        upload_id = request.query_params["upload_id"]
        command = {
            part.strip() for part in request.headers.get("x-goog-upload-command", "").split(",")
        }
        offset = request.headers.get("x-goog-upload-offset", "0")
        if "upload" not in command or not offset.isdigit():
            raise invalid_argument("X-Goog-Upload-Command upload and X-Goog-Upload-Offset expected")
        chunk = await request.body()
        if int(offset) + len(chunk) > MAX_FILE_BYTES:
            raise invalid_argument(f"Files are limited to {MAX_FILE_BYTES} bytes.")
        stored = simulator.gemini.files.upload_chunk(
            upload_id,
            int(offset),
            chunk,
            finalize="finalize" in command,
            file_id=simulator.make_id("file", simulator.next_number()).replace("_", "-"),
            now=simulator.clock.now(),
        )
    except GoogleError as error:
        return error_response(error)
    if stored is None:
        return Response(status_code=200, headers={"x-goog-upload-status": "active"})
    return JSONResponse(
        {"file": stored.as_json(str(request.base_url))}, headers={"x-goog-upload-status": "final"}
    )


async def upload(request: Request) -> Response:
    """Both halves of a resumable upload share the path; the session id tells them apart."""
    if "upload_id" in request.query_params:
        return await upload_chunk(request)
    return await start_upload(request)


@gemini_endpoint
async def get_file(simulator: Simulator, request: Request) -> Response:
    """GET /v1beta/files/{id}, or its content with `{id}:download?alt=media`."""
    file_id, _, action = request.path_params["target"].partition(":")
    stored = simulator.gemini.files.get(f"files/{file_id}", now=simulator.clock.now())
    if action == "download":
        if not stored.generated:
            raise invalid_argument("Only generated files can be downloaded.")
        return Response(stored.data, media_type=stored.mime_type)
    if action:
        raise GoogleError(404, f"Method not found: {action}")
    return JSONResponse(stored.as_json(str(request.base_url)))


@gemini_endpoint
async def delete_file(simulator: Simulator, request: Request) -> Response:
    """DELETE /v1beta/files/{id}."""
    name = f"files/{request.path_params['target']}"
    simulator.gemini.files.delete(name, now=simulator.clock.now())
    return JSONResponse({})


ROUTES = [
    Route("/upload/v1beta/files", upload, methods=["POST"]),
    Route("/v1beta/files/{target}", get_file, methods=["GET"]),
    Route("/download/v1beta/files/{target}", get_file, methods=["GET"]),
    Route("/v1beta/files/{target}", delete_file, methods=["DELETE"]),
]

__all__ = ["ROUTES"]
