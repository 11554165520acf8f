"""The embedded config store's documents and the audit log of config changes and migration runs."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EmbeddedConfigDocument(models.Model):
    """One `aiconfigs` document kept as JSON in the Django database (the default store).

    `revision` grows by one on every write; writes are compare-and-set on it, like ArangoDB's
    `_rev`, so two operators saving at once never overwrite each other silently.
    """

    key = models.CharField(max_length=254, unique=True)
    body = models.JSONField(default=dict)
    revision = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        verbose_name = "embedded config document"

    def __str__(self) -> str:
        return f"{self.key} (revision {self.revision})"


class AuditEntry(models.Model):
    """Who did what to which config document, when; `changes` never holds a secret."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    # Kept as text as well, so the entry still says who it was after the user is deleted, and
    # so command-line runs (no user) can name the operating-system account.
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=254, db_index=True)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target}"
