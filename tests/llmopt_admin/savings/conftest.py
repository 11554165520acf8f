"""Fixtures of the savings tests: usage events as the backend's recorder sends them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from optimization.telemetry import UsageEvent

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)


def event_json(number: int = 0, **overrides: Any) -> dict[str, Any]:
    """One event in the ingest API's JSON (UsageEvent.to_json), an hour-ish apart per number."""
    event = UsageEvent(
        request_id=f"req-{number}",
        timestamp=NOW - timedelta(hours=number % 48, minutes=number % 7),
        provider="anthropic",
        model="claude-sonnet-4-5",
        mode="cached",
        input_tokens=1_000,
        cache_read_tokens=6_000,
        output_tokens=500,
    ).to_json()
    event.update(overrides)
    return event


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    return event_json
