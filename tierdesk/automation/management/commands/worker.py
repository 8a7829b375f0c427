"""`tierdesk worker`: run a task consumer (Huey).

Run exactly one consumer with periodic tasks (the default); start any others
with `--no-periodic` so a sweep is never scheduled twice.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run a background worker (Huey consumer)."

    def add_arguments(self, parser):
        parser.add_argument("--no-periodic", action="store_true",
                            help="Do not schedule periodic tasks (for every consumer but one).")
        parser.add_argument("--workers", type=int, default=None, help="Worker threads.")

    def handle(self, *args, no_periodic=False, workers=None, **options):
        argv = []
        if no_periodic:
            argv.append("--no-periodic")
        if workers:
            argv += ["--workers", str(workers)]
        call_command("run_huey", *argv)
