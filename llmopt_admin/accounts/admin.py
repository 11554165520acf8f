"""API tokens in Django's admin: listed without their secret, scopes edited as checkboxes,
revoked by an action. Tokens are issued by `manage.py create_api_token`, the one place that
shows a secret (once)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from llmopt_admin.accounts.models import ApiToken
from llmopt_admin.accounts.scopes import SCOPES
from llmopt_admin.accounts.services import api_tokens_revoke


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {what}") for name, what in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        help_text="A token may do only what its scopes grant, whoever its user is.",
    )

    class Meta:
        model = ApiToken
        fields = ("name", "scopes")

    def clean_scopes(self) -> list[str]:
        chosen = set(self.cleaned_data["scopes"])
        return [scope for scope in SCOPES if scope in chosen]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ("prefix", "name", "user", "scope_list", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked",)
    search_fields = ("name", "prefix", "user__username")
    fields = ("prefix", "name", "user", "scopes", "created_at", "last_used_at", "revoked")
    readonly_fields = ("prefix", "user", "created_at", "last_used_at", "revoked")
    actions = ("revoke_tokens",)

    @admin.display(description="scopes")
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes) or "(none)"

    @admin.action(description="Revoke the selected API tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = api_tokens_revoke(tokens=queryset)
        self.message_user(
            request, f"Revoked {count} API token{'s' if count != 1 else ''}.", messages.SUCCESS
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
