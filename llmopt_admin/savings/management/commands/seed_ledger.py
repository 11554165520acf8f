"""Write a realistic synthetic usage ledger (seeded, so the same arguments give the same data)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from llmopt_admin.savings.services import ledger_bulk_load
from llmopt_admin.savings.synthetic import DEMO_ID_PREFIX, synthetic_events
from optimization.telemetry import UsageEvent


class Command(BaseCommand):
    help = (
        "Generate N usage events over the last D days (providers, models and modes mixed like "
        "real traffic; costs from the price table) and rebuild the rollups."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=int, default=20_000, help="How many events.")
        parser.add_argument("--days", type=float, default=30, help="Spread over this many days.")
        parser.add_argument("--seed", type=int, default=0, help="Random seed (reproducible).")
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Mark the events as demo history (remove them with `remove_demo_data`).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count, days = options["events"], options["days"]
        if count < 1 or count > 50_000_000:
            raise CommandError("--events must be between 1 and 50,000,000")
        if not 0 < days <= 3650:
            raise CommandError("--days must be more than 0 and at most 3650")
        started = time.monotonic()
        step = max(count // 10, 1)

        def with_progress() -> Iterator[UsageEvent]:
            for number, event in enumerate(
                synthetic_events(
                    count=count,
                    days=days,
                    seed=options["seed"],
                    id_prefix=DEMO_ID_PREFIX if options["demo"] else "seed",
                ),
                start=1,
            ):
                if number % step == 0 and count >= 10_000:
                    self.stderr.write(f"  generated {number:,} of {count:,} events")
                yield event

        inserted = ledger_bulk_load(events=with_progress())
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"seeded {inserted:,} new events ({count - inserted:,} already present) over "
            f"{days:g} days with seed {options['seed']} in {elapsed:.1f} s; rollups rebuilt"
        )
