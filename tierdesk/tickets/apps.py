from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TicketsConfig(AppConfig):
    name = "tierdesk.tickets"
    label = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        from tierdesk.tickets.search import repair_after_migrate

        # SQLite drops the search index's triggers with a table a migration rebuilds.
        post_migrate.connect(repair_after_migrate, sender=self)
