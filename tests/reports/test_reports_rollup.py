"""The rollup (tierdesk/reports/rollup.py) gives every figure the live query gives, at
every instant: on random measure rows (running targets due before and after the report's
`now`, paused, met, breached, unanswered tickets, NULL dimensions, instants next to UTC's
and the provider's midnights), after random changes to them (reopens, re-categorisation,
resolution, deletion) that the triggers follow, before and after compaction, for every
grouping, zone, KPI scope and filter of one dimension. On SQLite, and with two filters or a
filter beside a grouping by a dimension, the live query is the only path.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.helpers import NOW
from tierdesk.reports import measure, queries, rollup
from tierdesk.reports.models import KpiTarget, MeasureState, RollupCount, TicketMeasure
from tierdesk.reports.queries import NONE
from tierdesk.tickets.models import Priority

TICKETS = 24
FIRST = datetime(2026, 1, 1, tzinfo=UTC)
postgresql = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="the rollup is kept on PostgreSQL")

seconds = st.one_of(st.integers(0, 5), st.integers(0, 400_000), st.integers(0, 2**31 - 1))
instant = st.one_of(
    # next to midnight in UTC, Madrid (22:00, 23:00 UTC) and Santiago (03:00, 04:00 UTC)
    st.tuples(st.integers(0, 75), st.sampled_from([0, 1, 21 * 60 + 59, 22 * 60, 23 * 60 - 1,
                                                   23 * 60, 3 * 60, 4 * 60 - 1, 4 * 60])),
    st.tuples(st.integers(0, 75), st.integers(0, 24 * 60 - 1)))
target = st.tuples(st.sampled_from(list(MeasureState)), st.one_of(st.none(), seconds),
                   st.booleans())  # (state, seconds if stopped, due before `now`)
row = st.fixed_dictionaries({
    "at": instant, "priority": st.integers(0, 3), "agent": st.one_of(st.none(), st.integers(1, 3)),
    "category": st.one_of(st.none(), st.integers(1, 2)), "tier": st.integers(1, 3),
    "channel": st.sampled_from(["email", "portal", "api"]), "fr": target, "rp": target,
    "res": target,
    "answered": st.sampled_from(["on time", "late", "not yet, due later", "not yet, overdue",
                                 "no promise"]),
    "resolved": st.booleans(), "reopens": st.integers(0, 2), "paused": st.integers(0, 5000),
    "escalated": st.integers(0, 1),
})


@pytest.fixture
def tickets(open_ticket):
    return [open_ticket(f"Ticket {i}").pk for i in range(TICKETS)]


@pytest.fixture
def kpis(desk):
    m = KpiTarget.Measure
    some = Priority.objects.order_by("pk").first()
    specs = [(m.FIRST_RESPONSE_MET, "", None), (m.RESOLUTION_PLAN_MET, "email", None),
             (m.RESOLUTION_MET, "", some), (m.REOPEN_RATE, "portal", some),
             (m.ANSWERED_NEXT_BUSINESS_DAY, "", None), (m.ANSWERED_NEXT_BUSINESS_DAY, "email", some),
             (m.SATISFACTION_POSITIVE, "", None)]
    return [KpiTarget.objects.create(name=f"k{i}", measure=measure, target_percent=90,
                                     channel=channel, priority=priority)
            for i, (measure, channel, priority) in enumerate(specs)]


def _write(ticket_ids: list[int], rows: list[dict]) -> None:
    """Give these tickets' measure rows the drawn figures (one UPDATE statement)."""
    priorities = list(Priority.objects.order_by("pk").values_list("pk", flat=True))
    measures = {m.ticket_id: m for m in TicketMeasure.objects.filter(ticket_id__in=ticket_ids)}
    for pk, r in zip(ticket_ids, rows, strict=False):
        m = measures[pk]
        day, minutes = r["at"]
        m.created_at = FIRST + timedelta(days=day, minutes=minutes, seconds=7)
        m.priority_id = priorities[r["priority"] % len(priorities)]
        m.assignee_id, m.category_id, m.tier, m.channel = (r["agent"], r["category"], r["tier"],
                                                           r["channel"])
        for prefix in ("fr", "rp", "res"):
            state, stopped, overdue = r[prefix]
            setattr(m, f"{prefix}_state", state)
            setattr(m, f"{prefix}_seconds", stopped if state in (MeasureState.MET,
                                                                 MeasureState.BREACHED) else None)
            setattr(m, f"{prefix}_due_at", (NOW - timedelta(hours=1) if overdue
                                            else NOW + timedelta(hours=1))
                    if state == MeasureState.RUNNING else None)
        due = m.created_at + timedelta(days=1)
        m.answer_due_at = None if r["answered"] == "no promise" else due
        m.first_response_at = {"on time": due - timedelta(hours=1),
                               "late": due + timedelta(hours=1)}.get(r["answered"])
        if r["answered"] == "not yet, overdue":
            m.answer_due_at = NOW - timedelta(minutes=5)
        elif r["answered"] == "not yet, due later":
            m.answer_due_at = NOW + timedelta(minutes=5)
        m.first_resolved_at = m.created_at + timedelta(hours=2) if r["resolved"] else None
        m.reopens, m.paused_customer_seconds = r["reopens"], r["paused"]
        m.paused_third_party_seconds = r["paused"] // 3
        m.escalations_tier2 = m.escalations_customer = r["escalated"]
    TicketMeasure.objects.bulk_update(list(measures.values()), [
        "created_at", "priority_id", "assignee_id", "category_id", "tier", "channel",
        "fr_state", "fr_seconds", "fr_due_at", "rp_state", "rp_seconds", "rp_due_at",
        "res_state", "res_seconds", "res_due_at", "answer_due_at", "first_response_at",
        "first_resolved_at", "reopens", "paused_customer_seconds", "paused_third_party_seconds",
        "escalations_tier2", "escalations_customer"])


