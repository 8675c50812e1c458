from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts: events, signals, detection rules and cases"
    default_auto_field = "django.db.models.BigAutoField"
