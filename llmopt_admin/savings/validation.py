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


_MODE_SET = frozenset(MODES)
_MAX_REQUEST_ID, _MAX_PROVIDER, _MAX_MODEL = _STRINGS.values()
_MAX_CONFIG_ENTRY, _MAX_BATCH_ID = _OPTIONAL_STRINGS.values()

# What check_event_fast returns: the checked fields in this order, ready for the ledger.
CheckedFields = tuple[
    str, datetime, str, str, str, str | None, str | None, int, int, int, int, int,
    Decimal, Decimal, bool,
]  # fmt: skip


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


def _clean(value: Any, limit: int) -> bool:
    """A string check_event keeps as it is: non-empty, not padded, short enough, no NUL."""
    return (
        type(value) is str
        and 0 < len(value) <= limit
        and not value[0].isspace()
        and not value[-1].isspace()
        and "\x00" not in value
    )


def _optional(value: Any, limit: int) -> bool:
    return type(value) is str and len(value) <= limit and "\x00" not in value


def _amount(value: Any) -> Decimal | None:
    """A decimal string (or absent) check_event accepts as money; None for anything else."""
    if value is None:
        return Decimal(0)
    if type(value) is not str:
        return None
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and 0 <= amount <= MAX_COST else None


def check_event_fast(raw: Any, *, latest: datetime) -> CheckedFields | None:
    """The fields of a well-formed event (the usual case) with no per-field messages built;
    None when anything is unusual, and then check_event decides and says why. Every event this
    accepts, check_event accepts with the same values. `latest` is now + FUTURE_SLACK."""
    if type(raw) is not dict:
        return None
    get = raw.get
    request_id, provider, model = get("request_id"), get("provider"), get("model")
    if not (
        _clean(request_id, _MAX_REQUEST_ID)
        and _clean(provider, _MAX_PROVIDER)
        and _clean(model, _MAX_MODEL)
    ):
        return None
    config_entry, batch_id = get("config_entry"), get("batch_id")
    if config_entry is not None and not _optional(config_entry, _MAX_CONFIG_ENTRY):
        return None
    if batch_id is not None and not _optional(batch_id, _MAX_BATCH_ID):
        return None
    mode = get("mode")
    if type(mode) is not str or mode not in _MODE_SET:
        return None
    text = get("timestamp")
    if type(text) is not str or not text:
        return None
    try:
        timestamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    if timestamp.tzinfo is None or timestamp.utcoffset() is None or timestamp > latest:
        return None
    tokens = i, w5, w1, r, o = (
        get("input_tokens", 0),
        get("cache_write_5m_tokens", 0),
        get("cache_write_1h_tokens", 0),
        get("cache_read_tokens", 0),
        get("output_tokens", 0),
    )
    for value in tokens:
        if type(value) is not int or not 0 <= value <= MAX_TOKENS:
            return None
    raw_cost, raw_baseline = get("cost"), get("baseline_cost")
    cost, baseline = _amount(raw_cost), _amount(raw_baseline)
    if cost is None or baseline is None:
        return None
    given = raw_cost is not None and raw_baseline is not None and bool(cost or baseline)
    return (
        request_id, timestamp, provider, model, mode, config_entry or None, batch_id or None,
        i, w5, w1, r, o, cost, baseline, given,
    )  # fmt: skip


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
