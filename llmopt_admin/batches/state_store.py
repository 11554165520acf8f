"""The batch client's BatchStateStore protocol, kept in the Django database.

The batch client's `submit` saves each batch the provider accepted before it sends the next,
so after a crash the job knows every batch it already paid for and polls it instead of sending
it again. Each `save` commits on its own (outside any surrounding transaction's rollback).

The store is synchronous: the worker's `SyncAnthropicBatchClient` calls it on the task's own
thread and database connection. From inside an event loop Django refuses its queries
(`SynchronousOnlyOperation`); an async caller would wrap the client in `sync_to_async`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from llmopt_admin.batches.models import BatchJob, ProviderBatch, ProviderBatchIntent
from optimization.batch_state import BatchRecord, SubmitIntent


def _record(batch: ProviderBatch) -> BatchRecord:
    return BatchRecord(
        batch_id=batch.batch_id,
        custom_ids={str(k): int(v) for k, v in batch.custom_ids.items()},
        meta=dict(batch.meta),
        done=batch.is_done,
    )


class DjangoBatchStateStore:
    """Provider batches of one job (`job` given) or of every job (`job=None`, read-only use).

    `positions` (custom_id → the request's position in the job) translates the positions the
    client saves, which count from the start of each `submit` call, into job positions, so
    results of a resumed submission still map back to the right request.
    """

    def __init__(
        self, job: BatchJob | None = None, *, positions: Mapping[str, int] | None = None
    ) -> None:
        self.job = job
        self.positions = positions

    def _batches(self) -> Any:
        batches = ProviderBatch.objects.all()
        return batches if self.job is None else batches.filter(job=self.job)

    def save(self, batch_id: str, custom_ids: Mapping[str, int], meta: Mapping[str, Any]) -> None:
        """Remember `batch_id` for this store's job with its custom_id → position map."""
        job = self.job
        if job is None:
            raise ValueError("a DjangoBatchStateStore without a job cannot save batches")

        known = self.positions
        mapped = {cid: known.get(cid, i) if known else i for cid, i in custom_ids.items()}

        self._save(job, batch_id, mapped, meta)

    @staticmethod
    def _save(
        job: BatchJob, batch_id: str, custom_ids: Mapping[str, int], meta: Mapping[str, Any]
    ) -> None:
        # Scoped to the job: the same id at another job is another batch (a provider that
        # reused an id), never moved here.
        ProviderBatch.objects.update_or_create(
            job=job,
            batch_id=batch_id,
            defaults={
                "custom_ids": dict(custom_ids),
                "meta": dict(meta),
                "request_count": len(custom_ids),
            },
        )

    def save_intent(self, intent: SubmitIntent) -> None:
        """Record, before the create call, that these requests are about to become a batch."""
        job = self.job
        if job is None:
            raise ValueError("a DjangoBatchStateStore without a job cannot save intents")
        known = self.positions
        mapped = {cid: known.get(cid, i) if known else i for cid, i in intent.custom_ids.items()}
        ProviderBatchIntent.objects.create(
            job=job,
            intent_id=intent.intent_id,
            custom_ids=mapped,
            meta=dict(intent.meta),
            not_before=intent.not_before,
        )

    def list_intents(self) -> list[SubmitIntent]:
        """This job's groups whose create has no known outcome yet, oldest first."""

        intents = ProviderBatchIntent.objects.all()
        if self.job is not None:
            intents = intents.filter(job=self.job)
        return [
            SubmitIntent(i.intent_id, dict(i.custom_ids), dict(i.meta), i.not_before)
            for i in intents
        ]

    def resolve_intent(self, intent_id: str, batch_id: str | None) -> None:
        """In one transaction: the intent becomes the batch's record (or is dropped)."""

        with transaction.atomic():
            intent = (
                ProviderBatchIntent.objects.select_for_update().filter(intent_id=intent_id).first()
            )
            if intent is None:  # another run settled it
                return
            if batch_id is not None:
                self._save(intent.job, batch_id, intent.custom_ids, intent.meta)
            intent.delete()

    def load(self, batch_id: str) -> BatchRecord | None:
        """The record of `batch_id`, or None when this store does not know it."""

        batch = self._batches().filter(batch_id=batch_id).first()
        return None if batch is None else _record(batch)

    def list_open(self) -> list[BatchRecord]:
        """Batches whose results are not all in the database yet, oldest first."""
        open_batches = self._batches().filter(results_ingested_at=None).order_by("id")
        return [_record(batch) for batch in open_batches]

    def mark_done(self, batch_id: str) -> None:
        """Flag `batch_id` as collected (unknown ids are ignored)."""
        self._batches().filter(batch_id=batch_id, results_ingested_at=None).update(
            results_ingested_at=timezone.now()
        )
