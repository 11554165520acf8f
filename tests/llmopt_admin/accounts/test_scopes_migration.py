"""Tokens issued before scopes existed keep only `ingest` (least privilege)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("accounts", "0001_initial")]
AFTER = [("accounts", "0002_apitoken_scopes")]


@pytest.mark.django_db(transaction=True)
def test_tokens_from_before_scopes_get_ingest_only_whoever_owns_them() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    user_model = old.get_model("auth", "User")
    staff = user_model.objects.create(username="ops", is_staff=True, is_superuser=True)
    robot = user_model.objects.create(username="robot")
    token_model = old.get_model("accounts", "ApiToken")
    for n, user in enumerate([staff, robot]):
        token_model.objects.create(name=f"t{n}", user=user, digest=f"{n:064}", prefix="llmopt_x")

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    scopes = dict(new.get_model("accounts", "ApiToken").objects.values_list("name", "scopes"))
    assert scopes == {"t0": ["ingest"], "t1": ["ingest"]}

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
