from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "tierdesk.reports"
    label = "reports"
    verbose_name = _("Reports and surveys")

    def ready(self) -> None:
        # Measures and surveys hear every action's events inside its transaction
        # (tickets.hooks), so the actions never import this app.
        from django.db.backends.signals import connection_created

        from tierdesk.reports import aggregates, subscribers
        from tierdesk.tickets import hooks

        hooks.subscribe("reports", subscribers.on_ticket_events,
                        batch=subscribers.on_many_tickets)
        connection_created.connect(aggregates.on_connection_created,
                                   dispatch_uid="tierdesk.reports.percentile")
