"""The Starlette application factory."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from optimization.simulator.batch_routes import ROUTES as BATCH_ROUTES
from optimization.simulator.clock import Clock
from optimization.simulator.control_routes import ROUTES as CONTROL_ROUTES
from optimization.simulator.errors import ApiError
from optimization.simulator.gemini_api.file_routes import ROUTES as GEMINI_FILE_ROUTES
from optimization.simulator.gemini_api.model_routes import ROUTES as GEMINI_MODEL_ROUTES
from optimization.simulator.gemini_api.resource_routes import ROUTES as GEMINI_RESOURCE_ROUTES
from optimization.simulator.lost import SERVER_SEND
from optimization.simulator.message_routes import ROUTES as MESSAGE_ROUTES
from optimization.simulator.openai_api.routes import ROUTES as OPENAI_ROUTES
from optimization.simulator.settings import SimulatorSettings
from optimization.simulator.state import Simulator


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and wrong methods answer in the API's error shape."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    error = ApiError(404, "Not Found") if status == 404 else ApiError(405, "Method Not Allowed")
    return JSONResponse(error.body(None), status_code=error.status)


class SimulatorApp(Starlette):
    """The simulator's Starlette app; `app.state.simulator` is its `Simulator`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request, keeping the server's own `send` for the `lose_response` fault."""
        scope[SERVER_SEND] = send
        await super().__call__(scope, receive, send)


def create_app(
    settings: SimulatorSettings | None = None,
    *,
    clock: Clock | None = None,
    simulator: Simulator | None = None,
) -> SimulatorApp:
    """A new simulator with its own cache and batches; clock defaults to real time times speed.

    Pass `simulator` to serve an existing state instead (what a restart keeping its state
    does); `settings` and `clock` are then ignored.
    """
    if simulator is None:
        settings = settings or SimulatorSettings()
        simulator = Simulator(settings, clock or Clock(speed=settings.speed))
    application = SimulatorApp(
        routes=[
            *MESSAGE_ROUTES,
            *BATCH_ROUTES,
            *OPENAI_ROUTES,
            *GEMINI_MODEL_ROUTES,
            *GEMINI_RESOURCE_ROUTES,
            *GEMINI_FILE_ROUTES,
            *CONTROL_ROUTES,
        ],
        exception_handlers={HTTPException: _http_error},
    )
    application.state.simulator = simulator
    return application
