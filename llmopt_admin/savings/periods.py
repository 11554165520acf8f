"""Turning query parameters (period preset or custom range, provider, model) into Filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from llmopt_admin.savings.models import LedgerEvent
from llmopt_admin.savings.selectors import DEFAULT_PRESET, PRESETS, Filters, ceil_hour
from llmopt_admin.savings.validation import text_problem

MAX_RANGE = timedelta(days=400)
# Period arithmetic steps up to a day past either end (inclusive end dates, whole UTC days), so
# a day of the calendar Python can represent is kept free on each side.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)
_OUT_OF_RANGE = (
    f"must be between {EARLIEST:%Y-%m-%d} and {LATEST - timedelta(days=1):%Y-%m-%d} in UTC"
)


@dataclass(frozen=True)
class Selection:
    """What the user asked for: the filters, the preset (or "custom"), and any input errors."""

    filters: Filters
    period: str
    errors: dict[str, str] = field(default_factory=dict)

    def query(self) -> dict[str, str]:
        """The selection as query parameters (for links, exports and the URL bar)."""
        params = {"period": self.period}
        if self.period == "custom":
            params["start"] = self.filters.start.date().isoformat()
            params["end"] = (self.filters.end - timedelta(seconds=1)).date().isoformat()
        if self.filters.provider:
            params["provider"] = self.filters.provider
        if self.filters.model:
            params["model"] = self.filters.model
        return params


class _OutOfRange(ValueError):
    """A date or date-time outside EARLIEST..LATEST."""


def _moment(value: str, *, end: bool) -> datetime:
    """A date (whole day; an end date is inclusive) or an ISO date-time (UTC if no offset).

    Raises ValueError for text that is neither, _OutOfRange for a moment outside the calendar.
    """
    value = value.strip()
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
            if end:
                moment += timedelta(days=1)
        else:
            moment = datetime.fromisoformat(value.replace(" ", "T"))
            moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:  # 9999-12-31 + 1 day, 0001-01-01T00:00+01:00 in UTC
        raise _OutOfRange(value) from None
    if not EARLIEST <= moment <= LATEST:
        raise _OutOfRange(value)
    return moment


def _moment_error(value: str, error: ValueError) -> str:
    if isinstance(error, _OutOfRange):
        return _OUT_OF_RANGE
    return f"is not a date (YYYY-MM-DD) or ISO date-time: {value[:40]!r}"


def _filter(params: Mapping[str, str], name: str, errors: dict[str, str]) -> str | None:
    """The `provider` or `model` filter; None (and a message in `errors`) when it is not one
    the ledger could hold."""
    value = (params.get(name) or "").strip()
    limit = LedgerEvent._meta.get_field(name).max_length or 0
    if len(value) > limit:
        errors[name] = f"must be at most {limit} characters (got {len(value)})"
    elif problem := text_problem(value):
        errors[name] = problem
    else:
        return value or None
    return None


def selection_from_params(params: Mapping[str, str], *, now: datetime | None = None) -> Selection:
    """Parse dashboard/API parameters; bad values fall back to the default period with errors."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    provider = _filter(params, "provider", errors)
    model = _filter(params, "model", errors)
    period = (params.get("period") or "").strip()
    start_raw = (params.get("start") or "").strip()
    end_raw = (params.get("end") or "").strip()
    if not period:
        period = "custom" if start_raw or end_raw else DEFAULT_PRESET
    if period == "custom":
        try:
            start = _moment(start_raw, end=False) if start_raw else None
        except ValueError as error:
            errors["start"] = _moment_error(start_raw, error)
            start = None
        try:
            end = _moment(end_raw, end=True) if end_raw else ceil_hour(now)
        except ValueError as error:
            errors["end"] = _moment_error(end_raw, error)
            end = ceil_hour(now)
        if start is None and "start" not in errors:
            errors["start"] = "is required for a custom range"
        if start is not None and not errors:
            if start >= end:
                errors["end"] = "must be after the start"
            elif end - start > MAX_RANGE:
                errors["start"] = f"range is longer than {MAX_RANGE.days} days"
            else:
                return Selection(Filters.of(start, end, provider, model), "custom")
    elif period not in PRESETS:
        errors["period"] = f"must be one of {', '.join(PRESETS)} or custom (got {period[:20]!r})"
    elif not errors:
        end = ceil_hour(now)
        return Selection(Filters.of(end - PRESETS[period], end, provider, model), period)
    end = ceil_hour(now)
    fallback = Filters.of(end - PRESETS[DEFAULT_PRESET], end, provider, model)
    return Selection(fallback, DEFAULT_PRESET, errors)
