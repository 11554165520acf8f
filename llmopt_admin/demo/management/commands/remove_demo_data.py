"""Delete the demo history `make run` seeded (and only it), then rebuild the rollups."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from llmopt_admin.savings.models import LedgerEvent
from llmopt_admin.savings.services import rollups_rebuild
from llmopt_admin.savings.synthetic import DEMO_ID_PREFIX


class Command(BaseCommand):
    help = (
        "Delete the synthetic demo history (usage events whose request id starts with "
        f"'{DEMO_ID_PREFIX}-') and rebuild the rollups; real usage is left untouched."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            deleted, _ = LedgerEvent.objects.filter(
                request_id__startswith=f"{DEMO_ID_PREFIX}-"
            ).delete()
            rollups_rebuild()
        self.stdout.write(f"removed {deleted:,} demo events; rollups rebuilt")
