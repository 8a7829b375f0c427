"""`tierdesk sla check FILE | load FILE | explain TD-…`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tierdesk.lib import clock
from tierdesk.sla.adapter import explain_ticket
from tierdesk.sla.policyfile import PolicyFileError, load_policy_file, load_preset, preset_codes


class Command(BaseCommand):
    help = "Check or install an SLA policy file, or explain a ticket's clocks."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        check = sub.add_parser("check", help="Validate a policy file; line-precise errors.")
        check.add_argument("file")
        load = sub.add_parser("load", help="Validate and install a policy file.")
        load.add_argument("file", help=f"a path, or a preset: {', '.join(preset_codes())}")
        explain = sub.add_parser("explain", help="Print a ticket's SLA clock as a table.")
        explain.add_argument("reference")
        rebuild = sub.add_parser("rebuild", help="Recompute the SLA rows of open tickets now.")
        rebuild.add_argument("--all", action="store_true",
                             help="Every ticket, resolved and closed ones too.")
        rebuild.add_argument("--processes", type=int, default=1,
                             help="Processes to share the work (one per core).")

    def handle(self, *args, verb: str, **options):
        return getattr(self, f"do_{verb}")(options)

    def _load(self, name: str):
        try:
            if name in preset_codes():
                return load_preset(name)
            return load_policy_file(name)
        except PolicyFileError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"{name}: {exc.strerror}") from exc

    def do_check(self, options) -> None:
        pf = self._load(options["file"])
        self.stdout.write(self.style.SUCCESS(
            f"{options['file']}: OK — {len(pf.plans)} plans, {len(pf.calendars)} calendars, "
            f"{len(pf.priorities)} priorities"))

    def do_load(self, options) -> None:
        from tierdesk.sla.install import install_policy
        from tierdesk.sla.rebuild import schedule_rebuild

        pf = self._load(options["file"])
        report = install_policy(pf)
        for line in report.lines():
            self.stdout.write(f"  {line}")
        if report.changed_plans:
            job = schedule_rebuild(report.changed_plans)
            self.stdout.write(f"  rebuilding the SLA rows of open tickets in the background "
                              f"(job {job.pk})")
        self.stdout.write(self.style.SUCCESS("installed"))

    def do_rebuild(self, options) -> None:
        import time

        from tierdesk.sla.rebuild import open_tickets, rebuild_parallel
        from tierdesk.tickets.models import Ticket

        qs = Ticket.objects.all() if options["all"] else open_tickets()
        started = time.perf_counter()
        count = rebuild_parallel(qs, now=clock.now(), processes=options["processes"])
        self.stdout.write(self.style.SUCCESS(
            f"rebuilt the SLA rows of {count} tickets in {time.perf_counter() - started:.1f} s"))

    def do_explain(self, options) -> None:
        from tierdesk.tickets.access import parse_reference
        from tierdesk.tickets.models import Ticket

        number = parse_reference(options["reference"])
        ticket = (Ticket.objects.select_related("organisation__plan").filter(number=number).first()
                  if number is not None else None)
        if ticket is None:
            raise CommandError(f"no ticket {options['reference']}")
        self.stdout.write(f"{ticket.reference} {ticket.subject}\n")
        self.stdout.write(explain_ticket(ticket, now=clock.now()).render_text())
