"""`tierdesk worker`: run a task consumer (Huey).

One consumer per desk schedules the periodic tasks (the sweep every minute,
outbox retries, auto-close, rebuilds); every consumer runs tasks. The first one
started takes the scheduler's lock (tierdesk.automation.scheduler); any other,
even started without `--no-periodic`, runs with periodic tasks off and says so.
Start the extra consumers with `--no-periodic` to say it yourself.

Beside the consumer's threads, the worker hears the hooks' deferred work on a thread of
its own (`tickets.hooks.Drainer`; `HOOKS_DRAINER=false` leaves it to the queue's task), so
that new tickets are routed and acknowledged while the queue's threads deliver mail.
"""

import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from tierdesk.automation import scheduler
from tierdesk.tickets import hooks


class Command(BaseCommand):
    help = "Run a background worker (Huey consumer)."

    def add_arguments(self, parser):
        parser.add_argument("--no-periodic", action="store_true",
                            help="Do not schedule periodic tasks (for every consumer but one).")
        parser.add_argument("--workers", type=int, default=None, help="Worker threads.")

    def handle(self, *args, no_periodic=False, workers=None, **options):
        argv = []
        if no_periodic:
            self.stdout.write("worker: periodic tasks off (--no-periodic)")
        elif scheduler.acquire():
            self.stdout.write("worker: this consumer schedules the periodic tasks")
        else:
            no_periodic = True
            self.stdout.write("worker: another consumer schedules the periodic tasks; "
                              "this one runs with periodic tasks off")
        self.stdout.flush()
        if no_periodic:
            argv.append("--no-periodic")
        if workers:
            argv += ["--workers", str(workers)]
        drainer = (hooks.Drainer(gather=settings.HOOKS_GATHER).start() if settings.HOOKS_DRAINER
                   else None)
        if settings.WORKER_NICE:
            # Linux: this thread's and the queue's threads' it starts, not the drainer's
            # (started before): that one holds SQLite's write lock for its batches.
            os.nice(settings.WORKER_NICE)
        try:
            call_command("run_huey", *argv)
        finally:
            if drainer is not None:
                drainer.stop()
            scheduler.release()
