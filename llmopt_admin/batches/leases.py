"""Leases on batch jobs: one task run works on a job at a time, and a killed one never blocks it
for long (the lease lapses by itself)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from llmopt_admin.batches.models import (
    BatchJob,
)

logger = logging.getLogger(__name__)


class TransientProviderError(Exception):
    """The provider could not be reached or was overloaded; the step is retried later."""


class LeaseLost(TransientProviderError):
    """Another run took the job over (this one outlived its lease): stop without writing more."""


@contextmanager
def leased(job_id: int) -> Iterator[BatchJob | None]:
    """The job, claimed for this task run; None when another run holds a live claim."""
    owner = uuid.uuid4().hex
    now = timezone.now()
    claimed = (
        BatchJob.objects.filter(pk=job_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + lease_length(), nudged_at=None)
    )
    if not claimed:
        yield None
        return
    try:
        yield BatchJob.objects.get(pk=job_id)
    finally:
        BatchJob.objects.filter(pk=job_id, lease_owner=owner).update(
            lease_owner="", lease_until=None
        )


def lease_length() -> timedelta:
    return timedelta(seconds=settings.LLMOPT_BATCH_LEASE_SECONDS)


def renew_lease(job: BatchJob) -> None:
    """Extend this run's claim on the job; LeaseLost when another run holds it now."""
    renewed = BatchJob.objects.filter(pk=job.pk, lease_owner=job.lease_owner).update(
        lease_until=timezone.now() + lease_length()
    )
    if not renewed:
        raise LeaseLost(f"batch job {job.pk}: the lease passed to another run")
