"""The django-ninja API: OpenAPI docs at /api/docs, schema at /api/openapi.json.

The docs page and the schema are for signed-in staff, like every other page, and load their
scripts from the project's static files (django-ninja's own copy), so they work offline.
"""

from __future__ import annotations

from ninja import NinjaAPI

from llmopt_admin.accounts.auth import API_AUTH
from llmopt_admin.accounts.decorators import staff_required
from llmopt_admin.batches.api import router as batches_router
from llmopt_admin.configs.api import router as configs_router
from llmopt_admin.savings.api import router as savings_router

api = NinjaAPI(
    title="llmopt admin API",
    version="1",
    auth=API_AUTH,
    urls_namespace="api",
    docs_decorator=staff_required,
)
api.add_router("/config", configs_router)
api.add_router("/batches", batches_router)
api.add_router("/", savings_router)
