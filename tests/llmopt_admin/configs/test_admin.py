"""Django admin pages of the configs app: readable by superusers, never editable, no secrets."""

from __future__ import annotations

import pytest
from django.test import Client

from llmopt_admin.configs.audit import audit_record
from llmopt_admin.configs.models import EmbeddedConfigDocument
from llmopt_admin.configs.stores import EmbeddedConfigStore

pytestmark = pytest.mark.django_db

SECRET = "sk-ant-admin-page-secret"


def test_a_document_is_shown_with_its_api_key_masked(admin_client: Client) -> None:
    EmbeddedConfigStore().write(
        "ai_models_config",
        {"llm": [{"provider": "anthropic", "configuration": {"model": "m", "apiKey": SECRET}}]},
        expected_revision=None,
    )
    row = EmbeddedConfigDocument.objects.get()

    listing = admin_client.get("/admin/configs/embeddedconfigdocument/")
    page = admin_client.get(f"/admin/configs/embeddedconfigdocument/{row.pk}/change/")

    assert listing.status_code == 200
    assert page.status_code == 200
    html = page.content.decode()
    assert "ai_models_config" in html
    assert "********" in html
    assert SECRET not in html


def test_documents_cannot_be_added_changed_or_deleted_through_the_django_admin(
    admin_client: Client,
) -> None:
    EmbeddedConfigStore().write("doc", {"llm": []}, expected_revision=None)
    row = EmbeddedConfigDocument.objects.get()

    assert admin_client.get("/admin/configs/embeddedconfigdocument/add/").status_code == 403
    response = admin_client.post(
        f"/admin/configs/embeddedconfigdocument/{row.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert EmbeddedConfigDocument.objects.filter(pk=row.pk).exists()


def test_audit_entries_are_listed_and_shown(admin_client: Client) -> None:
    entry = audit_record(
        actor=None, action="migration.run", target="aiconfigs@embedded", changes={"token": "t0k3n"}
    )

    listing = admin_client.get("/admin/configs/auditentry/")
    page = admin_client.get(f"/admin/configs/auditentry/{entry.pk}/change/")

    assert listing.status_code == 200
    assert "migration.run" in listing.content.decode()
    assert page.status_code == 200
    assert "t0k3n" not in page.content.decode()
