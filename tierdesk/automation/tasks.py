"""Huey tasks. The same code runs on the SQLite queue and on Redis.

Periodic tasks are scheduled by the one consumer started without
`--no-periodic` (see `tierdesk worker`); every consumer runs them. Each is safe
to run twice at once: its work is claimed row by row.
"""

from datetime import timedelta

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tierdesk.automation import sweeps
from tierdesk.lib import clock
from tierdesk.sla import rebuild
from tierdesk.sla.models import RebuildJob


@db_periodic_task(crontab(minute="*"))
def sla_sweep() -> dict:
    """Every minute: warnings, breaches, time-based rules and missed commitments that came."""
    report = sweeps.sweep(now=clock.now())
    return {"tickets": report.tickets, "steps": report.steps, "skipped": report.skipped}


@db_task()
def follow_up_steps(ids: list[int]) -> int:
    """Right after a sweep committed: tell people and apply the rules of its steps."""
    return sweeps.follow_up(ids, now=clock.now())


@db_periodic_task(crontab(minute="*"))
def follow_up_pending() -> int:
    """Every minute: steps whose follow-up was lost (a worker killed, the queue down)."""
    return sweeps.follow_up_pending(now=clock.now())


@db_periodic_task(crontab(minute="*/10"))
def autoclose_resolved() -> int:
    return sweeps.autoclose_resolved(now=clock.now())


@db_periodic_task(crontab(minute="*"))
def resume_rebuilds() -> int:
    """Every minute: SLA rebuilds queued after a policy change whose task never ran."""
    stale = clock.now() - timedelta(minutes=2)
    ids = list(RebuildJob.objects.filter(state=RebuildJob.State.QUEUED, created_at__lte=stale)
               .values_list("pk", flat=True))
    for pk in ids:
        rebuild.run_job(pk)  # claims the job with a conditional UPDATE
    return len(ids)
