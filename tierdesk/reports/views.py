"""Report pages for the provider, monthly reports for customers, and the survey pages.

Thin views: parse the filters, call one query per table (`queries`), render, or
write the same rows as CSV (`?format=csv`). Every figure links to the tickets
behind it (`tickets`).

Who sees what:
- the provider's pages: agents who are team leads, support managers or administrators;
- monthly reports on the portal: the admins of the organisation reported on
  (anyone else gets "not found");
- survey pages: whoever holds the signed link, without signing in; a signed-in
  contact of another organisation gets "not found".
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import date
from functools import wraps
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tierdesk.accounts.http import AuthedRequest
from tierdesk.accounts.models import Contact, Organisation, Provider
from tierdesk.lib import clock
from tierdesk.sla.models import TARGET_LABELS
from tierdesk.tickets.permissions import is_agent

from . import annual, charts, monthly, pdf, queries, surveys
from .forms import AnnualAnswerForm, ReportFilterForm, SurveyAnswerForm
from .models import AnnualSurvey, KpiTarget, MonthlyReport

SLA_GROUPS = ("month", "week", "day", "priority", "category", "organisation", "plan", "tier",
              "agent", "team", "channel")
PAGE = 50


def lead_required(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request: AuthedRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        agent = getattr(request.user, "agent", None) if is_agent(request.user) else None
        if agent is None or not agent.is_lead_or_above:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _zone() -> str:
    return Provider.current().time_zone or "UTC"


def _form(request: HttpRequest, *, groups: tuple[str, ...], default_group: str) -> ReportFilterForm:
    zone = _zone()
    today = clock.now().astimezone(ZoneInfo(zone)).date()
    form = ReportFilterForm(request.GET, today=today, zone=zone, groups=groups,
                            default_group=default_group)
    form.is_valid()
    return form


def _url(name: str, params: dict[str, str], **extra: str) -> str:
    return reverse(name) + "?" + urlencode({**params, **extra})


def _drill_links(filters: queries.Filters, shows: Iterable[str]) -> dict[str, str]:
    params = filters.params()
    return {show: _url("reports:tickets", params, show=show) for show in shows}


# The tickets behind a KPI's actual figure: those that missed it.
_KPI_SHOWS: dict[str, str] = {
    KpiTarget.Measure.ANSWERED_NEXT_BUSINESS_DAY: "answered_late",
    KpiTarget.Measure.FIRST_RESPONSE_MET: "fr_breached",
    KpiTarget.Measure.RESOLUTION_PLAN_MET: "rp_breached",
    KpiTarget.Measure.RESOLUTION_MET: "res_breached",
    KpiTarget.Measure.REOPEN_RATE: "reopened",
}


def _kpi_link(filters: queries.Filters, kpi: KpiTarget) -> str:
    """Drill-down of a KPI: the tickets that missed it (the answers, for satisfaction),
    within the KPI's own channel and priority."""
    scope: dict[str, Any] = {}
    if kpi.channel:
        scope["channel"] = kpi.channel
    if kpi.priority_id:
        scope["priority"] = kpi.priority_id
    params = replace(filters, **scope).params()
    if kpi.measure == KpiTarget.Measure.SATISFACTION_POSITIVE:
        return _url("reports:answers", params)
    return _url("reports:tickets", params, show=_KPI_SHOWS.get(kpi.measure, "tickets"))


_ROW_SHOWS = ("tickets", "fr_met", "fr_breached", "rp_met", "rp_breached", "res_met",
              "res_breached", "breached", "resolved", "reopened", "paused_customer",
              "paused_third_party", "escalated_tier2", "escalated_tier3", "escalated_customer")


# --------------------------------------------------------------------------- CSV


