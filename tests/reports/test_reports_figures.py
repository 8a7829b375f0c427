"""Report figures against the hand-computed month of tests/reports/conftest.py.

Shares are met / (met + breached); times are business seconds when the target
stopped; percentiles are nearest-rank (p50 of [a, b] is a; p90 of [a, b] is b).
"""

from __future__ import annotations

from datetime import date

import pytest

from reports.helpers import NOW
from tierdesk.reports import measure, queries
from tierdesk.reports.models import KpiTarget, MeasureState, TicketMeasure

pytestmark = pytest.mark.django_db


def by_label(rows):
    return {r.label: r for r in rows}


def test_measure_rows_follow_the_clock(month):
    a = TicketMeasure.objects.get(ticket=month.A)
    assert (a.fr_state, a.fr_seconds) == (MeasureState.MET, 1800)
    assert (a.res_state, a.res_seconds) == (MeasureState.MET, 3 * 3600)  # 10 h - 7 h paused
    assert (a.paused_customer_seconds, a.paused_third_party_seconds) == (2 * 3600, 5 * 3600)
    assert (a.escalations_tier2, a.tier, a.assignee_id) == (1, 2, month.A.assignee_id)
    b = TicketMeasure.objects.get(ticket=month.B)
    assert (b.fr_state, b.fr_seconds) == (MeasureState.BREACHED, 2 * 3600)
    # Resolved at +10 h, reopened at +11 h, resolved at +12 h: the clock resumed for 1 h.
    assert (b.res_state, b.res_seconds, b.reopens) == (MeasureState.BREACHED, 11 * 3600, 1)
    assert b.escalations_customer == 1
    c = TicketMeasure.objects.get(ticket=month.C)
    assert c.fr_state == MeasureState.RUNNING and c.fr_seconds is None
    d = TicketMeasure.objects.get(ticket=month.D)
    assert (d.fr_seconds, d.res_seconds, d.rp_state) == (8 * 3600, 9 * 3600, MeasureState.NONE)
    e = TicketMeasure.objects.get(ticket=month.E)
    assert e.fr_seconds == 10 * 3600
    assert e.answer_due_at.isoformat() == "2026-03-09T17:00:00+00:00"  # Monday 18:00 Madrid


def test_sla_by_organisation(month, march):
    rows = by_label(queries.sla_table(march(), "organisation", now=NOW))
    acme, globex = rows["Acme"], rows["Globex"]
    assert acme.tickets == 3 and globex.tickets == 2
    fr = acme.targets["first_response"]
    # A met; B breached; C still running but overdue since T0+8h: breached for the report.
    assert (fr.met, fr.breached, round(fr.share, 1)) == (1, 2, 33.3)
    assert (fr.p50, fr.p90) == (1800, 7200)
    res = acme.targets["resolution"]
    assert (res.met, res.breached, res.p50, res.p90) == (1, 2, 3 * 3600, 11 * 3600)
    assert (acme.paused_customer, acme.paused_third_party) == (2 * 3600, 5 * 3600)
    assert (acme.resolved, acme.reopened, acme.reopen_rate) == (2, 1, 50.0)
    assert (acme.escalated_tier2, acme.escalated_tier3, acme.escalated_customer) == (1, 0, 1)
    g = globex.targets
    assert (g["first_response"].met, g["first_response"].breached) == (2, 0)
    assert (g["first_response"].p50, g["first_response"].p90) == (8 * 3600, 10 * 3600)
    assert g["resolution_plan"].decided == 0 and g["resolution_plan"].share is None
    # E's resolution is pending (due 26 March): neither met nor breached.
    assert (g["resolution"].met, g["resolution"].breached, g["resolution"].share) == (1, 0, 100.0)


def test_totals_and_percentiles_over_everything(month, march):
    totals, _ = queries.sla_totals(march(), now=NOW)
    fr = totals.targets["first_response"]
    assert (totals.tickets, fr.met, fr.breached, fr.share) == (5, 3, 2, 60.0)
    # Stopped first responses: 0.5 h, 2 h, 8 h, 10 h.
    assert (fr.p50, fr.p90) == (2 * 3600, 10 * 3600)
    res = totals.targets["resolution"]
    # Stopped resolutions: 3 h (A), 9 h (D), 11 h (B).
    assert (res.met, res.breached, res.p50, res.p90) == (2, 2, 9 * 3600, 11 * 3600)


def test_an_overdue_target_counts_only_once_due(month, march):
    before = queries.sla_totals(march(), now=month.C.created_at)[0]
    assert before.targets["first_response"].breached == 1  # B only: C is not due yet


