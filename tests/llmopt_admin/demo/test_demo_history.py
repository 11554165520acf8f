"""`make run`'s demo history: weeks of marked synthetic usage, removable with one command."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client

from llmopt_admin.savings.models import DailyRollup, LedgerEvent
from llmopt_admin.savings.services import usage_events_record
from optimization.telemetry import UsageEvent

pytestmark = pytest.mark.django_db


def test_the_demo_history_spans_weeks_is_marked_and_only_it_is_removed(
    capsys: pytest.CaptureFixture[str], staff_client: Client
) -> None:
    call_command("seed_ledger", "--demo", "--events", "600", "--days", "21")
    real = UsageEvent(
        request_id="backend-call-1",
        timestamp=datetime.now(UTC),
        provider="anthropic",
        model="claude-sonnet-4-5",
        mode="standard",
        input_tokens=1000,
        output_tokens=100,
    )
    usage_events_record(events=[real])
    demo = LedgerEvent.objects.filter(request_id__startswith="demo-history-")
    assert demo.count() == 600
    days = {moment.date() for moment in demo.values_list("timestamp", flat=True)}
    assert len(days) >= 14  # weeks of history, not a spike in the last hour

    page = staff_client.get("/savings/").content.decode()
    assert 'id="demo-history-note"' in page  # marked as demo data where people look

    call_command("remove_demo_data")
    assert 'id="demo-history-note"' not in staff_client.get("/savings/").content.decode()
    assert "removed 600 demo events" in capsys.readouterr().out
    assert list(LedgerEvent.objects.values_list("request_id", flat=True)) == ["backend-call-1"]
    rolled = DailyRollup.objects.aggregate(events=Sum("events"))["events"]
    assert rolled == 1
