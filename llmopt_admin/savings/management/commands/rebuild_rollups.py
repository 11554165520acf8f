"""Recompute the hourly rollups from the raw usage ledger and check they match it."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Sum

from llmopt_admin.savings.models import SUM_FIELDS, DailyRollup, HourlyRollup, LedgerEvent
from llmopt_admin.savings.services import rollups_rebuild


class Command(BaseCommand):
    help = "Rebuild the hourly and daily rollups from the raw usage events (totals must match)."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        rows = rollups_rebuild()
        raw = LedgerEvent.objects.aggregate(events=Count("id"), **{f: Sum(f) for f in SUM_FIELDS})
        for table in (HourlyRollup, DailyRollup):
            rolled = table.objects.aggregate(
                events=Sum("events"), **{f: Sum(f) for f in SUM_FIELDS}
            )
            different = [name for name in raw if (raw[name] or 0) != (rolled[name] or 0)]
            if different:
                raise CommandError(
                    f"{table._meta.verbose_name} rows differ from the ledger in: "
                    f"{', '.join(different)}"
                )
        self.stdout.write(
            f"rebuilt {rows:,} hourly rollups and the daily ones from {raw['events']:,} events "
            f"in {time.monotonic() - started:.1f} s; totals match the ledger"
        )
