from django.apps import AppConfig


class ConfigsConfig(AppConfig):
    name = "llmopt_admin.configs"
    label = "configs"
