"""The proactive monthly report (seed 000): each customer's month, by email with a PDF.

`run_monthly(now)` is what the worker calls every hour. For each active
organisation that wants it, once the first business day of a month has come
(on the organisation's own calendar), last month's report is built, stored and
mailed — exactly once:

1. The report row is unique per (organisation, month).
2. It is claimed with a conditional UPDATE (`sent_at IS NULL` → now), in the
   same transaction that stores the figures and the PDF and queues the mails
   in the outbox (keyed per recipient). A second worker finds it claimed; a
   worker killed before the commit leaves nothing, and the next hour does it all.

Figures are a JSON snapshot (what was sent stays what the portal shows), made
from the same queries as the provider's reports, restricted to the organisation.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Contact, Organisation, Provider, User
from tierdesk.lib import clock
from tierdesk.notifications.notifier import language_of
from tierdesk.notifications.outbox import enqueue_email
from tierdesk.sla.adapter import calendar_of
from tierdesk.sla.models import TARGET_LABELS
from tierdesk.tickets.lifecycle import DONE, Status
from tierdesk.tickets.models import Ticket

from . import pdf, queries
from .models import MonthlyReport, OrganisationReporting, TicketMeasure

log = logging.getLogger(__name__)
LISTED = 25  # open items and breaches listed in a report; the rest are counted


def month_start(day: date) -> date:
    return day.replace(day=1)


def previous_month(day: date) -> date:
    return month_start(month_start(day) - timedelta(days=1))


def next_month(day: date) -> date:
    return month_start(month_start(day) + timedelta(days=32))


def first_business_day(org: Organisation, month: date) -> date:
    """The first date of `month` with open hours on the organisation's calendar."""
    calendar = calendar_of(org.plan)
    if calendar.day_hours(month):
        return month
    return calendar.open_day_after(month, 1)


def due_month(org: Organisation, now: datetime) -> date | None:
    """The month whose report is due at `now`: last month, once this month's first
    business day has come in the organisation's time zone."""
    today = now.astimezone(calendar_of(org.plan).zone).date()
    if today < first_business_day(org, month_start(today)):
        return None
    return previous_month(today)


def reporting_of(org: Organisation) -> OrganisationReporting:
    return (OrganisationReporting.objects.filter(organisation=org).first()
            or OrganisationReporting(organisation=org))


def recipients_of(org: Organisation) -> list[User]:
    admins = (Contact.objects.select_related("user")
              .filter(organisation=org, role=Contact.Role.ADMIN, held_for_review=False,
                      user__is_active=True).order_by("pk"))
    return [c.user for c in admins]


def report_language(org: Organisation) -> str:
    people = recipients_of(org)
    return language_of(people[0]) if people else (Provider.current().languages or ["en"])[0]


# --------------------------------------------------------------------------- figures


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def build_figures(org: Organisation, month: date, *, now: datetime,
                  language: str | None = None) -> dict[str, Any]:
    """The month's figures for one organisation, as JSON-ready data."""
    zone = calendar_of(org.plan).timezone
    last_day = queries.period_end("month", month)
    filters = queries.Filters(start=month, end=last_day, zone=zone, organisation=org.pk)
    reporting = reporting_of(org)
    with translation.override(language or report_language(org)):
        totals, _fractions = queries.sla_totals(filters, now=now)
        by_priority = queries.sla_table(filters, "priority", now=now, times=False)
        lo, hi = filters.bounds()
        open_qs = (Ticket.objects.filter(organisation=org).exclude(status__in=list(DONE))
                   .select_related("priority").order_by("created_at", "pk"))
        breached = queries.drill(filters, "breached", now=now)
        breaches = list(breached[:LISTED])
        figures: dict[str, Any] = {
            "organisation": org.name, "month": f"{month:%Y-%m}", "zone": zone,
            "generated_at": now.isoformat(), "language": translation.get_language(),
            "opened": totals.tickets,
            "resolved": TicketMeasure.objects.filter(organisation_id=org.pk, resolved_at__gte=lo,
                                                     resolved_at__lt=hi).count(),
            "targets": [{
                "code": name, "label": str(TARGET_LABELS[name]), "met": f.met,
                "breached": f.breached, "share": _share(f.share), "p50_hours": _hours(f.p50),
                "p90_hours": _hours(f.p90)} for name, f in totals.targets.items()],
            "by_priority": [{
                "label": row.label, "tickets": row.tickets, "breaches": row.breaches,
                "shares": [_share(row.targets[name].share) for name in queries.target_names()]}
                for row in by_priority],
            "paused_customer_hours": _hours(totals.paused_customer),
            "paused_third_party_hours": _hours(totals.paused_third_party),
            "resolved_once": totals.resolved, "reopened": totals.reopened,
            "reopen_rate": _share(totals.reopen_rate),
            "escalations": {"tier2": totals.escalated_tier2, "tier3": totals.escalated_tier3,
                            "customer": totals.escalated_customer},
            "breaches": [{"reference": m.ticket.reference, "subject": m.ticket.subject,
                          "priority": m.ticket.priority.name} for m in breaches],
            "breaches_more": max(breached.count() - LISTED, 0) if len(breaches) == LISTED else 0,
            "open_items": [{"reference": t.reference, "subject": t.subject,
                            "status": str(Status(t.status).label), "priority": t.priority.name,
                            "created": t.created_at.isoformat()} for t in open_qs[:LISTED]],
            "open_more": max(open_qs.count() - LISTED, 0),
            "satisfaction": None,
        }
        if reporting.share_satisfaction:
            s = queries.satisfaction_totals(filters)
            figures["satisfaction"] = {
                "asked": s.asked, "answered": s.answered, "positive": s.positive,
                "neutral": s.neutral, "negative": s.negative,
                "positive_share": _share(s.positive_share)}
    return figures


