"""Rollups always equal the raw ledger: incrementally maintained or rebuilt (property test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate, TruncHour
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmopt_admin.savings.models import SUM_FIELDS, DailyRollup, HourlyRollup, LedgerEvent
from llmopt_admin.savings.selectors import Filters, ledger_totals, savings_summary
from llmopt_admin.savings.services import usage_events_record
from optimization.telemetry import MODES, UsageEvent

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 1, tzinfo=UTC)
KEY = ("hour", "provider", "model", "mode")

tokens = st.integers(min_value=0, max_value=200_000)
events = st.builds(
    UsageEvent,
    request_id=st.integers(min_value=0, max_value=60).map(lambda n: f"r{n}"),
    timestamp=st.integers(min_value=0, max_value=72 * 3600).map(
        lambda s: START + timedelta(seconds=s)
    ),
    provider=st.sampled_from(["anthropic", "openAI"]),
    model=st.sampled_from(["claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4.1", "o3"]),
    mode=st.sampled_from(MODES),
    input_tokens=tokens,
    cache_write_5m_tokens=tokens,
    cache_write_1h_tokens=tokens,
    cache_read_tokens=tokens,
    output_tokens=tokens,
)


def raw_groups(bucket: str = "hour") -> dict[tuple[object, ...], dict[str, object]]:
    trunc = TruncHour if bucket == "hour" else TruncDate
    key = (bucket, *KEY[1:])
    rows = (
        LedgerEvent.objects.annotate(**{bucket: trunc("timestamp", tzinfo=UTC)})
        .values(*key)
        .annotate(events=Count("id"), **{f"t_{f}": Sum(f) for f in SUM_FIELDS})
        .order_by()
    )
    return {
        tuple(r[k] for k in key): {"events": r["events"], **{f: r[f"t_{f}"] for f in SUM_FIELDS}}
        for r in rows
    }


def rollup_groups(bucket: str = "hour") -> dict[tuple[object, ...], dict[str, object]]:
    table = HourlyRollup if bucket == "hour" else DailyRollup
    key = (bucket, *KEY[1:])
    return {
        tuple(r[k] for k in key): {f: r[f] for f in ("events", *SUM_FIELDS)}
        for r in table.objects.values(*key, "events", *SUM_FIELDS)
    }


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(events, max_size=25), min_size=1, max_size=4))
def test_rollups_equal_raw_totals_however_events_arrive_and_after_a_rebuild(
    batches: list[list[UsageEvent]],
) -> None:
    LedgerEvent.objects.all().delete()
    HourlyRollup.objects.all().delete()
    DailyRollup.objects.all().delete()
    seen: set[str] = set()
    for batch in batches:  # repeated request ids across and within batches are duplicates
        result = usage_events_record(events=batch)
        fresh = {e.request_id for e in batch} - seen
        assert result.accepted == len(fresh)
        assert result.accepted + result.duplicates == len(batch)
        seen |= fresh
    incremental = rollup_groups()
    assert incremental == raw_groups()
    incremental_daily = rollup_groups("day")
    assert incremental_daily == raw_groups("day")

    call_command("rebuild_rollups", stdout=StringIO())
    assert rollup_groups() == incremental
    assert rollup_groups("day") == incremental_daily


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch=st.lists(events, min_size=1, max_size=40),
    start=st.integers(min_value=-30, max_value=80),
    hours=st.integers(min_value=1, max_value=110),
    provider=st.sampled_from([None, "anthropic", "openAI"]),
)
def test_a_period_read_from_daily_and_hourly_rollups_equals_the_raw_ledger(
    batch: list[UsageEvent], start: int, hours: int, provider: str | None
) -> None:
    # Periods start and end at any hour, so whole days come from the daily rollups and the
    # hours at either end from the hourly ones; together they must be exactly the ledger's.
    LedgerEvent.objects.all().delete()
    HourlyRollup.objects.all().delete()
    DailyRollup.objects.all().delete()
    usage_events_record(events=batch)
    begin = START + timedelta(hours=start)
    filters = Filters.of(begin, begin + timedelta(hours=hours), provider)
    figures = savings_summary(filters=filters)
    raw = ledger_totals(filters=filters)
    assert figures.events == raw["events"]
    assert figures.batch_events == raw["batch_events"]
    for name in SUM_FIELDS:
        assert getattr(figures, name) == (raw[name] or 0), name


def test_rebuild_rollups_reports_matching_totals() -> None:
    usage_events_record(
        events=[
            UsageEvent(
                f"r{n}",
                START + timedelta(minutes=50 * n),
                "anthropic",
                "claude-haiku-4-5",
                "batch",
                input_tokens=100,
            )
            for n in range(5)
        ]
    )
    HourlyRollup.objects.all().delete()  # lost rollups are recovered from the raw events
    DailyRollup.objects.filter(mode="batch").update(events=99)  # and wrong ones are replaced
    out = StringIO()
    call_command("rebuild_rollups", stdout=out)
    assert "from 5 events" in out.getvalue()
    assert "totals match the ledger" in out.getvalue()
    assert HourlyRollup.objects.aggregate(n=Sum("events"))["n"] == 5
    assert DailyRollup.objects.aggregate(n=Sum("events"))["n"] == 5
