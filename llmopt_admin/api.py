"""The django-ninja API: OpenAPI docs at /api/docs, schema at /api/openapi.json.

The docs page and the schema are for signed-in staff, like every other page, and load their
scripts from the project's static files (django-ninja's own copy), so they work offline.

Every router is mounted with the same authentication (accounts.auth): a staff session may do
everything; a bearer token only what SCOPE_RULES grant its scopes.
"""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI
from ninja.errors import AuthenticationError
from ninja.openapi.schema import OpenAPISchema

from llmopt_admin.accounts.auth import (
    ScopeMissing,
    api_auth,
    authentication_failed,
    scope_missing,
)
from llmopt_admin.accounts.decorators import staff_required
from llmopt_admin.accounts.scopes import INGEST, READ, SUBMIT, ScopeRule
from llmopt_admin.batches.api import router as batches_router
from llmopt_admin.configs.api import router as configs_router
from llmopt_admin.openapi import document_auth_answers
from llmopt_admin.savings.api import router as savings_router

# Which scope a token needs, by method and path prefix; the first match wins. A request no rule
# names (PATCH /api/config/ai-models, any operation added later) needs `admin`, which opens all.
SCOPE_RULES = (
    ScopeRule("POST", "/api/usage/events", INGEST),
    ScopeRule("GET", "/api/savings", READ),
    ScopeRule("GET", "/api/batches", READ, also=(SUBMIT,)),
    ScopeRule("POST", "/api/batches", SUBMIT),  # submit, cancel, retry
    ScopeRule("GET", "/api/config", READ),
)
API_AUTH = api_auth(SCOPE_RULES)


class LlmoptAPI(NinjaAPI):
    """The API whose description also states its authentication's answers (401, 403), which
    every operation can give, without each endpoint repeating them."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        document_auth_answers(schema)
        return schema


api = LlmoptAPI(
    title="llmopt admin API",
    version="1",
    auth=API_AUTH,
    urls_namespace="api",
    docs_decorator=staff_required,
)
# Mounted with auth= so it wins over any default a router sets for itself.
api.add_router("/config", configs_router, auth=API_AUTH)
api.add_router("/batches", batches_router, auth=API_AUTH)
api.add_router("/", savings_router, auth=API_AUTH)
api.add_exception_handler(AuthenticationError, authentication_failed)
api.add_exception_handler(ScopeMissing, scope_missing)
