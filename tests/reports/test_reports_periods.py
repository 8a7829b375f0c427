"""Periods as ranges of local midnights (PostgreSQL's `width_bucket`) give the figures of
truncating every row's instant in the time zone, on random measure rows.

Random rows: creation instants around clock changes and exactly on local midnights
(Madrid changes at 02:00 on 29 March, Santiago goes back from 24:00 to 23:00 on 4 April
2026 and forward from 24:00 to 01:00 on 5 September, where a day is no plain range of
midnights and the rows are truncated one by one). On both databases the tickets per
period are also counted here, from the instants.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.helpers import NOW
from tierdesk.reports import queries
from tierdesk.reports.models import MeasureState, TicketMeasure

pytestmark = pytest.mark.django_db

TICKETS = 24
ZONES = ("UTC", "Europe/Madrid", "America/Santiago")
FIRST_DAYS = (date(2026, 3, 20), date(2026, 8, 25))  # spring changes; Santiago's September

seconds = st.one_of(st.none(), st.integers(0, 40), st.integers(0, 500_000))
row = st.fixed_dictionaries({
    "day": st.integers(0, 40),
    # minutes after the local midnight of `day`, or that midnight exactly, or a minute
    # either side of it: the instants a period's boundary must put on the right side
    "minutes": st.one_of(st.integers(-1, 1), st.integers(0, 24 * 60 - 1)),
    "priority_id": st.integers(1, 4), "assignee_id": st.one_of(st.none(), st.integers(1, 3)),
    "fr_state": st.sampled_from(MeasureState.values), "fr_seconds": seconds,
    "rp_state": st.sampled_from(MeasureState.values), "rp_seconds": seconds,
    "res_state": st.sampled_from(MeasureState.values), "res_seconds": seconds,
})
case = st.fixed_dictionaries({
    "rows": st.lists(row, min_size=TICKETS, max_size=TICKETS),
    "group": st.sampled_from(queries.PERIODS), "zone": st.sampled_from(ZONES),
    "first": st.sampled_from(FIRST_DAYS), "start": st.integers(0, 20), "days": st.integers(0, 40),
    "trend": st.sampled_from(queries.PERIODS),
})


@pytest.fixture
def tickets(open_ticket):
    return [open_ticket(f"Ticket {i}").pk for i in range(TICKETS)]


def _store(ticket_ids, rows, first: date, tz: ZoneInfo) -> None:
    measures = {m.ticket_id: m for m in TicketMeasure.objects.filter(ticket_id__in=ticket_ids)}
    for pk, r in zip(ticket_ids, rows, strict=True):
        m = measures[pk]
        midnight = datetime.combine(first + timedelta(days=r["day"]), time(), tz)
        m.created_at = (midnight + timedelta(minutes=r["minutes"])).astimezone(UTC)
        for name in ("priority_id", "assignee_id", "fr_state", "fr_seconds", "rp_state",
                     "rp_seconds", "res_state", "res_seconds"):
            setattr(m, name, r[name])
        for prefix in ("fr", "rp", "res"):
            setattr(m, f"{prefix}_due_at", NOW)
    TicketMeasure.objects.bulk_update(list(measures.values()), [
        "created_at", "priority_id", "assignee_id", "fr_state", "fr_seconds", "rp_state",
        "rp_seconds", "res_state", "res_seconds", "fr_due_at", "rp_due_at", "res_due_at"])


def _period_start(granularity: str, day: date) -> date:
    if granularity == "month":
        return day.replace(day=1)
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    return day


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=case)
def test_periods_by_midnights_are_the_truncated_ones(tickets, monkeypatch, case):
    tz = ZoneInfo(case["zone"])
    _store(tickets, case["rows"], case["first"], tz)
    start = case["first"] + timedelta(days=case["start"])
    filters = queries.Filters(start=start, end=start + timedelta(days=case["days"]),
                              zone=case["zone"])
    group, trend = case["group"], case["trend"]

    def figures():
        report = queries.sla_report(filters, group, now=NOW, trend=trend)
        return (queries.sla_table(filters, group, now=NOW), report.rows, report.trend,
                report.totals)

    fast = figures()
    with monkeypatch.context() as m:
        m.setattr(queries, "MAX_PERIOD_STARTS", 0)  # every period truncated row by row
        truncated = figures()
    assert fast == truncated
    # The tickets per period, from the instants.
    lo, hi = filters.bounds()
    expected = Counter(_period_start(group, m.created_at.astimezone(tz).date())
                       for m in TicketMeasure.objects.filter(ticket_id__in=tickets)
                       if lo <= m.created_at < hi)
    assert {r.key: r.tickets for r in fast[0]} == dict(expected)


def test_a_day_whose_midnight_a_clock_change_skips_is_truncated_row_by_row(db):
    """Santiago skips from 00:00 to 01:00 on 6 September 2026; Madrid's changes are at
    02:00 and 03:00, so its midnights all exist once."""
    santiago, madrid = ZoneInfo("America/Santiago"), ZoneInfo("Europe/Madrid")
    assert queries._midnight(date(2026, 9, 6), santiago) is None
    assert queries._midnight(date(2026, 9, 7), santiago) is not None
    assert queries._midnight(date(2026, 3, 29), madrid) == datetime(2026, 3, 28, 23, 0,
                                                                     tzinfo=UTC)
    assert queries._midnight(date(2026, 10, 25), madrid) == datetime(2026, 10, 24, 22, 0,
                                                                      tzinfo=UTC)
    september = queries.Filters(start=date(2026, 9, 1), end=date(2026, 9, 10),
                                zone="America/Santiago")
    by_month = queries._key("month", september)
    by_day = queries._key("day", september)
    assert isinstance(by_day.expression, queries.TruncDate)
    from django.db import connection

    if connection.vendor == "postgresql":
        assert by_month.starts == (date(2026, 9, 1),)
    else:
        assert not by_month.starts