def _reports(filters: queries.Filters, group: str, trend: str, kpis) -> tuple:
    report = queries.sla_report(filters, group, now=NOW, trend=trend, kpis=kpis)
    return (queries.sla_table(filters, group, now=NOW), report.rows, report.totals,
            report.trend, report.by_priority, report.fractions,
            queries.sla_table(filters, group, now=NOW, times=False))


def _both(monkeypatch, filters, group, trend, kpis) -> tuple[tuple, tuple, int]:
    """(the reports from the rollup, the same read live, how many times the rollup answered)."""
    answered = []
    figures = rollup.figures
    with monkeypatch.context() as m:
        m.setattr(rollup, "STRICT", True)
        m.setattr(rollup, "figures", lambda *a, **k: answered.append(1) or figures(*a, **k))
        rolled = _reports(filters, group, trend, kpis)
        m.setattr(rollup, "ENABLED", False)
        live = _reports(filters, group, trend, kpis)
    return rolled, live, len(answered)


GROUPS = ("month", "week", "day", "priority", "category", "organisation", "plan", "tier",
          "agent", "team", "channel")


@postgresql
@pytest.mark.django_db
@pytest.mark.parametrize("provider_zone", ["UTC", "Europe/Madrid"])
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(before=st.lists(row, min_size=TICKETS, max_size=TICKETS),
       after=st.lists(row, min_size=1, max_size=TICKETS // 2),
       deleted=st.integers(0, 3), compact=st.booleans(),
       group=st.sampled_from(GROUPS), trend=st.sampled_from(("month", "week")),
       zone=st.sampled_from(("UTC", "Europe/Madrid", "America/Santiago")),
       start=st.integers(0, 20), length=st.integers(0, 70), narrow=st.one_of(
           st.none(), st.sampled_from([("tier", 1), ("tier", 3), ("priority", 0),
                                       ("category", 1), ("category", 2), ("category", NONE),
                                       ("agent", 1), ("agent", NONE), ("channel", "api")])))
def test_the_rollup_gives_the_live_figures(tickets, kpis, monkeypatch, provider_zone, before,
                                           after, deleted, compact, group, trend, zone,
                                           start, length, narrow):
    rollup.install(zone=provider_zone)
    # The examples share one transaction: the rows an example deleted come back (an upsert).
    measure.refresh(tickets, now=NOW)
    _write(tickets, before)
    # Reopens, re-categorisation, resolution...: the same rows written again, and a few gone.
    _write(tickets[-len(after):], after)
    TicketMeasure.objects.filter(ticket_id__in=tickets[:deleted]).delete()
    if compact:
        rollup.compact()
        assert not RollupCount.objects.values("start", "dim", "value").annotate(
            n=queries.Count("pk")).filter(n__gt=1).exists()
    first = date(2026, 1, 1) + timedelta(days=start)
    one = {}
    if narrow:  # one filter: the tables by period read the rollup, the rest live
        dim, value = narrow
        one[dim] = (Priority.objects.order_by("pk").values_list("pk", flat=True)[value]
                    if dim == "priority" else value)
    filters = queries.Filters(start=first, end=first + timedelta(days=length), zone=zone, **one)
    rolled, live, answered = _both(monkeypatch, filters, group, trend, kpis)
    assert answered == (3 if not narrow or group in queries.PERIODS else 0), (
        "the rollup did not answer")
    assert rolled == live


@postgresql
@pytest.mark.django_db
def test_running_targets_turn_breached_at_the_reports_now(tickets, kpis, monkeypatch):
    rows = [{"at": (i % 30, 600), "priority": i % 3, "agent": None, "category": None, "tier": 1,
             "channel": "email", "fr": (MeasureState.RUNNING, None, i % 2 == 0),
             "rp": (MeasureState.MET, 60 * i, False), "res": (MeasureState.PAUSED, None, False),
             "answered": "not yet, overdue" if i % 3 else "on time", "resolved": False,
             "reopens": 0, "paused": 0, "escalated": 0} for i in range(TICKETS)]
    _write(tickets, rows)
    filters = queries.Filters(start=date(2026, 1, 1), end=date(2026, 2, 28))
    rolled, live, answered = _both(monkeypatch, filters, "priority", "month", kpis)
    assert answered == 3 and rolled == live
    totals = rolled[2]
    assert totals.targets["first_response"].breached == TICKETS // 2
    assert totals.targets["resolution_plan"].p50 is not None


@postgresql
@pytest.mark.django_db
def test_a_rollup_that_does_not_add_up_is_not_believed(tickets, kpis, monkeypatch):
    _write(tickets, [{"at": (i, 60), "priority": 0, "agent": 1, "category": None, "tier": 1,
                      "channel": "email", "fr": (MeasureState.MET, 100 * i, False),
                      "rp": (MeasureState.NONE, None, False),
                      "res": (MeasureState.MET, 1000 * i, False), "answered": "on time",
                      "resolved": True, "reopens": 0, "paused": 0, "escalated": 0}
                     for i in range(TICKETS)])
    filters = queries.Filters(start=date(2026, 1, 1), end=date(2026, 2, 28))
    live = _both(monkeypatch, filters, "agent", "month", kpis)[1]
    # A histogram that no longer adds up to the counts (a rollup not maintained).
    with connection.cursor() as cursor:
        cursor.execute("UPDATE reports_rolluptime SET n = n + 1 WHERE dim = 'agent'")
    with pytest.raises(rollup.Stale), monkeypatch.context() as m:
        m.setattr(rollup, "STRICT", True)
        queries.sla_table(filters, "agent", now=NOW)
    assert queries.sla_table(filters, "agent", now=NOW) == live[0]  # read live instead
    rollup.rebuild()
    assert _both(monkeypatch, filters, "agent", "month", kpis)[0][0] == live[0]


@pytest.mark.django_db
def test_what_reads_live(tickets, monkeypatch):
    used = []
    monkeypatch.setattr(rollup, "figures", lambda *a, **k: used.append(1))
    year = {"start": date(2026, 1, 1), "end": date(2026, 2, 28)}
    # A filter beside a grouping by a dimension; two filters (the rollup holds one a row).
    queries.sla_table(queries.Filters(**year, tier=1), "agent", now=NOW)
    queries.sla_table(queries.Filters(**year, tier=1), "agent", now=NOW, times=False)
    queries.sla_table(queries.Filters(**year, tier=1, channel="email"), "month", now=NOW)
    if connection.vendor != "postgresql":
        queries.sla_table(queries.Filters(**year), "month", now=NOW)
        queries.sla_table(queries.Filters(**year), "channel", now=NOW)
    assert not used


@postgresql
@pytest.mark.django_db
def test_the_channels_histograms_are_added_to_a_kept_rollup(tickets, kpis, monkeypatch):
    """Migration 0005 (`rollup.time_also`): the rollup of a desk kept before the channel
    was timed gains its histograms, and a report by channel reads them."""
    _write(tickets, [{"at": (i % 40, 600 + i), "priority": i % 3, "agent": None,
                      "category": None, "tier": 1, "channel": ("email", "portal", "api")[i % 3],
                      "fr": (MeasureState.MET, 90 * i, False), "rp": (MeasureState.NONE, None,
                                                                      False),
                      "res": (MeasureState.BREACHED, 4000 * i, False), "answered": "on time",
                      "resolved": True, "reopens": 0, "paused": 0, "escalated": 0}
                     for i in range(TICKETS)])
    filters = queries.Filters(start=date(2026, 1, 1), end=date(2026, 2, 28))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM reports_rolluptime WHERE dim = 'channel'")
    with pytest.raises(rollup.Stale), monkeypatch.context() as m:
        m.setattr(rollup, "STRICT", True)
        queries.sla_table(filters, "channel", now=NOW)
    rollup.time_also(("channel",))
    rolled, live, answered = _both(monkeypatch, filters, "channel", "month", kpis)
    assert answered == 3 and rolled == live
    assert {row.key for row in rolled[0]} == {"api", "email", "portal"}


def test_the_cuts_of_a_zone():
    assert rollup.cuts_of("UTC") == []
    assert rollup.cuts_of("Europe/Madrid") == [22 * 60, 23 * 60]
    assert rollup.cuts_of("Asia/Kolkata") == [18 * 60 + 30]


@postgresql
def test_the_rollup_follows_the_providers_zone(tickets):
    """Cut for UTC (the migration ran before the provider existed), then the provider's zone
    (Europe/Madrid, the desk fixture's): the hourly task re-installs it once, and the
    figures are still the live ones."""
    from tierdesk.accounts.models import Provider
    from tierdesk.reports import tasks

    rollup.install(zone="UTC")
    assert rollup.installed_cuts() == []
    assert tasks.follow_provider_zone.call_local() is True
    assert rollup.installed_cuts() == [22 * 60, 23 * 60]
    assert rollup.follow_zone() is False  # already cut for it
    Provider.objects.update(time_zone="Asia/Kolkata")
    assert rollup.follow_zone() is True
    assert rollup.installed_cuts() == [18 * 60 + 30]
    rollup.uninstall()
    assert rollup.follow_zone() is False  # not kept: nothing to follow
    rollup.install()  # as the migration left it for the other tests
