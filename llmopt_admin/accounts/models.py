"""API tokens for machine clients (the backend's usage recorder, batch submitters)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models


def token_digest(raw: str) -> str:
    """The stored form of a token: only its SHA-256 is kept, never the token itself."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    name = models.CharField(max_length=100, help_text="What uses this token, e.g. 'pipeshub-prod'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        max_length=12, editable=False, help_text="First characters, to tell tokens apart."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    # The token's only rights (accounts.scopes.SCOPES), whatever its user may do in a browser.
    scopes = models.JSONField(
        default=list, help_text="What the token may do: ingest, submit, read or admin."
    )

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
