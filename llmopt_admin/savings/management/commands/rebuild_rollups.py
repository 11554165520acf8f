"""Recompute the hourly and daily rollups from the raw usage ledger and check they match it."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Count, Sum

from llmopt_admin.savings.models import SUM_FIELDS, DailyRollup, HourlyRollup, LedgerEvent
from llmopt_admin.savings.services import rollups_rebuild

# SQLite (the `make run` default) stores and sums decimals as floating point, so its totals
# can only agree to about this much; PostgreSQL's numeric sums must agree exactly.
SQLITE_TOLERANCE = Decimal("1e-8")


class Command(BaseCommand):
    help = "Rebuild the hourly and daily rollups from the raw usage events (totals must match)."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        rows = rollups_rebuild()
        raw = LedgerEvent.objects.aggregate(events=Count("id"), **{f: Sum(f) for f in SUM_FIELDS})
        exact = connection.vendor == "postgresql"
        tolerance = Decimal(0) if exact else SQLITE_TOLERANCE
        for table in (HourlyRollup, DailyRollup):
            rolled = table.objects.aggregate(
                events=Sum("events"), **{f: Sum(f) for f in SUM_FIELDS}
            )
            different = [
                name
                for name in raw
                if abs(Decimal(raw[name] or 0) - Decimal(rolled[name] or 0)) > tolerance
            ]
            if different:
                raise CommandError(
                    f"{table._meta.verbose_name} rows differ from the ledger in: "
                    f"{', '.join(different)}"
                )
        how = "" if exact else f" (within {SQLITE_TOLERANCE} USD: SQLite sums decimals as floats)"
        self.stdout.write(
            f"rebuilt {rows:,} hourly rollups and the daily ones from {raw['events']:,} events "
            f"in {time.monotonic() - started:.1f} s; totals match the ledger{how}"
        )