# --------------------------------------------------------------------------- sending


def run_monthly(now: datetime | None = None) -> list[MonthlyReport]:
    """Send every monthly report that is due and not sent. Safe to run at any time, often."""
    now = now or clock.now()
    sent = []
    for org in Organisation.objects.filter(is_active=True).select_related("plan").order_by("pk"):
        try:
            month = due_month(org, now)
            if month is None or not reporting_of(org).monthly_report:
                continue
            if MonthlyReport.objects.filter(organisation=org, month=month,
                                            sent_at__isnull=False).exists():
                continue
            report = send_monthly(org, month, now=now)
        except Exception:
            log.exception("monthly report of organisation %s failed; next run retries", org.pk)
            continue
        if report is not None:
            sent.append(report)
    return sent


def send_monthly(org: Organisation, month: date, *, now: datetime) -> MonthlyReport | None:
    """Build, store and mail one report, if nobody has; None when it was already taken."""
    with transaction.atomic():
        report, _created = MonthlyReport.objects.get_or_create(
            organisation=org, month=month, defaults={"created_at": now})
        claimed = MonthlyReport.objects.filter(pk=report.pk, sent_at__isnull=True).update(
            sent_at=now)
        if not claimed:
            return None
        language = report_language(org)
        figures = build_figures(org, month, now=now, language=language)
        document = pdf.monthly_pdf(figures)
        people = recipients_of(org)
        extra = [a for a in reporting_of(org).extra_recipients or [] if isinstance(a, str)]
        report.figures, report.pdf, report.sent_at = figures, document, now
        report.recipients = [u.email for u in people] + extra
        report.save(update_fields=["figures", "pdf", "recipients"])
        for user in people:
            _mail(report, document, to=user.email, language=language_of(user), user=user)
        for address in extra:
            _mail(report, document, to=address, language=language)
    return report


def filename(report: MonthlyReport | None = None, *, org_name: str = "",
             month: str = "") -> str:
    name = org_name or (report.organisation.name if report else "report")
    month = month or (f"{report.month:%Y-%m}" if report else "")
    safe = "".join(ch if ch.isalnum() else "-" for ch in name).strip("-").lower() or "report"
    return f"{safe}-{month}.pdf"


def _mail(report: MonthlyReport, document: bytes, *, to: str, language: str,
          user: User | None = None) -> None:
    provider = Provider.current()
    url = settings.SITE_URL.rstrip("/") + reverse("reports:my_report", args=[report.pk])
    with translation.override(language):
        context = {"report": report, "figures": report.figures, "provider": provider,
                   "recipient": user, "url": url, "month_label": month_label(report.month)}
        subject = " ".join(render_to_string("reports/email/monthly.subject.txt",
                                            context).split())
        text = render_to_string("reports/email/monthly.txt", context).strip() + "\n"
    enqueue_email(key=f"monthly:{report.organisation_id}:{report.month:%Y-%m}:{to}", to=[to],
                  subject=subject, text=text,
                  headers={"Auto-Submitted": "auto-generated", "X-Tierdesk-Kind": "monthly"},
                  attachments=[(filename(report), document, "application/pdf")])


def month_label(month: date) -> str:
    from django.utils.dates import MONTHS

    return f"{MONTHS[month.month]} {month.year}"


def preview(org: Organisation, month: date, *, now: datetime | None = None) -> dict[str, Any]:
    """The figures the report of `month` would carry if it were sent now (nothing stored)."""
    return build_figures(org, month, now=now or clock.now())


def describe_due(org: Organisation, now: datetime) -> str:
    month = due_month(org, now)
    if month is None:
        return _("not yet this month")
    return f"{month:%Y-%m}"
