from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "llmopt_admin.accounts"
    label = "accounts"
    verbose_name = "Accounts and API tokens"
