"""Huey tasks of the outbox and the digests. The same code runs on SQLite and Redis."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from tierdesk.lib import clock
from tierdesk.notifications import digest, outbox


@db_task()
def deliver_message(pk: int) -> bool:
    """Send one message right after the action that queued it committed."""
    return outbox.deliver(pk)


@db_task()
def deliver_messages(ids: list[int]) -> int:
    """Send many messages queued by one transaction (`outbox.enqueue_emails`)."""
    return sum(outbox.deliver(pk) for pk in ids)


@db_periodic_task(crontab(minute="*"))
def retry_outbox() -> int:
    """Every minute: whatever is pending and due (failed earlier, or never handed over)."""
    return outbox.deliver_due(clock.now())


@db_periodic_task(crontab(minute="0"))
def send_digests() -> int:
    """Every hour: the digest mails of agents who asked for hourly or daily ones."""
    return digest.send_digests(now=clock.now())
