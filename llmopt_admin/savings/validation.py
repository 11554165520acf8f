"""Checking one usage event as it arrives in the ingest API's JSON, with a message per field.

Also the parts of reading hostile input the admin's apps share: a JSON body reader that keeps
going past values Python cannot hold (`json_body_load`), and the text PostgreSQL cannot store
(`text_problem`).
"""

from __future__ import annotations

import json
import re
import reprlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, cast

from django.utils import timezone

from optimization.pricing import TOKEN_FIELDS, TokenCounts, token_counts, token_fields
from optimization.telemetry import MODES, Mode, UsageEvent

MAX_TOKENS = 10**12  # far above any real call; catches garbage and overflow
MAX_COST = Decimal(10**9)
FUTURE_SLACK = timedelta(days=1)  # tolerate clock skew, not events from next month
# Explicit context cache storage an event bought, cached tokens x hours (optimization.telemetry).
STORAGE_FIELD = "cache_storage_token_hours"

_STRINGS = {"request_id": 200, "provider": 64, "model": 128}
_OPTIONAL_STRINGS = {"config_entry": 200, "batch_id": 200}
_NUL = "must not contain NUL (\\u0000) characters"  # PostgreSQL text cannot store them
_SURROGATE = "must be valid Unicode: it holds a lone surrogate (\\ud800-\\udfff)"


_MODE_SET = frozenset(MODES)
_MAX_REQUEST_ID, _MAX_PROVIDER, _MAX_MODEL = _STRINGS.values()
_MAX_CONFIG_ENTRY, _MAX_BATCH_ID = _OPTIONAL_STRINGS.values()
_NO_TOKENS = (0,) * len(TOKEN_FIELDS)  # an absent count is 0


# --- hostile input: JSON Python cannot hold, text PostgreSQL cannot store ------------------

# Deeper JSON is refused: no event or batch request needs it, and Python's own parser gives up
# somewhere near 1,000 levels (RecursionError), depending on how deep its caller's stack is.
MAX_JSON_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Stands where a JSON body held a value Python cannot hold; `reason` says why."""

    reason: str

    def __repr__(self) -> str:
        return f"<{self.reason}>"


class Marked(dict[str, Any]):
    """A JSON object some of whose values hold an Unreadable: `marked` maps each such key to
    the reason. Never the plain `dict` the fast paths look for, so they leave it to the checks
    that report it."""

    def __init__(self, pairs: list[tuple[str, Any]], marked: dict[str, str]) -> None:
        super().__init__(pairs)
        self.marked = marked


_TOO_DEEP = Unreadable(f"is nested more than {MAX_JSON_DEPTH} levels deep")
_CUT_KEY = "\x00llmopt:cut"
_CUT_TEXT = json.dumps({_CUT_KEY: 0})
# A JSON string, or a run of brackets (runs are counted in one step; see _cut_deep).
_STRING_OR_BRACKETS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]+', re.DOTALL)


def json_body_load(raw: bytes | str) -> Any:
    """The JSON value in `raw`, parsed even where parts of it are beyond Python.

    An array or object nested more than MAX_JSON_DEPTH deep, or an integer too long to convert
    (over 4,300 digits), becomes an `Unreadable` in place and the objects holding it `Marked`,
    so the rest of the body still counts: one bad event does not take its neighbours with it.
    Raises ValueError (JSONDecodeError, UnicodeDecodeError) saying why when `raw` is not JSON.
    """
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise
    except (RecursionError, ValueError):
        pass  # too deep, or an integer too long: read again, cutting those parts out
    text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw), "surrogatepass")
    try:
        return json.loads(_cut_deep(text), parse_int=_integer, object_pairs_hook=_object)
    except RecursionError:  # cannot happen once cut; kept so that no input can bring back a 500
        raise ValueError(f"is nested more than {MAX_JSON_DEPTH} levels deep") from None


def _cut_deep(text: str) -> str:
    """`text` with each array or object opening deeper than MAX_JSON_DEPTH replaced by a
    marker object, which `_object` turns into an Unreadable."""
    limit = MAX_JSON_DEPTH
    pieces: list[str] = []
    depth = 0
    kept = 0  # text before this offset is in `pieces` already
    cut_from = -1  # where the cut being made starts; -1 when none is open
    for match in _STRING_OR_BRACKETS.finditer(text):
        run = match.group()
        if run[0] == '"':
            continue
        start = match.start()
        # Runs of one kind of bracket, as in "[[[[...]]]]", in one step each.
        if not run.strip("[{"):
            if cut_from < 0 and depth + len(run) > limit:
                cut_from = start + limit - depth
            depth += len(run)
            continue
        if not run.strip("]}"):
            if cut_from >= 0 and depth - len(run) <= limit:
                pieces += [text[kept:cut_from], _CUT_TEXT]
                kept, cut_from = start + depth - limit, -1
            depth -= len(run)
            continue
        for offset, char in enumerate(run, start):
            if char in "[{":
                depth += 1
                if depth == limit + 1:
                    cut_from = offset
            else:
                if depth == limit + 1 and cut_from >= 0:
                    pieces += [text[kept:cut_from], _CUT_TEXT]
                    kept, cut_from = offset + 1, -1
                depth -= 1
    if cut_from >= 0:
        raise ValueError(f"an array or object that opens at character {cut_from} never closes")
    pieces.append(text[kept:])
    return "".join(pieces)


def _integer(digits: str) -> int | Unreadable:
    try:
        return int(digits)
    except ValueError:  # more digits than int() converts
        return Unreadable(f"is a number of {len(digits.lstrip('-'))} digits, too long to read")


def _object(pairs: list[tuple[str, Any]]) -> Any:
    if len(pairs) == 1 and pairs[0][0] == _CUT_KEY:
        return _TOO_DEEP
    marked = {key: reason for key, value in pairs if (reason := _unreadable_in(value))}
    return Marked(pairs, marked) if marked else dict(pairs)


def _unreadable_in(value: Any) -> str | None:
    """Why `value` cannot be read in full, or None. Objects inside it are Marked already."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Unreadable):
            return item.reason
        if isinstance(item, Marked):
            return next(iter(item.marked.values()))
        if isinstance(item, list):
            stack.extend(item)
    return None


