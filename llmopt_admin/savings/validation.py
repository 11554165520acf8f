"""Checking one usage event as it arrives in the ingest API's JSON, with a message per field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from optimization.telemetry import MODES, UsageEvent

MAX_TOKENS = 10**12  # far above any real call; catches garbage and overflow
MAX_COST = Decimal(10**9)
FUTURE_SLACK = timedelta(days=1)  # tolerate clock skew, not events from next month

_TOKEN_FIELDS = (
    "input_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_read_tokens",
    "output_tokens",
)
_STRINGS = {"request_id": 200, "provider": 64, "model": 128}
_OPTIONAL_STRINGS = {"config_entry": 200, "batch_id": 200}
_NUL = "must not contain NUL (\\u0000) characters"  # PostgreSQL text cannot store them


@dataclass(slots=True)
class CheckedEvent:
    event: UsageEvent
    cost_given: bool  # the caller sent cost (and baseline_cost); unknown models need it


def check_event(raw: Any, *, now: datetime | None = None) -> CheckedEvent | dict[str, str]:
    """A valid event, or `{field: message}` naming every problem found. Never raises."""
    if not isinstance(raw, dict):
        return {"event": f"must be a JSON object, got {type(raw).__name__}"}
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}

    for name, limit in _STRINGS.items():
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            errors[name] = "is required and must be a non-empty string"
        elif len(value) > limit:
            errors[name] = f"must be at most {limit} characters (got {len(value)})"
        elif "\x00" in value:
            errors[name] = _NUL
        else:
            values[name] = value.strip()
    for name, limit in _OPTIONAL_STRINGS.items():
        value = raw.get(name)
        if value is None:
            values[name] = None
        elif not isinstance(value, str):
            errors[name] = "must be a string or null"
        elif len(value) > limit:
            errors[name] = f"must be at most {limit} characters (got {len(value)})"
        elif "\x00" in value:
            errors[name] = _NUL
        else:
            values[name] = value or None

    mode = raw.get("mode")
    if mode not in MODES:
        errors["mode"] = f"must be one of {', '.join(MODES)} (got {mode!r})"
    else:
        values["mode"] = mode

    timestamp = _timestamp(raw.get("timestamp"), now or timezone.now())
    if isinstance(timestamp, str):
        errors["timestamp"] = timestamp
    else:
        values["timestamp"] = timestamp

    for name in _TOKEN_FIELDS:
        value = raw.get(name, 0)
        if type(value) is int and 0 <= value <= MAX_TOKENS:  # the common case, checked first
            values[name] = value
        # bool is an int subclass; `true` tokens is a caller bug, not 1 token.
        elif not isinstance(value, int) or isinstance(value, bool):
            errors[name] = f"must be a whole number of tokens (got {value!r})"
        elif value < 0:
            errors[name] = f"must not be negative (got {value})"
        elif value > MAX_TOKENS:
            errors[name] = f"must be at most {MAX_TOKENS} (got {value})"
        else:
            values[name] = value

    given = [name for name in ("cost", "baseline_cost") if raw.get(name) is not None]
    for name in ("cost", "baseline_cost"):
        money = _money(raw.get(name))
        if isinstance(money, str):
            errors[name] = money
        else:
            values[name] = money

    if errors:
        return errors
    # UsageEvent.to_json() always sends cost "0" when the recorder priced nothing; that is no cost.
    priced = values["cost"] or values["baseline_cost"]
    return CheckedEvent(event=UsageEvent(**values), cost_given=len(given) == 2 and bool(priced))


def _timestamp(value: Any, now: datetime) -> datetime | str:
    if not isinstance(value, str) or not value:
        return "is required: an ISO 8601 date-time with a UTC offset, e.g. 2025-01-31T12:00:00Z"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"is not an ISO 8601 date-time: {value[:60]!r}"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return f"must include a UTC offset (e.g. Z or +00:00): {value[:60]!r}"
    if parsed > now + FUTURE_SLACK:
        return f"is more than a day in the future: {value[:60]!r}"
    return parsed


def _money(value: Any) -> Decimal | str:
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return f"must be a decimal number or a string holding one (got {value!r})"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return f"is not a decimal number: {str(value)[:40]!r}"
    if not amount.is_finite():
        return f"must be a finite number (got {value!r})"
    if amount < 0:
        return f"must not be negative (got {value})"
    if amount > MAX_COST:
        return f"must be at most {MAX_COST} USD (got {value})"
    return amount