def test_by_priority_agent_and_period(month, march, desk, people):
    rows = by_label(queries.sla_table(march(), "priority", now=NOW))
    assert [r.label for r in queries.sla_table(march(), "priority", now=NOW)] == [
        "Critical", "High", "Medium", "Low"]
    assert rows["Low"].tickets == 2 and rows["Critical"].breaches == 3
    agents = by_label(queries.sla_table(march(), "agent", now=NOW))
    assert agents["Tess Tier1"].tickets == 2  # B and D
    assert agents["Tom Tier2"].tickets == 1  # A, tom had it when it was resolved
    assert agents["Unassigned"].tickets == 2  # C and E
    weeks = queries.sla_table(march(), "week", now=NOW)
    assert [(w.key, w.tickets) for w in weeks] == [(date(2026, 3, 2), 5)]
    tiers = by_label(queries.sla_table(march(), "tier", now=NOW))
    assert tiers["Tier 2"].tickets == 1
    plans = by_label(queries.sla_table(march(), "plan", now=NOW))
    assert plans["Premium"].tickets == 3


def test_filters_narrow_and_none_means_unset(month, march, people, desk):
    assert queries.sla_totals(march(organisation=people.globex.pk), now=NOW)[0].tickets == 2
    assert queries.sla_totals(march(agent=queries.NONE), now=NOW)[0].tickets == 2
    assert queries.sla_totals(march(channel="email"), now=NOW)[0].tickets == 3
    assert queries.sla_totals(march(priority=desk["low"].pk, tier=1), now=NOW)[0].tickets == 2
    april = queries.Filters(start=date(2026, 4, 1), end=date(2026, 4, 30))
    assert queries.sla_totals(april, now=NOW)[0].tickets == 0


def test_drill_down_lists_the_tickets_behind_a_figure(month, march):
    def refs(show, filters=None):
        return {m.ticket_id for m in queries.drill(filters or march(), show, now=NOW)}

    assert refs("fr_breached") == {month.B.pk, month.C.pk}
    assert refs("reopened") == {month.B.pk}
    assert refs("paused_third_party") == {month.A.pk}
    assert refs("escalated_customer") == {month.B.pk}
    assert refs("answered_late", march(channel="email")) == {month.E.pk}
    assert refs("answered_late") == {month.C.pk, month.E.pk}  # C was never answered
    row = by_label(queries.sla_table(march(), "organisation", now=NOW))["Acme"]
    narrowed = march().narrowed("organisation", row.key)
    assert refs("res_breached", narrowed) == {month.B.pk, month.C.pk}


def test_kpi_answered_by_next_business_day(month, march):
    """Seed 000: "99% of emails answered by the next business day" (the default KPI).

    Emails: B (answered in 2 h), D (same day), E (Friday evening, answered Tuesday: late).
    """
    kpi = KpiTarget.objects.get(measure=KpiTarget.Measure.ANSWERED_NEXT_BUSINESS_DAY)
    assert (kpi.channel, float(kpi.target_percent)) == ("email", 99.0)
    KpiTarget.objects.create(name="Reopens", measure="reopen_rate", target_percent=10)
    KpiTarget.objects.create(name="Resolutions", measure="resolution_met", target_percent=90)
    figures = {f.kpi.name: f for f in queries.kpi_figures(march(), now=NOW)}
    answered = figures[kpi.name]
    assert (answered.numerator, answered.denominator) == (2, 3)
    assert answered.ok is False
    # Resolved at least once: A, B, D; reopened: B.
    assert (figures["Reopens"].numerator, figures["Reopens"].denominator) == (1, 3)
    assert figures["Reopens"].ok is False  # 33% reopened, at most 10% promised
    assert (figures["Resolutions"].numerator, figures["Resolutions"].denominator) == (2, 4)


def test_backfill_gives_the_rows_the_hooks_wrote(month):
    columns = [f for f in measure.UPDATE_FIELDS if f != "refreshed_at"]
    kept = {m["ticket_id"]: m for m in TicketMeasure.objects.values("ticket_id", *columns)}
    TicketMeasure.objects.all().delete()
    assert measure.backfill(now=NOW, batch=2) == 5
    again = {m["ticket_id"]: m for m in TicketMeasure.objects.values("ticket_id", *columns)}
    assert again == kept


def test_the_command_backfills(month):
    from django.core.management import call_command

    TicketMeasure.objects.all().delete()
    call_command("reports", "backfill")
    assert TicketMeasure.objects.count() == 5


def test_a_failing_measure_does_not_stop_the_action(open_ticket, monkeypatch, caplog):
    from tierdesk.reports import measure as m

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(m, "measure_rows", broken)
    ticket = open_ticket()
    assert ticket.pk and not TicketMeasure.objects.exists()
    assert "could not refresh the measure" in caplog.text


@pytest.mark.parametrize("group", ["organisation", "agent", "month", "priority"])
def test_the_page_in_two_queries_adds_up_to_the_separate_tables(month, march, group):
    kpis = list(KpiTarget.objects.all())
    report = queries.sla_report(march(), group, now=NOW, trend="week", kpis=kpis)
    assert report.rows == queries.sla_table(march(), group, now=NOW)
    totals, fractions = queries.sla_totals(march(), now=NOW, kpis=kpis)
    assert (report.totals, report.fractions) == (totals, fractions)
    assert report.trend == queries.sla_table(march(), "week", now=NOW, times=False)
    assert report.by_priority == queries.sla_table(march(), "priority", now=NOW, times=False)
