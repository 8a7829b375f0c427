from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "tierdesk.automation"
    label = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        from tierdesk.automation import react
        from tierdesk.tickets import hooks

        hooks.subscribe("automation", react.on_happened, batch=react.on_many)
