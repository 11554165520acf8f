from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "llmopt_admin.demo"
    label = "demo"
    verbose_name = "Demo data and traffic"
