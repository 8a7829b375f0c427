"""`tierdesk hooks`: the subscribers' deferred work (tickets.hooks), by hand.

`tierdesk hooks run` does what the worker does (claims pending work in batches and lets
every subscriber hear it, until nothing is pending); `tierdesk hooks pending` says how
much is waiting and how much gave up after too many failures.
"""

from django.core.management.base import BaseCommand

from tierdesk.tickets import hooks
from tierdesk.tickets.models import HookWork


class Command(BaseCommand):
    help = "Run or show the ticket hooks' deferred work."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        run = sub.add_parser("run", help="Run the pending work now, in batches.")
        run.add_argument("--batch", type=int, default=hooks.BATCH,
                         help="Tickets per batch (one transaction each).")
        sub.add_parser("pending", help="How much work is waiting.")

    def handle(self, *args, what="", batch=hooks.BATCH, **options):
        if what == "run":
            done = hooks.run_pending(limit=max(1, batch))
            self.stdout.write(f"{done} tickets' events heard")
            return
        dead = HookWork.objects.filter(attempts__gte=hooks.MAX_ATTEMPTS).count()
        self.stdout.write(f"{hooks.pending() - dead} pending, {dead} given up")
