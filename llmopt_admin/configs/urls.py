"""Config pages and the audit log (included at the site root)."""

from __future__ import annotations

from django.urls import path

from llmopt_admin.configs import views

app_name = "configs"

urlpatterns = [
    path("config/", views.config_index, name="index"),
    path("config/disable-all/", views.disable_all, name="disable-all"),
    path("config/<str:key>/llm/<int:index>/", views.entry_detail, name="entry"),
    path("config/<str:key>/llm/<int:index>/edit/", views.entry_edit, name="entry-edit"),
    path(
        "config/<str:key>/llm/<int:index>/switch/<str:name>/",
        views.entry_switch,
        name="entry-switch",
    ),
    path("audit/", views.audit_list, name="audit"),
]
