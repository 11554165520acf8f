from django.apps import AppConfig


class SavingsConfig(AppConfig):
    name = "llmopt_admin.savings"
    label = "savings"
