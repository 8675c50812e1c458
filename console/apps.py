from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Console for leads and admins: search, saved filters, bulk actions"
