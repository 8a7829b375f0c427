"""Huey tasks of the reports. The same code runs on the SQLite queue and on Redis."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from tierdesk.lib import clock
from tierdesk.reports import annual, monthly, rollup


@db_periodic_task(crontab(minute="7"))
def send_monthly_reports() -> int:
    """Every hour: the monthly reports that are due (first business day on) and not sent.

    Hourly rather than once a day, so a worker that was down on the first
    business day catches up; each report is sent exactly once (see monthly.py).
    """
    return len(monthly.run_monthly(clock.now()))


@db_periodic_task(crontab(minute="17", hour="8"))
def remind_annual_surveys() -> int:
    """Every morning: remind the contacts who have not answered an open annual survey."""
    return annual.remind(now=clock.now())


@db_periodic_task(crontab(minute="*/5"))
def compact_rollup() -> int:
    """Every five minutes: sum the rollup's delta rows (one a key and day: rollup.py)."""
    return rollup.compact()


@db_periodic_task(crontab(minute="23"))
def follow_provider_zone() -> bool:
    """Every hour: the rollup's days cut at the provider's midnights, if its zone changed."""
    return rollup.follow_zone()
