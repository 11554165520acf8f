"""The ingest's quick check of well-formed events agrees with the detailed per-field check."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from llmopt_admin.savings.validation import (
    FUTURE_SLACK,
    CheckedEvent,
    check_event,
    check_event_fast,
)
from tests.llmopt_admin.savings.conftest import event_json

VARIANTS: list[dict[str, Any]] = [
    {},
    {"cost": "0.0123", "baseline_cost": "0.0210"},
    {"cost": "0", "baseline_cost": "0"},
    {"cost": None, "baseline_cost": None},
    {"cost": "0.5"},  # cost without a baseline: not "given"
    {"cost": 0.0123, "baseline_cost": 1},  # numbers, not strings
    {"cost": "NaN"},
    {"cost": "-1"},
    {"cost": "1e10"},
    {"cost": "ten"},
    {"cost": True},
    {"request_id": " padded "},
    {"request_id": "   "},
    {"request_id": ""},
    {"request_id": "x" * 201},
    {"request_id": "a\x00b"},
    {"request_id": 7},
    {"provider": "anthropic\n"},
    {"model": "m" * 129},
    {"config_entry": ""},
    {"config_entry": "ai_models_config/llm/0", "batch_id": "msgbatch_1"},
    {"config_entry": 3},
    {"batch_id": "b" * 201},
    {"batch_id": "a\x00"},
    {"mode": "turbo"},
    {"mode": ["cached"]},
    {"mode": "batch+cache"},
    {"timestamp": "2025-01-31T12:00:00Z"},
    {"timestamp": "2025-01-31T12:00:00"},
    {"timestamp": "2025-01-31T13:00:00+01:00"},
    {"timestamp": "3025-01-31T12:00:00Z"},
    {"timestamp": "yesterday"},
    {"timestamp": None},
    {"input_tokens": -1},
    {"input_tokens": 10**12 + 1},
    {"input_tokens": 10**12},
    {"output_tokens": 1.5},
    {"output_tokens": True},
    {"cache_read_tokens": "5"},
]


@pytest.mark.parametrize("overrides", VARIANTS)
def test_the_quick_check_accepts_only_what_check_event_accepts_with_the_same_values(
    overrides: dict[str, Any],
) -> None:
    raw = event_json(3, **overrides)
    now = timezone.now()
    quick = check_event_fast(raw, latest=now + FUTURE_SLACK)
    full = check_event(raw, now=now)
    if quick is None:
        return  # the caller asks check_event, whose answer is the one given
    assert isinstance(full, CheckedEvent)
    assert quick == full


def test_the_quick_check_takes_the_recorders_usual_events() -> None:
    now = timezone.now()
    assert check_event_fast(event_json(1), latest=now + FUTURE_SLACK) is not None
    assert check_event_fast(["not", "an", "event"], latest=now + FUTURE_SLACK) is None
