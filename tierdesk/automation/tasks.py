"""Huey tasks. The same code runs on the SQLite queue and on Redis."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tierdesk.automation import sweeps
from tierdesk.lib import clock


@db_periodic_task(crontab(minute="*/10"))
def autoclose_resolved() -> int:
    return sweeps.autoclose_resolved(now=clock.now())