def text_problem(value: str) -> str | None:
    """Why PostgreSQL cannot store `value` as text (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return _NUL
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            return _SURROGATE
    return None


def declared_length(header: str | None) -> int | None:
    """The byte count a Content-Length header declares; None when it holds no plain number
    (str.isdigit() also says yes to "²", and int() refuses more than 4,300 digits)."""
    if not header or not header.isascii() or not header.isdigit():
        return None
    digits = header.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else 10**18  # more than any body we read


def _utf8(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = _repr.maxlong = 60


def shown(value: Any) -> str:
    """`value` for a message: its repr, cut short (a value may be megabytes, or nested)."""
    return _repr.repr(value)


def field_name(key: str) -> str:
    """A caller's key, short enough to name in a message."""
    return key if len(key) <= 64 else key[:64] + "…"


class CheckedEvent(NamedTuple):
    """An event the ledger can take: what both checks return (strings trimmed, the timestamp
    in UTC), and what events made in-process become (`of`)."""

    request_id: str
    timestamp: datetime
    provider: str
    model: str
    mode: Mode
    config_entry: str | None
    batch_id: str | None
    tokens: TokenCounts
    cost: Decimal
    baseline_cost: Decimal
    cost_given: bool  # the caller sent cost (and baseline_cost); unknown models need it
    # Explicit context cache storage bought (tokens x hours); rare, so last and defaulted.
    storage_token_hours: Decimal = Decimal(0)

    @classmethod
    def of(cls, event: UsageEvent, *, cost_given: bool = True) -> CheckedEvent:
        return cls(
            event.request_id,
            event.timestamp,
            event.provider,
            event.model,
            event.mode,
            event.config_entry,
            event.batch_id,
            token_counts(event),
            event.cost,
            event.baseline_cost,
            cost_given,
            event.cache_storage_token_hours,
        )

    @property
    def event(self) -> UsageEvent:
        return UsageEvent(
            request_id=self.request_id,
            timestamp=self.timestamp,
            provider=self.provider,
            model=self.model,
            mode=self.mode,
            **token_fields(self.tokens),
            cost=self.cost,
            baseline_cost=self.baseline_cost,
            config_entry=self.config_entry,
            batch_id=self.batch_id,
            cache_storage_token_hours=self.storage_token_hours,
        )


