"""Huey tasks of the tickets app: the subscribers' deferred work (tickets.hooks)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tierdesk.tickets import hooks


@db_task()
def run_hooks() -> int:
    """Right after actions committed: every subscriber hears their events, in batches."""
    return hooks.run_pending()


@db_periodic_task(crontab(minute="*"))
def run_hooks_pending() -> int:
    """Every minute: work whose task never ran (the queue down, a worker killed), and
    retries whose backoff has passed."""
    return hooks.run_pending()
