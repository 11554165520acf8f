"""HTTPS hardening from the environment: the SSL redirect, HSTS, and X-Forwarded-Proto trusted
only when a proxy that sets it is declared. Each case is a fresh process, as settings are read
once at start-up."""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs this project's own Python
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client

def seen(response):
    hsts = response.get("Strict-Transport-Security")
    return [response.status_code, response.get("Location"), hsts]

client = Client()
print(json.dumps({
    "settings": [settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS,
                 settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_PROXY_SSL_HEADER],
    "plain": seen(client.get("/login/")),
    "forwarded": seen(client.get("/login/", HTTP_X_FORWARDED_PROTO="https")),
    "tls": seen(client.get("/login/", secure=True)),
}))
"""
LLMOPT_VARIABLES = (
    "LLMOPT_SECURE_SSL_REDIRECT",
    "LLMOPT_HSTS_SECONDS",
    "LLMOPT_HSTS_INCLUDE_SUBDOMAINS",
    "LLMOPT_TRUST_X_FORWARDED_PROTO",
)


def _probe(**env: str) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if k not in LLMOPT_VARIABLES}
    result = subprocess.run(  # nosec B603 - fixed arguments
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "llmopt_admin.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_by_default_nothing_redirects_and_a_forwarded_proto_header_is_not_trusted() -> None:
    seen = _probe()
    assert seen["settings"] == [False, 0, False, None]
    assert seen["plain"] == [200, None, None]
    # A client's own X-Forwarded-Proto does not make a plain request count as HTTPS.
    assert seen["forwarded"] == [200, None, None]


def test_the_environment_turns_on_the_redirect_hsts_and_the_proxy_header() -> None:
    seen = _probe(
        LLMOPT_SECURE_SSL_REDIRECT="1",
        LLMOPT_HSTS_SECONDS="31536000",
        LLMOPT_HSTS_INCLUDE_SUBDOMAINS="true",
        LLMOPT_TRUST_X_FORWARDED_PROTO="1",
    )
    assert seen["settings"] == [True, 31536000, True, ["HTTP_X_FORWARDED_PROTO", "https"]]
    assert seen["plain"] == [301, "https://testserver/login/", None]
    hsts = "max-age=31536000; includeSubDomains"
    assert seen["forwarded"] == [200, None, hsts]
    assert seen["tls"] == [200, None, hsts]


def test_without_a_declared_proxy_a_forwarded_proto_header_cannot_skip_the_redirect() -> None:
    seen = _probe(LLMOPT_SECURE_SSL_REDIRECT="1", LLMOPT_HSTS_SECONDS="60")
    assert seen["forwarded"] == [301, "https://testserver/login/", None]
    assert seen["tls"] == [200, None, "max-age=60"]


def test_a_malformed_number_is_refused_naming_the_variable() -> None:
    base = {k: v for k, v in os.environ.items() if k not in LLMOPT_VARIABLES}
    result = subprocess.run(  # nosec B603 - fixed arguments
        [sys.executable, "-c", "import llmopt_admin.settings"],
        cwd=ROOT,
        env={**base, "LLMOPT_HSTS_SECONDS": "one year"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "LLMOPT_HSTS_SECONDS" in result.stderr
    assert "one year" in result.stderr