def _cell(value: Any) -> Any:
    """A cell as text, defused: spreadsheets run cells that start with = + - @ as formulas."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable[Any]]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


def _sla_csv_rows(rows: list[queries.SlaRow]) -> Iterator[list[Any]]:
    for r in rows:
        line: list[Any] = [r.label, r.tickets]
        for name in queries.target_names():
            t = r.targets[name]
            line += [t.met, t.breached, t.share, _hours(t.p50), _hours(t.p90)]
        line += [_hours(r.paused_customer), _hours(r.paused_third_party), r.resolved, r.reopened,
                 r.reopen_rate, r.escalated_tier2, r.escalated_tier3, r.escalated_customer]
        yield line


def _sla_csv_header(group: str) -> list[str]:
    header = [str(queries.GROUPS[group]), _("Tickets")]
    for name in queries.target_names():
        label = str(TARGET_LABELS[name])
        header += [f"{label}: {_('met')}", f"{label}: {_('breached')}",
                   f"{label}: {_('share met %')}", f"{label}: {_('median h')}",
                   f"{label}: {_('p90 h')}"]
    return [*header, _("Waiting on customer h"), _("Waiting on third party h"), _("Resolved"),
            _("Reopened"), _("Reopen rate %"), _("Escalated to tier 2"),
            _("Escalated to tier 3"), _("Escalated by customer")]


# --------------------------------------------------------------------------- SLA and KPIs


@lead_required
def index(request: AuthedRequest) -> HttpResponseBase:
    """SLA compliance and KPIs: targets against actuals, charts, the table by a dimension."""
    form = _form(request, groups=SLA_GROUPS, default_group="month")
    filters, group, now = form.filters(), form.grouping(), clock.now()
    trend_group = group if group in queries.PERIODS else (
        "week" if (filters.end - filters.start).days <= 62 else "month")
    kpis = list(KpiTarget.objects.filter(is_active=True).select_related("priority"))
    report = queries.sla_report(filters, group, now=now, trend=trend_group, kpis=kpis)
    table, totals, trend, by_priority = (report.rows, report.totals, report.trend,
                                         report.by_priority)
    figures = queries.kpi_figures(filters, now=now, fractions=report.fractions, kpis=kpis)
    fmt, which = request.GET.get("format"), request.GET.get("table", "sla")
    if fmt == "csv" and which == "kpi":
        return csv_response("kpis.csv", [_("KPI"), _("Target %"), _("Actual %"), _("Met"),
                                         _("Out of"), _("On target")],
                            ([k.kpi.name, k.target, k.actual, k.numerator, k.denominator, k.ok]
                             for k in figures))
    if fmt == "csv":
        chosen = {"trend": (trend_group, trend), "priority": ("priority", by_priority)}.get(
            which, (group, [*table, totals]))
        return csv_response(f"sla-by-{chosen[0]}.csv", _sla_csv_header(chosen[0]),
                            _sla_csv_rows(chosen[1]))
    rows = [(r, _drill_links(filters.narrowed(group, r.key), _ROW_SHOWS)) for r in table]
    params = filters.params()
    return render(request, "reports/index.html", {
        "form": form, "group": group, "group_label": queries.GROUPS[group], "rows": rows,
        "totals": (totals, _drill_links(filters, _ROW_SHOWS)),
        "kpis": [(k, _kpi_link(filters, k.kpi)) for k in figures],
        "targets": [(n, TARGET_LABELS[n], p) for p, n in queries.TARGETS],
        "trend_chart": _trend_chart(trend, trend_group, filters, figures),
        "priority_chart": _breaches_chart(by_priority, filters),
        "csv": {k: _url("reports:index", {**params, "group": group}, format="csv", table=k)
                for k in ("sla", "kpi", "trend", "priority")},
        "now": now, "tab": "sla",
    })


def _trend_chart(rows: list[queries.SlaRow], group: str, filters: queries.Filters,
                 kpis: list[queries.KpiFigure]) -> Any:
    labels = [r.label for r in rows]
    series = []
    for prefix, name in queries.TARGETS:
        series.append(charts.Series(
            str(TARGET_LABELS[name]), [r.targets[name].share for r in rows],
            links=[_drill_links(filters.narrowed(group, r.key), [f"{prefix}_breached"])[
                f"{prefix}_breached"] for r in rows]))
    target = next((k.target for k in kpis if k.kpi.measure in (
        KpiTarget.Measure.RESOLUTION_MET, KpiTarget.Measure.FIRST_RESPONSE_MET)), None)
    return charts.line_chart(title=_("Share of targets met, by %(g)s") % {
        "g": str(queries.GROUPS[group]).lower()}, labels=labels, series=series, target=target,
        target_label=_("KPI %(v)s%%") % {"v": f"{target:g}"} if target is not None else "")


def _breaches_chart(rows: list[queries.SlaRow], filters: queries.Filters) -> Any:
    labels = [r.label for r in rows]
    series = []
    for prefix, name in queries.TARGETS:
        series.append(charts.Series(
            str(TARGET_LABELS[name]), [r.targets[name].breached for r in rows],
            links=[_drill_links(filters.narrowed("priority", r.key), [f"{prefix}_breached"])[
                f"{prefix}_breached"] for r in rows]))
    return charts.bar_chart(title=_("Breaches by priority"), labels=labels, series=series)


@lead_required
def tickets(request: AuthedRequest) -> HttpResponseBase:
    """The tickets behind a figure (drill-down), paged; CSV of all of them."""
    form = _form(request, groups=SLA_GROUPS, default_group="month")
    filters, now = form.filters(), clock.now()
    show = request.GET.get("show", "tickets")
    shows = dict(queries.show_choices(now))
    if show not in shows:
        show = "tickets"
    qs = queries.drill(filters, show, now=now)
    if request.GET.get("format") == "csv":
        return csv_response(f"tickets-{show}.csv", [
            _("Ticket"), _("Subject"), _("Organisation"), _("Priority"), _("Created"),
            _("Status"), *[str(TARGET_LABELS[n]) for n in queries.target_names()],
            _("Waiting on customer h"), _("Waiting on third party h"), _("Reopens")],
            ([m.ticket.reference, m.ticket.subject, m.ticket.organisation.name,
              m.ticket.priority.name, m.created_at.isoformat(), m.status,
              m.get_fr_state_display(), m.get_rp_state_display(), m.get_res_state_display(),
              _hours(m.paused_customer_seconds), _hours(m.paused_third_party_seconds), m.reopens]
             for m in qs.iterator(chunk_size=2000)))
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    params = {**filters.params(), "show": show}
    return render(request, "reports/tickets.html", {
        "form": form, "page": page, "show": show, "show_label": shows[show],
        "csv": _url("reports:tickets", params, format="csv"),
        "page_url": _url("reports:tickets", params) + "&page=", "now": now, "tab": "sla",
        "back": _url("reports:index", filters.params()),
    })


# --------------------------------------------------------------------------- satisfaction


@lead_required
def satisfaction(request: AuthedRequest) -> HttpResponseBase:
    form = _form(request, groups=queries.SATISFACTION_GROUPS, default_group="month")
    filters, group = form.filters(), form.grouping()
    table = queries.satisfaction_table(filters, group)
    totals = queries.satisfaction_totals(filters)
    if request.GET.get("format") == "csv":
        return csv_response(f"satisfaction-by-{group}.csv", [
            str(queries.GROUPS[group]), _("Asked"), _("Answered"), _("Response rate %"),
            _("Good"), _("Okay"), _("Bad"), _("Good %"), _("Net")],
            ([r.label, r.asked, r.answered, r.response_rate, r.positive, r.neutral, r.negative,
              r.positive_share, r.net] for r in [*table, totals]))
    over_time = table if group in queries.PERIODS else queries.satisfaction_table(
        filters, "week" if (filters.end - filters.start).days <= 62 else "month")
    time_group = group if group in queries.PERIODS else (
        "week" if (filters.end - filters.start).days <= 62 else "month")

    def answers_url(f: queries.Filters, face: str = "") -> str:
        return _url("reports:answers", f.params(), **({"face": face} if face else {}))

    rows = [(r, {face: answers_url(filters.narrowed(group, r.key), face)
                 for face in ("", *surveys.FACES)}) for r in table]
    chart = charts.bar_chart(
        title=_("Satisfaction over time"), labels=[r.label for r in over_time], series=[
            charts.Series(str(label), [getattr(r, face) for r in over_time], colour=colour,
                          links=[answers_url(filters.narrowed(time_group, r.key), face)
                                 for r in over_time])
            for (face, label), colour in zip(surveys.face_labels(),
                                             ("#009E73", "#E69F00", "#D55E00"), strict=True)])
    return render(request, "reports/satisfaction.html", {
        "form": form, "group": group, "group_label": queries.GROUPS[group], "rows": rows,
        "totals": (totals, {face: answers_url(filters, face) for face in ("", *surveys.FACES)}),
        "chart": chart, "comments": queries.answers(filters, commented=True)[:20],
        "csv": _url("reports:satisfaction", {**filters.params(), "group": group}, format="csv"),
        "tab": "satisfaction",
    })


@lead_required
def answers(request: AuthedRequest) -> HttpResponseBase:
    form = _form(request, groups=queries.SATISFACTION_GROUPS, default_group="month")
    filters = form.filters()
    face = request.GET.get("face", "")
    qs = queries.answers(filters, face=face if face in surveys.FACES else "")
    if request.GET.get("format") == "csv":
        return csv_response("survey-answers.csv", [
            _("Ticket"), _("Organisation"), _("Agent"), _("Resolved"), _("Answer"), _("Comment")],
            ([s.ticket.reference, s.organisation, s.assignee or "", s.resolved_at.isoformat(),
              s.face, s.comment] for s in qs.iterator(chunk_size=2000)))
    page = Paginator(qs, PAGE).get_page(request.GET.get("page"))
    params = {**filters.params(), **({"face": face} if face else {})}
    return render(request, "reports/answers.html", {
        "form": form, "page": page, "face": face, "tab": "satisfaction",
        "csv": _url("reports:answers", params, format="csv"),
        "page_url": _url("reports:answers", params) + "&page=",
        "back": _url("reports:satisfaction", filters.params()),
    })


# --------------------------------------------------------------------------- annual surveys


@lead_required
def annual_list(request: AuthedRequest) -> HttpResponseBase:
    from django.db.models import Count, Q

    surveys_ = AnnualSurvey.objects.annotate(
        invited=Count("invites"), answered=Count("invites", filter=Q(
            invites__answered_at__isnull=False)))
    return render(request, "reports/annual_list.html", {"surveys": surveys_, "tab": "annual"})


@lead_required
def annual_detail(request: AuthedRequest, pk: int) -> HttpResponseBase:
    survey = get_object_or_404(AnnualSurvey, pk=pk)
    org = request.GET.get("organisation")
    org_id = int(org) if org and org.isdigit() else None
    questions, organisations = annual.results(survey, organisation=org_id)
    if request.GET.get("format") == "csv" and request.GET.get("table") == "questions":
        return csv_response(f"annual-{survey.year}-questions.csv", [
            _("Question"), _("Kind"), _("Answers"), _("Average (1–5)"),
            *[str(score) for score in annual.SCALE]],
            ([q.text, q.kind, q.answers, q.average,
              *[q.distribution[s] if q.kind == "scale" else "" for s in annual.SCALE]]
             for q in questions))
    if request.GET.get("format") == "csv":
        keys = [q.key for q in questions if q.kind == "scale"]
        return csv_response(f"annual-{survey.year}.csv", [
            _("Organisation"), _("Invited"), _("Answered"), _("Response rate %"),
            *[q.text for q in questions if q.kind == "scale"]],
            ([o.organisation, o.invited, o.answered, o.response_rate,
              *[o.averages.get(k) for k in keys]] for o in organisations))
    return render(request, "reports/annual_detail.html", {
        "survey": survey, "questions": questions, "organisations": organisations,
        "comments": annual.comments(survey, organisation=org_id)[:200], "tab": "annual",
        "organisation": org_id, "is_open": annual.is_open(survey, clock.now()),
        "csv": reverse("reports:annual", args=[survey.pk]) + "?" + urlencode(
            {**({"organisation": org_id} if org_id else {}), "format": "csv"}),
        "csv_questions": reverse("reports:annual", args=[survey.pk]) + "?" + urlencode(
            {**({"organisation": org_id} if org_id else {}), "format": "csv",
             "table": "questions"}),
    })


@lead_required
@require_POST
def annual_launch(request: AuthedRequest, pk: int) -> HttpResponseBase:
    survey = get_object_or_404(AnnualSurvey, pk=pk)
    count = annual.launch(survey)
    messages.success(request, _("%(n)s contacts were invited.") % {"n": count})
    return redirect("reports:annual", pk=survey.pk)


# --------------------------------------------------------------------------- monthly reports


def _month(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(f"{value}-01") if value else default
    except ValueError:
        return default


@lead_required
def monthly_list(request: AuthedRequest) -> HttpResponseBase:
    """Every organisation's report for a month: sent or not, and its preview."""
    now = clock.now()
    month = _month(request.GET.get("month"), monthly.previous_month(timezone.localdate(now)))
    sent = {r.organisation_id: r for r in MonthlyReport.objects.filter(month=month)
            .defer("pdf", "figures")}
    orgs = Organisation.objects.filter(is_active=True).select_related("plan").order_by("name")
    return render(request, "reports/monthly_list.html", {
        "month": month, "rows": [(o, sent.get(o.pk), monthly.first_business_day(
            o, monthly.month_start(timezone.localdate(now)))) for o in orgs],
        "previous": monthly.previous_month(month),
        "next": monthly.next_month(month),
        "tab": "monthly",
    })


