"""Files: POST /v1/files (multipart), GET /v1/files/{id}, GET /v1/files/{id}/content."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from optimization.simulator.endpoint import inject_faults, request_faults
from optimization.simulator.errors import ApiError
from optimization.simulator.faults import draw
from optimization.simulator.lost import LostResponse
from optimization.simulator.openai_api.endpoint import Flavour, flavoured_routes
from optimization.simulator.openai_api.files import MAX_FILE_BYTES, StoredFile, parse_upload
from optimization.simulator.state import Simulator


async def upload_file(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """POST /v1/files (the `lose_response` fault keeps the file and drops the answer)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FILE_BYTES + 64 * 1024:
        raise ApiError(413, "File is too large: files may be at most 512 MB.")
    number = simulator.next_number()
    faults = request_faults(simulator, request)
    await inject_faults(simulator, faults, number)
    purpose, filename, content = parse_upload(
        request.headers.get("content-type", ""), await request.body()
    )
    state = simulator.openai
    stored = state.files.add(
        StoredFile(
            id=state.make_id("file", number),
            filename=filename,
            purpose=purpose,
            content=content,
            created_at=int(simulator.clock.now()),
        )
    )
    if draw(simulator.settings.seed, "lose_response", number) < faults.lose_response:
        return LostResponse()
    return JSONResponse(stored.as_json())


async def retrieve_file(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """GET /v1/files/{file_id}."""
    await inject_faults(simulator, request_faults(simulator, request), simulator.next_number())
    return JSONResponse(simulator.openai.files.get(request.path_params["file_id"]).as_json())


async def file_content(simulator: Simulator, request: Request, flavour: Flavour) -> Response:
    """GET /v1/files/{file_id}/content: the bytes as uploaded or written."""
    await inject_faults(simulator, request_faults(simulator, request), simulator.next_number())
    stored = simulator.openai.files.get(request.path_params["file_id"])
    return Response(stored.content, media_type="application/octet-stream")


ROUTES = flavoured_routes(
    ("POST", "/files", upload_file),
    ("GET", "/files/{file_id}", retrieve_file),
    ("GET", "/files/{file_id}/content", file_content),
)
