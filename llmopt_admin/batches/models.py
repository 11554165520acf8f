"""Batch jobs, the provider batches they were split into, and one row per request.

The database is the source of truth: Celery tasks are only nudges that move a job forward, so a
lost or duplicated task never loses a result or pays twice. Counts and costs of a job are always
recomputed from its request rows (never incremented), which makes every write idempotent.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from llmopt_admin.token_columns import token_columns

MONEY = {"max_digits": 20, "decimal_places": 10}


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"  # stored, waiting for a worker to submit it
    SUBMITTING = "submitting", "Submitting"
    IN_PROGRESS = "in_progress", "In progress"  # the provider is working on it
    CANCELING = "canceling", "Canceling"
    ENDED = "ended", "Ended"  # every result is in the database
    CANCELED = "canceled", "Canceled"
    FAILED = "failed", "Failed"  # could not be submitted; `error` says why


FINAL_JOB_STATUSES = frozenset({JobStatus.ENDED, JobStatus.CANCELED, JobStatus.FAILED})
OPEN_JOB_STATUSES = frozenset(set(JobStatus) - FINAL_JOB_STATUSES)


class JobMode(models.TextChoices):
    BATCH = "batch", "Message Batches API"  # half price, results within 24 h
    STANDARD = "standard", "Standard API"  # full price, one call per request, now


class JobSource(models.TextChoices):
    UPLOAD = "upload", "JSONL upload"
    API = "api", "API"
    RETRY = "retry", "Retry"


class Outcome(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    ERRORED = "errored", "Errored"
    CANCELED = "canceled", "Canceled"
    EXPIRED = "expired", "Expired"


FINAL_OUTCOMES = (Outcome.SUCCEEDED, Outcome.ERRORED, Outcome.CANCELED, Outcome.EXPIRED)
# What a retry job may send again: failures, and what a cancel left unfinished.
RETRYABLE_OUTCOMES = (Outcome.ERRORED, Outcome.EXPIRED, Outcome.CANCELED)


class JobProvider(models.TextChoices):
    """The providers a batch job can target, spelled as PipesHub spells them (the ledger's
    provider names)."""

    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI = "openAI", "OpenAI"
    AZURE_OPENAI = "azureOpenAI", "Azure OpenAI"
    GEMINI = "gemini", "Gemini"


class BatchJob(models.Model):
    """One unit of bulk work submitted by an operator (upload) or a machine (API)."""

    provider = models.CharField(max_length=40, default="anthropic")
    model = models.CharField(max_length=120, help_text="The requests' model ('mixed' if several).")
    mode = models.CharField(max_length=10, choices=JobMode.choices, default=JobMode.BATCH)
    source = models.CharField(max_length=10, choices=JobSource.choices, default=JobSource.API)
    name = models.CharField(max_length=200, blank=True, help_text="e.g. the uploaded file's name.")
    status = models.CharField(
        max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    error = models.TextField(blank=True)

    request_count = models.PositiveIntegerField(default=0)
    succeeded_count = models.PositiveIntegerField(default=0)
    errored_count = models.PositiveIntegerField(default=0)
    canceled_count = models.PositiveIntegerField(default=0)
    expired_count = models.PositiveIntegerField(default=0)
    # What the provider reports as done while it still works (results are fetched at the end).
    provider_processed_count = models.PositiveIntegerField(default=0)

    cost = models.DecimalField(**MONEY, default=Decimal(0))
    baseline_cost = models.DecimalField(**MONEY, default=Decimal(0))

    submitted_by = models.CharField(max_length=150, help_text="User name or 'token:<name>'.")
    submitted_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="batch_jobs",
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        help_text="The job whose failed requests this job retries.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    # A short lease so two deliveries of the same task do not work on one job at once; it
    # expires by itself, so a killed worker never blocks the job for long.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    nudged_at = models.DateTimeField(null=True, blank=True, help_text="Last task enqueued.")

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=("status", "created_at"))]

    def __str__(self) -> str:
        return f"batch job {self.pk} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_JOB_STATUSES

    @property
    def finished_count(self) -> int:
        return self.succeeded_count + self.errored_count + self.canceled_count + self.expired_count

    @property
    def progress_percent(self) -> int:
        """0-100: the provider's progress, then the results stored; 100 once final."""
        if self.is_final:
            return 100
        if not self.request_count:
            return 0
        done = max(self.finished_count, self.provider_processed_count)
        return min(99, (100 * done) // self.request_count)

    @property
    def saved(self) -> Decimal:
        return self.baseline_cost - self.cost

    @property
    def retryable_count(self) -> int:
        return self.errored_count + self.expired_count + self.canceled_count


class ProviderBatch(models.Model):
    """One Message Batch at the provider; a large job is split into several.

    Holds the custom_id → position map of the batch client's resume protocol, so a restarted
    worker polls and collects the batch instead of submitting it again.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        CANCELING = "canceling", "Canceling"
        ENDED = "ended", "Ended"

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="provider_batches")
    # Unique per job, not globally: a provider that reuses an id (after losing its state) must
    # never move another job's batch onto this one.
    batch_id = models.CharField(max_length=120)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    custom_ids = models.JSONField(default=dict, help_text="custom_id → input position.")
    meta = models.JSONField(default=dict, blank=True)
    request_count = models.PositiveIntegerField(default=0)
    processed_count = models.PositiveIntegerField(default=0)
    request_counts = models.JSONField(default=dict, blank=True, help_text="As the provider says.")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    results_ingested_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.UniqueConstraint(fields=("job", "batch_id"), name="batches_job_batch_id")
        ]

    def __str__(self) -> str:
        return self.batch_id

    @property
    def is_done(self) -> bool:
        return self.results_ingested_at is not None

    @property
    def poll_due(self) -> bool:
        """True when the batch's next poll time has come (or none was set)."""
        return self.next_poll_at is None or self.next_poll_at <= timezone.now()


class ProviderBatchIntent(models.Model):
    """A group of a job's requests about to become a provider batch (saved before the create).

    Removed once the create's outcome is known (then a ProviderBatch exists, or nothing was
    created). One still here after a crash or a lost response is reconciled with the provider's
    list of batches before these requests are ever sent again.
    """

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="batch_intents")
    intent_id = models.CharField(max_length=64, unique=True)
    custom_ids = models.JSONField(default=dict, help_text="custom_id → input position.")
    meta = models.JSONField(default=dict, blank=True)
    not_before = models.FloatField(help_text="Unix time of the first create attempt.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("not_before", "id")

    def __str__(self) -> str:
        return self.intent_id


class BatchJobRequest(models.Model):
    """One request of a job and, once known, its outcome, output, usage and cost."""

    # No index of its own: the unique constraints below start with job and serve its lookups.
    job = models.ForeignKey(
        BatchJob, on_delete=models.CASCADE, related_name="requests", db_index=False
    )
    custom_id = models.CharField(max_length=64)
    position = models.PositiveIntegerField(help_text="0-based input position.")
    params = models.JSONField(help_text="Anthropic Messages API parameters.")
    batch_id = models.CharField(max_length=120, blank=True, help_text="The provider batch.")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    output_text = models.TextField(blank=True)
    output = models.JSONField(null=True, blank=True, help_text="The response message as JSON.")
    error = models.TextField(blank=True)
    # The class body's namespace takes the token columns here, in their place between
    # `error` and `cost` (field order is creation order: the admin shows them in it).
    locals().update(token_columns(models.PositiveIntegerField))
    cost = models.DecimalField(**MONEY, null=True, blank=True)
    baseline_cost = models.DecimalField(**MONEY, null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("job", "position")
        constraints = [
            models.UniqueConstraint(
                fields=("job", "custom_id"), name="batch_request_unique_custom_id"
            ),
            models.UniqueConstraint(
                fields=("job", "position"), name="batch_request_unique_position"
            ),
        ]
        indexes = [models.Index(fields=("job", "outcome"))]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.custom_id}"
