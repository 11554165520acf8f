"""Batch jobs in Django's admin (read-mostly: the pages under /batches/ are the operator UI)."""

from __future__ import annotations

from django.contrib import admin

from llmopt_admin.batches.models import BatchJob, BatchJobRequest, ProviderBatch


class ProviderBatchInline(admin.TabularInline):
    model = ProviderBatch
    fields = ("batch_id", "status", "request_count", "processed_count", "results_ingested_at")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(BatchJob)
class BatchJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "status",
        "mode",
        "model",
        "request_count",
        "succeeded_count",
        "errored_count",
        "cost",
        "baseline_cost",
        "submitted_by",
        "created_at",
    )
    list_filter = ("status", "mode", "source", "provider")
    search_fields = ("name", "submitted_by", "provider_batches__batch_id")
    readonly_fields = [f.name for f in BatchJob._meta.fields]
    inlines = [ProviderBatchInline]


@admin.register(BatchJobRequest)
class BatchJobRequestAdmin(admin.ModelAdmin):
    list_display = ("job", "position", "custom_id", "outcome", "cost", "completed_at")
    list_filter = ("outcome",)
    search_fields = ("custom_id",)
    list_select_related = ("job",)
    raw_id_fields = ("job",)
    readonly_fields = [f.name for f in BatchJobRequest._meta.fields]