@lead_required
def monthly_preview(request: AuthedRequest, org: int, month: str) -> HttpResponseBase:
    """What the organisation's report of `month` carries if built now; the sent one if sent."""
    organisation = get_object_or_404(Organisation.objects.select_related("plan"), pk=org)
    first = _month(month, date.min)
    if first == date.min:
        raise Http404
    report = MonthlyReport.objects.filter(organisation=organisation, month=first,
                                          sent_at__isnull=False).first()
    figures = report.figures if report else monthly.preview(organisation, first)
    if request.GET.get("format") == "pdf":
        document = bytes(report.pdf) if report else pdf.monthly_pdf(figures)
        return _pdf_response(document, monthly.filename(org_name=organisation.name,
                                                        month=month))
    return render(request, "reports/monthly_report.html", {
        "figures": figures, "report": report, "preview": report is None, "tab": "monthly",
        "pdf_url": reverse("reports:monthly_preview", args=[organisation.pk, month])
        + "?format=pdf", "back": reverse("reports:monthly") + f"?month={month}",
    })


def _pdf_response(document: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(document, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _org_admin(request: AuthedRequest) -> Contact:
    contact = getattr(request.user, "contact", None)
    if contact is None or contact.held_for_review or not contact.is_org_admin:
        raise Http404
    return contact


@login_required
def my_reports(request: AuthedRequest) -> HttpResponseBase:
    """The organisation's monthly reports, for its admins."""
    contact = _org_admin(request)
    reports = (MonthlyReport.objects.filter(organisation_id=contact.organisation_id,
                                            sent_at__isnull=False).defer("pdf", "figures"))
    return render(request, "reports/my_reports.html", {"reports": reports,
                                                       "organisation": contact.organisation})


def _my_report(request: AuthedRequest, pk: int) -> MonthlyReport:
    contact = _org_admin(request)
    report = MonthlyReport.objects.filter(pk=pk, organisation_id=contact.organisation_id,
                                          sent_at__isnull=False).first()
    if report is None:
        raise Http404
    return report


@login_required
def my_report(request: AuthedRequest, pk: int) -> HttpResponseBase:
    report = _my_report(request, pk)
    return render(request, "reports/monthly_report.html", {
        "figures": report.figures, "report": report, "preview": False, "customer": True,
        "pdf_url": reverse("reports:my_report_pdf", args=[report.pk]),
        "back": reverse("reports:my_reports")})


@login_required
def my_report_pdf(request: AuthedRequest, pk: int) -> HttpResponseBase:
    report = _my_report(request, pk)
    return _pdf_response(bytes(report.pdf), monthly.filename(
        org_name=report.figures.get("organisation", ""), month=f"{report.month:%Y-%m}"))


# --------------------------------------------------------------------------- survey pages


def _outsider(request: HttpRequest, organisation_id: int) -> bool:
    """A signed-in contact of another organisation: the link is not theirs to use."""
    contact = getattr(request.user, "contact", None) if request.user.is_authenticated else None
    return contact is not None and contact.organisation_id != organisation_id


def survey_answer(request: HttpRequest, token: str) -> HttpResponseBase:
    """The page behind the faces: GET shows it (with the face clicked, sent at once by the
    browser), POST records the answer. Link scanners that fetch every link of a mail
    only GET, so they never answer in the customer's place."""
    survey = surveys.survey_for_token(token)
    if survey is None or _outsider(request, survey.ticket.organisation_id):
        raise Http404
    agent = is_agent(request.user) if request.user.is_authenticated else False
    now = clock.now()
    state = surveys.window(survey, now)
    form = SurveyAnswerForm(request.POST or None, initial={
        "face": request.GET.get("face") or survey.face, "comment": survey.comment})
    if request.method == "POST":
        if agent:
            raise PermissionDenied
        if form.is_valid() and state.open:
            try:
                surveys.answer(survey, face=form.cleaned_data["face"],
                               comment=form.cleaned_data["comment"],
                               by=request.user if request.user.is_authenticated else None,
                               at=now)
            except surveys.SurveyClosed as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, _("Thank you: your answer is recorded."))
                return redirect("survey:answer", token=token)
    clicked = request.GET.get("face") if request.method == "GET" else None
    return render(request, "reports/survey_answer.html", {
        "survey": survey, "ticket": survey.ticket, "form": form, "state": state,
        "faces": surveys.face_labels(), "agent": agent,
        "auto_submit": bool(clicked in surveys.FACES and state.open and not agent
                            and survey.face != clicked),
        "selected": form["face"].value(),
    })


def annual_answer(request: HttpRequest, token: str) -> HttpResponseBase:
    invite = annual.invite_for_token(token)
    if invite is None or _outsider(request, invite.organisation_id):
        raise Http404
    now = clock.now()
    is_open = annual.is_open(invite.survey, now)
    questions = annual.questions_of(invite.survey)
    form = AnnualAnswerForm(request.POST or None, questions=questions,
                            initial=annual.current_answers(invite))
    if request.method == "POST" and is_open and form.is_valid():
        annual.answer(invite, form.cleaned_data, at=now)
        messages.success(request, _("Thank you: your answers are recorded. You can change them "
                                    "until the survey closes."))
        return redirect("survey:annual", token=token)
    return render(request, "reports/annual_answer.html", {
        "invite": invite, "survey": invite.survey, "form": form, "is_open": is_open})
