"""The SQLite path (`make run` uses SQLite): ingest, duplicates, rollups and seeding.

The test process's own database is PostgreSQL, so this drives `manage.py` in a subprocess with
DATABASE_URL pointing at a fresh SQLite file: the same code a first-time user runs.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - runs our own manage.py
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = """
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate, TruncHour
from llmopt_admin.savings.models import SUM_FIELDS, DailyRollup, HourlyRollup, LedgerEvent
from llmopt_admin.savings.services import usage_events_ingest

now = datetime.now(UTC)
def event(n, **extra):
    data = {"request_id": f"api-{n}", "timestamp": (now - timedelta(hours=7 * n)).isoformat(),
            "provider": "openAI" if n % 2 else "anthropic",
            "model": "gpt-4.1" if n % 2 else "claude-sonnet-4-5", "mode": "cached",
            "input_tokens": 100 + n, "cache_read_tokens": 1000, "output_tokens": 50,
            "batch_id": "tab\\there" if n == 3 else None}
    data.update(extra)
    return data

first = usage_events_ingest(items=[event(n) for n in range(12)] + [event(99, mode="turbo")])
again = usage_events_ingest(items=[event(n) for n in range(10, 14)])

def groups(table, bucket, trunc):
    key = (bucket, "provider", "model", "mode")
    raw = {tuple(r[k] for k in key): [r["n"], *(r["s_" + f] for f in SUM_FIELDS)]
           for r in LedgerEvent.objects.annotate(**{bucket: trunc("timestamp", tzinfo=UTC)})
           .values(*key).annotate(n=Count("id"), **{"s_" + f: Sum(f) for f in SUM_FIELDS})
           .order_by()}
    rolled = {tuple(r[k] for k in key): [r["events"], *(r[f] for f in SUM_FIELDS)]
              for r in table.objects.values(*key, "events", *SUM_FIELDS)}
    # SQLite keeps decimals as floats: equal to a millionth of a cent, not to the last bit.
    return raw.keys() == rolled.keys() and all(
        abs(Decimal(a or 0) - Decimal(b or 0)) <= Decimal("1e-8")
        for key in raw for a, b in zip(raw[key], rolled[key])
    )

print(json.dumps({
    "first": first.as_dict(), "again": again.as_dict(),
    "events": LedgerEvent.objects.count(),
    "cacheable": LedgerEvent.objects.aggregate(c=Sum("cacheable_input_tokens"))["c"],
    "tab": LedgerEvent.objects.get(request_id="api-3").batch_id,
    "hourly_equal": groups(HourlyRollup, "hour", TruncHour),
    "daily_equal": groups(DailyRollup, "day", TruncDate),
}))
"""


def manage(database: Path, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py sets the project's own
    done = subprocess.run(  # nosec B603 - our own manage.py, fixed arguments
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_on_sqlite_ingest_counts_duplicates_keeps_rollups_exact_and_seeding_rebuilds(
    tmp_path: Path,
) -> None:
    database = tmp_path / "db.sqlite3"
    manage(database, "migrate", "savings", "--verbosity", "0")
    result = json.loads(manage(database, "shell", "-c", SCRIPT).strip().splitlines()[-1])
    assert result["first"]["accepted"] == 12
    assert [item["index"] for item in result["first"]["rejected"]] == [12]
    assert result["again"] == {"accepted": 2, "duplicates": 2, "rejected": []}
    assert result["events"] == 14
    assert result["tab"] == "tab\there"
    # Anthropic (explicit): 1,000 reads each; OpenAI (automatic): reads + uncached input.
    assert result["cacheable"] == 14 * 1_000 + sum(100 + n for n in range(14) if n % 2)
    assert result["hourly_equal"] is True
    assert result["daily_equal"] is True

    seeded = manage(database, "seed_ledger", "--events", "2500", "--days", "3", "--seed", "4")
    assert "seeded 2,500 new events" in seeded
    assert "totals match the ledger" in manage(database, "rebuild_rollups")


@pytest.mark.parametrize("args", [("seed_ledger", "--events", "0")])
def test_seed_ledger_refuses_a_bad_count_on_any_database(tmp_path: Path, args: tuple[str]) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    done = subprocess.run(  # nosec B603 - our own manage.py, fixed arguments
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert "--events must be between 1 and 50,000,000" in done.stderr
