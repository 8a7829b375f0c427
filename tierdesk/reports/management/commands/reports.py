"""`tierdesk reports backfill | rollup | monthly | preview ORG YYYY-MM | annual-launch ID |
annual-remind`."""

from __future__ import annotations

import json
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from tierdesk.accounts.models import Organisation
from tierdesk.lib import clock
from tierdesk.reports import annual, measure, monthly, pdf, rollup
from tierdesk.reports.models import AnnualSurvey


class Command(BaseCommand):
    help = "Rebuild the report measures, send or preview monthly reports, run annual surveys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        backfill = sub.add_parser("backfill", help="Recompute the measure row of every ticket "
                                                   "(after an SLA rebuild, or on an older desk).")
        backfill.add_argument("--batch", type=int, default=measure.BATCH)
        backfill.add_argument("--processes", type=int, default=1,
                              help="Processes to share the work (one per core).")
        rolled = sub.add_parser("rollup", help="Install the triggers that keep the rollup of "
                                               "settled measure rows and build it again "
                                               "(PostgreSQL; after a bulk load).")
        rolled.add_argument("--compact", action="store_true",
                            help="Only sum each key's delta rows into one (the worker does it).")
        sub.add_parser("monthly", help="Send the monthly reports that are due and not sent.")
        preview = sub.add_parser("preview", help="Print a monthly report's figures (or write "
                                                 "its PDF) without sending it.")
        preview.add_argument("organisation", type=int, help="the organisation's id")
        preview.add_argument("month", help="YYYY-MM")
        preview.add_argument("--pdf", metavar="FILE", help="write the PDF there")
        launch = sub.add_parser("annual-launch", help="Invite the contacts to an annual survey.")
        launch.add_argument("survey", type=int)
        sub.add_parser("annual-remind", help="Remind those who have not answered.")

    def handle(self, *args, verb: str, **options):
        return getattr(self, "do_" + verb.replace("-", "_"))(options)

    def do_backfill(self, options) -> None:
        t0 = time.perf_counter()
        if options["processes"] > 1:
            done = measure.backfill_parallel(now=clock.now(), processes=options["processes"],
                                             batch=options["batch"])
        else:
            done = measure.backfill(now=clock.now(), batch=options["batch"], progress=lambda n: (
                self.stdout.write(f"  {n:,} tickets") if n % 50_000 < options["batch"] else None))
        self.stdout.write(self.style.SUCCESS(
            f"measured {done:,} tickets in {time.perf_counter() - t0:.1f} s"))

    def do_rollup(self, options) -> None:
        t0 = time.perf_counter()
        if options["compact"]:
            gone = rollup.compact()
            self.stdout.write(self.style.SUCCESS(
                f"{gone:,} rollup rows summed away in {time.perf_counter() - t0:.1f} s"))
            return
        rollup.install()
        self.stdout.write(self.style.SUCCESS(
            f"rollup built in {time.perf_counter() - t0:.1f} s"))

    def do_monthly(self, options) -> None:
        sent = monthly.run_monthly(clock.now())
        for report in sent:
            self.stdout.write(f"  {report.organisation}: {report.month:%Y-%m} → "
                              f"{', '.join(report.recipients) or '(portal only)'}")
        self.stdout.write(self.style.SUCCESS(f"{len(sent)} reports sent"))

    def do_preview(self, options) -> None:
        org = Organisation.objects.select_related("plan").filter(
            pk=options["organisation"]).first()
        if org is None:
            raise CommandError(f"no organisation {options['organisation']}")
        try:
            month = date.fromisoformat(options["month"] + "-01")
        except ValueError as exc:
            raise CommandError("the month is YYYY-MM") from exc
        figures = monthly.preview(org, month)
        if options["pdf"]:
            with open(options["pdf"], "wb") as out:
                out.write(pdf.monthly_pdf(figures))
            self.stdout.write(self.style.SUCCESS(f"wrote {options['pdf']}"))
        else:
            self.stdout.write(json.dumps(figures, indent=2, ensure_ascii=False))

    def do_annual_launch(self, options) -> None:
        survey = AnnualSurvey.objects.filter(pk=options["survey"]).first()
        if survey is None:
            raise CommandError(f"no annual survey {options['survey']}")
        self.stdout.write(self.style.SUCCESS(f"{annual.launch(survey)} contacts invited"))

    def do_annual_remind(self, options) -> None:
        self.stdout.write(self.style.SUCCESS(f"{annual.remind()} reminders sent"))
