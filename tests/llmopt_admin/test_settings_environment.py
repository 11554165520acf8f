"""Numbers the settings read from the environment: a bad one stops start-up naming the variable
and the value, and the retry budget's older name is still honoured. Each case is a fresh
process, as settings are read once at start-up."""

from __future__ import annotations

import os
import subprocess  # nosec B404 - runs this project's own Python
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RETRIES = ("LLMOPT_PROVIDER_MAX_RETRIES", "LLMOPT_ANTHROPIC_MAX_RETRIES")
PROBE = "import llmopt_admin.settings as s; print(s.LLMOPT_PROVIDER_MAX_RETRIES)"


def start(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in (*RETRIES, *env)}
    return subprocess.run(  # nosec B603 - fixed arguments
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LLMOPT_BATCH_POLL_INITIAL", "fast", "must be a number"),
        ("LLMOPT_BATCH_POLL_INITIAL", "0", "at least 0.1"),  # 0 would poll without pause
        ("LLMOPT_BATCH_POLL_MAX", "nan", "at least 0.1"),
        ("LLMOPT_BATCH_LEASE_SECONDS", "inf", "at least 1"),
        ("LLMOPT_BATCH_INGEST_CHUNK", "0", "at least 1"),
        ("LLMOPT_PROVIDER_MAX_RETRIES", "-1", "at least 0"),
        ("REDIS_PORT", "63 79", "whole number"),
        ("DATABASE_CONN_MAX_AGE", "1.5", "whole number"),
    ],
)
def test_a_bad_number_stops_start_up_naming_the_variable_and_its_value(
    name: str, value: str, expected: str
) -> None:
    result = start(**{name: value})
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured" in error
    assert name in error
    assert repr(value) in error
    assert expected in error


def test_the_retry_budget_is_read_under_its_new_name_then_its_old_one() -> None:
    assert start().stdout.strip() == "4"
    assert start(LLMOPT_ANTHROPIC_MAX_RETRIES="2").stdout.strip() == "2"
    both = start(LLMOPT_PROVIDER_MAX_RETRIES="7", LLMOPT_ANTHROPIC_MAX_RETRIES="2")
    assert both.stdout.strip() == "7"