def check_event(raw: Any, *, now: datetime | None = None) -> CheckedEvent | dict[str, str]:
    """A valid event, or `{field: message}` naming every problem found. Never raises."""
    if isinstance(raw, Unreadable):
        return {"event": raw.reason}
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
        elif problem := text_problem(value):
            errors[name] = problem
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
        elif problem := text_problem(value):
            errors[name] = problem
        else:
            values[name] = value or None

    mode = raw.get("mode")
    if not isinstance(mode, str) or mode not in _MODE_SET:
        errors["mode"] = f"must be one of {', '.join(MODES)} (got {shown(mode)})"
    else:
        values["mode"] = mode

    timestamp = _timestamp(raw.get("timestamp"), now or timezone.now())
    if isinstance(timestamp, str):
        errors["timestamp"] = timestamp
    else:
        values["timestamp"] = timestamp

    tokens: list[int] = []
    for name in TOKEN_FIELDS:
        value = raw.get(name, 0)
        if type(value) is int and 0 <= value <= MAX_TOKENS:  # the common case, checked first
            tokens.append(value)
        # bool is an int subclass; `true` tokens is a caller bug, not 1 token.
        elif not isinstance(value, int) or isinstance(value, bool):
            errors[name] = f"must be a whole number of tokens (got {shown(value)})"
        elif value < 0:
            errors[name] = f"must not be negative (got {shown(value)})"
        elif value > MAX_TOKENS:
            errors[name] = f"must be at most {MAX_TOKENS} (got {shown(value)})"
        else:
            tokens.append(value)

    given = [name for name in ("cost", "baseline_cost") if raw.get(name) is not None]
    for name in ("cost", "baseline_cost"):
        money = _money(raw.get(name))
        if isinstance(money, str):
            errors[name] = money
        else:
            values[name] = money

    storage = _amount_of("token-hours", raw.get(STORAGE_FIELD), MAX_TOKENS)
    if isinstance(storage, str):
        errors[STORAGE_FIELD] = storage
    else:
        values["storage_token_hours"] = storage

    if isinstance(raw, Marked):  # what could not be read is named, whatever else it broke
        errors.update((field_name(key), reason) for key, reason in raw.marked.items())
    if errors:
        return errors
    # UsageEvent.to_json() always sends cost "0" when the recorder priced nothing; that is no cost.
    priced = values["cost"] or values["baseline_cost"]
    return CheckedEvent(
        **values,
        tokens=cast(TokenCounts, tuple(tokens)),
        cost_given=len(given) == 2 and bool(priced),
    )


def _clean(value: Any, limit: int) -> bool:
    """A string check_event keeps as it is: non-empty, not padded, short enough, storable."""
    return (
        type(value) is str
        and 0 < len(value) <= limit
        and not value[0].isspace()
        and not value[-1].isspace()
        and "\x00" not in value
        and (value.isascii() or _utf8(value))
    )


def _optional(value: Any, limit: int) -> bool:
    return (
        type(value) is str
        and len(value) <= limit
        and "\x00" not in value
        and (value.isascii() or _utf8(value))
    )


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


def check_event_fast(raw: Any, *, latest: datetime) -> CheckedEvent | None:
    """A well-formed event (the usual case) checked with no per-field messages built; None
    when anything is unusual, and then check_event decides and says why. Every event this
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
    if timestamp.tzinfo is not UTC:
        try:  # stored in UTC: PostgreSQL reads no offset finer than a minute
            timestamp = timestamp.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
            return None
    tokens = tuple(map(get, TOKEN_FIELDS, _NO_TOKENS))
    for value in tokens:
        if type(value) is not int or not 0 <= value <= MAX_TOKENS:
            return None
    if get(STORAGE_FIELD) is not None:  # rare: the full check reads it
        return None
    raw_cost, raw_baseline = get("cost"), get("baseline_cost")
    cost, baseline = _amount(raw_cost), _amount(raw_baseline)
    if cost is None or baseline is None:
        return None
    given = raw_cost is not None and raw_baseline is not None and bool(cost or baseline)
    return CheckedEvent(
        request_id, timestamp, provider, model, mode, config_entry or None, batch_id or None,
        tokens, cost, baseline, given,
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
    try:
        in_utc = parsed.astimezone(UTC)
    except OverflowError:
        return f"is outside years 1-9999 once converted to UTC: {value[:60]!r}"
    if in_utc > now + FUTURE_SLACK:
        return f"is more than a day in the future: {value[:60]!r}"
    return in_utc


def _money(value: Any) -> Decimal | str:
    return _amount_of("USD", value, MAX_COST)


def _amount_of(unit: str, value: Any, most: Decimal | int) -> Decimal | str:
    """A decimal amount from 0 to `most` (absent: 0), or the message saying what is wrong."""
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return f"must be a decimal number or a string holding one (got {shown(value)})"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return f"is not a decimal number: {shown(value)}"
    if not amount.is_finite():
        return f"must be a finite number (got {shown(value)})"
    if amount < 0:
        return f"must not be negative (got {shown(value)})"
    if amount > most:
        return f"must be at most {most} {unit} (got {shown(value)})"
    return amount
