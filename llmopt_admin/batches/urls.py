from django.urls import path

from llmopt_admin.batches import views

app_name = "batches"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/row/", views.job_row, name="row"),
    path("<int:job_id>/progress/", views.job_progress, name="progress"),
    path("<int:job_id>/results.jsonl", views.job_results, name="results"),
    path("<int:job_id>/cancel/", views.job_cancel, name="cancel"),
    path("<int:job_id>/retry/", views.job_retry, name="retry"),
]
