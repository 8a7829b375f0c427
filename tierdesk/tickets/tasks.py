"""Huey tasks of the tickets app: the subscribers' deferred work (tickets.hooks)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tierdesk.tickets import hooks, search


@db_task()
def run_hooks() -> int:
    """Right after actions committed: every subscriber hears their events, in batches;
    then the search index catches up with the writes (SQLite). In a worker that runs the
    hooks' drainer (`tierdesk worker`), only wakes it: it hears them on its own thread."""
    drainer = hooks.drainer()
    if drainer is not None:
        drainer.wake()
        return 0
    handled = hooks.run_pending()
    search.catch_up()
    return handled


@db_periodic_task(crontab(minute="*"))
def run_hooks_pending() -> int:
    """Every minute: work whose task never ran (the queue down, a worker killed), and
    retries whose backoff has passed (left to the drainer where one runs: it looks for
    due work on its own); the search index's catch-up likewise."""
    handled = hooks.run_pending() if hooks.drainer() is None else 0
    search.catch_up()
    return handled
