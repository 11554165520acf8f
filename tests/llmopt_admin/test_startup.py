"""The web app and manage.py commands start without loading the provider SDK or LangChain."""

from __future__ import annotations

import os
import subprocess  # nosec B404 - runs this project's own Python
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
import django
django.setup()
from django.core import checks
from django.urls import get_resolver
get_resolver().url_patterns  # every view and API module
checks.run_checks()  # what every manage.py command runs first
heavy = ("anthropic", "langchain_core", "langchain_anthropic")
print(",".join(name for name in heavy if name in sys.modules))
"""


def test_loading_every_url_and_running_the_checks_imports_no_sdk() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "llmopt_admin.settings"}
    result = subprocess.run(  # nosec B603 - fixed arguments
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"loaded at start: {result.stdout.strip()}"
