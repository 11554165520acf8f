"""The Starlette application factory."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from optimization.simulator.batch_routes import ROUTES as BATCH_ROUTES
from optimization.simulator.clock import Clock
from optimization.simulator.errors import ApiError
from optimization.simulator.message_routes import ROUTES as MESSAGE_ROUTES
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.state import Simulator


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer in the API's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    error = ApiError(404, "Not Found") if status == 404 else ApiError(405, "Method Not Allowed")
    return JSONResponse(error.body(None), status_code=error.status)


def create_app(
    settings: SimulatorSettings | None = None, *, clock: Clock | None = None
) -> Starlette:
    """A new simulator with its own cache and batches; clock defaults to real time times speed."""
    settings = settings or SimulatorSettings()
    clock = clock or Clock(speed=settings.speed)
    application = Starlette(
        routes=[*MESSAGE_ROUTES, *BATCH_ROUTES], exception_handlers={HTTPException: _http_error}
    )
    application.state.simulator = Simulator(settings, clock)
    return application
