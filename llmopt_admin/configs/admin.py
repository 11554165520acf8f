"""Django admin: read-only views of the embedded documents (secrets masked) and the audit log.

Nothing is editable here on purpose: a save through the Django admin would bypass the revision
check and the schema validation the config pages apply, and would show the apiKeys.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from llmopt_admin.configs.audit import mask_secrets
from llmopt_admin.configs.models import AuditEntry, EmbeddedConfigDocument


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pretty(value: Any) -> str:
    return format_html(
        "<pre>{}</pre>", json.dumps(mask_secrets(value), indent=2, ensure_ascii=False)
    )


@admin.register(EmbeddedConfigDocument)
class EmbeddedConfigDocumentAdmin(ReadOnlyAdmin):
    list_display = ("key", "revision", "updated_at")
    search_fields = ("key",)
    fields = ("key", "revision", "created_at", "updated_at", "masked_body")
    readonly_fields = fields

    @admin.display(description="body (secrets masked)")
    def masked_body(self, obj: EmbeddedConfigDocument) -> str:
        return _pretty(obj.body)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "target")
    list_filter = ("action",)
    search_fields = ("actor_label", "target", "action")
    date_hierarchy = "created_at"
    fields = ("created_at", "actor", "actor_label", "action", "target", "changes_shown")
    readonly_fields = fields

    @admin.display(description="changes")
    def changes_shown(self, obj: AuditEntry) -> str:
        return _pretty(obj.changes)
