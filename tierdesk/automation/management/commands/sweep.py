"""`tierdesk sweep`: run the SLA sweep now, in this process (the worker runs it every minute).

For operators (after an outage, to catch up at once) and for the tests that
start real processes. Both stages run inline: the steps, then their follow-up,
then any follow-up an earlier, killed run left behind.
"""

from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from tierdesk.automation import sweeps
from tierdesk.lib import clock


class Command(BaseCommand):
    help = "Take the SLA steps that are due (warnings, breaches, time rules, commitments)."
    requires_system_checks: list[str] = []  # a worker's job: start fast

    def add_arguments(self, parser):
        parser.add_argument("--at", help="Sweep as of this ISO instant (default: now).")
        parser.add_argument("--batch", type=int, default=sweeps.SWEEP_BATCH,
                            help="Tickets per transaction.")
        parser.add_argument("--follow-batch", type=int, default=None,
                            help="Steps per transaction of the follow-up (default: "
                                 f"{sweeps.FOLLOW_BATCH}, on SQLite "
                                 f"{sweeps.FOLLOW_BATCH_SQLITE}).")

    def handle(self, *args, at=None, batch=sweeps.SWEEP_BATCH,
               follow_batch=None, **options):
        try:
            now = datetime.fromisoformat(at) if at else clock.now()
        except ValueError as exc:
            raise CommandError(f"--at: {exc}") from exc
        if now.tzinfo is None:
            raise CommandError("--at: give a time zone, e.g. 2026-03-02T15:00:00+00:00")
        if follow_batch is None:
            follow_batch = sweeps.follow_batch()
        if batch < 1 or follow_batch < 1:
            raise CommandError("--batch and --follow-batch: at least 1")
        report = sweeps.sweep(now=now, batch=batch, follow=False)
        followed = sweeps.follow_up(report.claimed, now=now, batch=follow_batch)
        followed += sweeps.follow_up_pending(now=now, older_than=timedelta(0),
                                             batch=follow_batch)
        self.stdout.write(f"{report.tickets} tickets due; steps {report.steps}; "
                          f"{report.skipped} taken by another worker; {followed} followed up")
