"""Recompute the hourly rollups from the raw usage ledger and check they match it."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Sum

from llmopt_admin.savings.models import SUM_FIELDS, HourlyRollup, LedgerEvent
from llmopt_admin.savings.services import rollups_rebuild


class Command(BaseCommand):
    help = "Rebuild every hourly rollup from the raw usage events (totals must match exactly)."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        rows = rollups_rebuild()
        raw = LedgerEvent.objects.aggregate(events=Count("id"), **{f: Sum(f) for f in SUM_FIELDS})
        rolled = HourlyRollup.objects.aggregate(
            events=Sum("events"), **{f: Sum(f) for f in SUM_FIELDS}
        )
        different = [name for name in raw if (raw[name] or 0) != (rolled[name] or 0)]
        if different:
            raise CommandError(f"rollups differ from the ledger in: {', '.join(different)}")
        self.stdout.write(
            f"rebuilt {rows:,} hourly rollups from {raw['events']:,} events in "
            f"{time.monotonic() - started:.1f} s; totals match the ledger"
        )
