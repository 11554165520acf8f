from django.urls import URLPattern, path

from llmopt_admin.savings import views

app_name = "savings"

urlpatterns: list[URLPattern] = [
    path("", views.dashboard, name="dashboard"),
    path("export/breakdown.csv", views.breakdown_csv, name="breakdown_csv"),
    path("export/events.csv", views.events_csv, name="events_csv"),
    path("what-if/", views.what_if, name="what_if"),
]
