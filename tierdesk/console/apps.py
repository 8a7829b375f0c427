from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "tierdesk.console"
    label = "console"
    verbose_name = "Agent console"

    def ready(self) -> None:
        from tierdesk.console.escalations import note_commitments, note_customer_escalations
        from tierdesk.tickets import hooks

        hooks.subscribe("console.customer_escalations", note_customer_escalations)
        hooks.subscribe("console.commitments", note_commitments)
