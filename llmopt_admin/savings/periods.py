"""Turning query parameters (period preset or custom range, provider, model) into Filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from llmopt_admin.savings.selectors import DEFAULT_PRESET, PRESETS, Filters, ceil_hour

MAX_RANGE = timedelta(days=400)


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


def _moment(value: str, *, end: bool) -> datetime:
    """A date (whole day; an end date is inclusive) or an ISO date-time (UTC if no offset)."""
    value = value.strip()
    if len(value) == 10:
        day = date.fromisoformat(value)
        if end:
            day += timedelta(days=1)
        return datetime.combine(day, time(), tzinfo=UTC)
    moment = datetime.fromisoformat(value.replace(" ", "T"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def selection_from_params(params: Mapping[str, str], *, now: datetime | None = None) -> Selection:
    """Parse dashboard/API parameters; bad values fall back to the default period with errors."""
    now = now or timezone.now()
    provider = (params.get("provider") or "").strip() or None
    model = (params.get("model") or "").strip() or None
    period = (params.get("period") or "").strip()
    start_raw = (params.get("start") or "").strip()
    end_raw = (params.get("end") or "").strip()
    if not period:
        period = "custom" if start_raw or end_raw else DEFAULT_PRESET
    errors: dict[str, str] = {}
    if period == "custom":
        try:
            start = _moment(start_raw, end=False) if start_raw else None
        except ValueError:
            errors["start"] = f"is not a date (YYYY-MM-DD) or ISO date-time: {start_raw[:40]!r}"
            start = None
        try:
            end = _moment(end_raw, end=True) if end_raw else ceil_hour(now)
        except ValueError:
            errors["end"] = f"is not a date (YYYY-MM-DD) or ISO date-time: {end_raw[:40]!r}"
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
    else:
        end = ceil_hour(now)
        return Selection(Filters.of(end - PRESETS[period], end, provider, model), period)
    end = ceil_hour(now)
    fallback = Filters.of(end - PRESETS[DEFAULT_PRESET], end, provider, model)
    return Selection(fallback, DEFAULT_PRESET, errors)
