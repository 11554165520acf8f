"""Rollups always equal the raw ledger: incrementally maintained or rebuilt (property test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmopt_admin.savings.models import SUM_FIELDS, HourlyRollup, LedgerEvent
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


def raw_groups() -> dict[tuple[object, ...], dict[str, object]]:
    rows = (
        LedgerEvent.objects.annotate(hour=TruncHour("timestamp", tzinfo=UTC))
        .values(*KEY)
        .annotate(events=Count("id"), **{f"t_{f}": Sum(f) for f in SUM_FIELDS})
        .order_by()
    )
    return {
        tuple(r[k] for k in KEY): {"events": r["events"], **{f: r[f"t_{f}"] for f in SUM_FIELDS}}
        for r in rows
    }


def rollup_groups() -> dict[tuple[object, ...], dict[str, object]]:
    return {
        tuple(r[k] for k in KEY): {f: r[f] for f in ("events", *SUM_FIELDS)}
        for r in HourlyRollup.objects.values(*KEY, "events", *SUM_FIELDS)
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
    seen: set[str] = set()
    for batch in batches:  # repeated request ids across and within batches are duplicates
        result = usage_events_record(events=batch)
        fresh = {e.request_id for e in batch} - seen
        assert result.accepted == len(fresh)
        assert result.accepted + result.duplicates == len(batch)
        seen |= fresh
    incremental = rollup_groups()
    assert incremental == raw_groups()

    call_command("rebuild_rollups", stdout=StringIO())
    assert rollup_groups() == incremental


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
    out = StringIO()
    call_command("rebuild_rollups", stdout=out)
    assert "from 5 events" in out.getvalue()
    assert "totals match the ledger" in out.getvalue()
    assert HourlyRollup.objects.aggregate(n=Sum("events"))["n"] == 5
