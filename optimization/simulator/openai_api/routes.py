"""Every OpenAI and Azure OpenAI route, for `optimization.simulator.app` to mount."""

from __future__ import annotations

from optimization.simulator.openai_api.batch_routes import ROUTES as BATCH_ROUTES
from optimization.simulator.openai_api.chat_routes import ROUTES as CHAT_ROUTES
from optimization.simulator.openai_api.file_routes import ROUTES as FILE_ROUTES

ROUTES = [*CHAT_ROUTES, *FILE_ROUTES, *BATCH_ROUTES]
