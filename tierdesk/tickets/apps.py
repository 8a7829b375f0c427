from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


class TicketsConfig(AppConfig):
    name = "tierdesk.tickets"
    label = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        from tierdesk.tickets.search import repair_after_migrate, suspend_before_migrate

        # SQLite: a migration that rebuilds the tickets or events table cannot while the
        # search index's view and triggers name it (tickets/search.py).
        pre_migrate.connect(suspend_before_migrate, sender=self)
        post_migrate.connect(repair_after_migrate, sender=self)
