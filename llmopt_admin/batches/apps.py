from django.apps import AppConfig


class BatchesConfig(AppConfig):
    name = "llmopt_admin.batches"
    label = "batches"
