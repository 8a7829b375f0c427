"""Huey tasks of the tickets app: the subscribers' deferred work (tickets.hooks)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tierdesk.tickets import hooks, search


@db_task()
def run_hooks() -> int:
    """Right after actions committed: every subscriber hears their events, in batches;
    then the search index catches up with the writes (SQLite)."""
    handled = hooks.run_pending()
    search.catch_up()
    return handled


@db_periodic_task(crontab(minute="*"))
def run_hooks_pending() -> int:
    """Every minute: work whose task never ran (the queue down, a worker killed), and
    retries whose backoff has passed; the search index's catch-up likewise."""
    handled = hooks.run_pending()
    search.catch_up()
    return handled
