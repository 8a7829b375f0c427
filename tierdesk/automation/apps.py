from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "tierdesk.automation"
    label = "automation"
    verbose_name = "Automation"
