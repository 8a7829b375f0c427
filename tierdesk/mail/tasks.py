"""Huey tasks of the email channel. The same code runs on the SQLite queue and on Redis."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from tierdesk.lib import clock
from tierdesk.mail import conf, imap, inbound


@db_periodic_task(crontab(minute="*"))
@lock_task("mail-poll")
def poll_mailboxes() -> int:
    """Every minute: fetch the configured mailboxes, then retry what failed or was left."""
    fetched = 0
    if conf.imap_urls():
        fetched = sum(r.fetched for r in imap.poll_all())
    now = clock.now()
    inbound.process_pending(now=now)
    inbound.release_confirmed(now=now)
    return fetched
