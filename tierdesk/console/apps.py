from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "tierdesk.console"
    label = "console"
    verbose_name = "Agent console"
