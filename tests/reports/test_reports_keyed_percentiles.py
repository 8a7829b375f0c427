"""Each group's percentiles picked from one sort of keyed values (PostgreSQL) are the
nearest ranks of the group's own values, as the grouped query and Python give them.

`KeyedPercentiles` sorts `key × 2³² + seconds` once and picks every group's ranks with
fractions worked out from the groups' counts (`fractions_for`). The arithmetic is checked
here without a database, the way percentile_disc picks a position (ceil(f × N) in
floating point), and on random measure rows against the grouped query and Python's
nearest rank: ties, empty targets, groups without the dimension (NULL keys), periods.
The counts and the percentiles are two statements: a commit between them (the snapshot
moved) sends the report back to the grouped query.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports.helpers import NOW
from tierdesk.reports import queries, rollup
from tierdesk.reports.aggregates import KEY_SHIFT, at_once, fractions_for, nearest_rank, unkeyed
from tierdesk.reports.models import MeasureState, TicketMeasure

TICKETS = 30
SHARES = queries.SHARES


@given(groups=st.lists(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=60),
                       min_size=1, max_size=12),
       shares=st.lists(st.floats(0.001, 1.0), min_size=1, max_size=4).map(tuple))
def test_the_fractions_pick_each_groups_nearest_rank(groups, shares):
    keyed = sorted(key * KEY_SHIFT + v for key, values in enumerate(groups) for v in values)
    fractions = iter(fractions_for([len(values) for values in groups], shares))
    for key, values in enumerate(groups):
        for share in shares:
            # percentile_disc(f) over N sorted values: the one at position ceil(f × N)
            position = max(math.ceil(next(fractions) * len(keyed)), 1)
            assert unkeyed(keyed[position - 1], key) == nearest_rank(values, share)


def test_a_value_of_another_group_is_refused():
    assert unkeyed(3 * KEY_SHIFT + 17, 3) == 17
    assert unkeyed(-KEY_SHIFT + 5, None) == 5
    with pytest.raises(ValueError, match="not of group"):
        unkeyed(4 * KEY_SHIFT, 3)


postgresql = pytest.mark.skipif(connection.vendor != "postgresql",
                                reason="keyed percentiles are PostgreSQL's")
seconds = st.one_of(st.none(), st.integers(0, 5), st.integers(0, 2**31 - 1))
row = st.fixed_dictionaries({
    "day": st.integers(0, 60),
    "priority_id": st.integers(1, 4), "assignee_id": st.one_of(st.none(), st.integers(1, 3)),
    "fr_seconds": seconds, "rp_seconds": seconds, "res_seconds": seconds,
})


@pytest.fixture(autouse=True)
def _live(monkeypatch):
    """The live path's percentiles (the rollup's: test_reports_rollup.py)."""
    monkeypatch.setattr(rollup, "ENABLED", False)


@pytest.fixture
def tickets(open_ticket):
    return [open_ticket(f"Ticket {i}").pk for i in range(TICKETS)]


def _store(ticket_ids, rows) -> list[dict]:
    first = datetime(2026, 1, 1, 9, tzinfo=UTC)
    measures = {m.ticket_id: m for m in TicketMeasure.objects.filter(ticket_id__in=ticket_ids)}
    for pk, r in zip(ticket_ids, rows, strict=True):
        m = measures[pk]
        m.created_at = first + timedelta(days=r["day"])
        for name in ("priority_id", "assignee_id", "fr_seconds", "rp_seconds", "res_seconds"):
            setattr(m, name, r[name])
        for prefix in ("fr", "rp", "res"):
            stopped = r[f"{prefix}_seconds"] is not None
            setattr(m, f"{prefix}_state", MeasureState.MET if stopped else MeasureState.RUNNING)
            setattr(m, f"{prefix}_due_at", NOW)
    TicketMeasure.objects.bulk_update(list(measures.values()), [
        "created_at", "priority_id", "assignee_id", "fr_state", "fr_seconds", "rp_state",
        "rp_seconds", "res_state", "res_seconds", "fr_due_at", "rp_due_at", "res_due_at"])
    return [{**r, "created_at": first + timedelta(days=r["day"])} for r in rows]


def _times(table) -> dict:
    return {r.key: {name: (t.p50, t.p90) for name, t in r.targets.items()} for r in table}


def _grouped(monkeypatch, fn):
    """`fn()` with every percentile from the grouped query."""
    with monkeypatch.context() as m:
        m.setattr(queries, "_keyed_times", lambda *a, **k: None)
        m.setattr(queries, "_snapshot", object)  # never the same twice: a commit came between
        return fn()


@postgresql
@pytest.mark.django_db
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=TICKETS, max_size=TICKETS),
       group=st.sampled_from(("priority", "agent", "month", "week")))
def test_keyed_percentiles_are_the_grouped_ones(tickets, monkeypatch, rows, group):
    stored = _store(tickets, rows)
    filters = queries.Filters(start=date(2026, 1, 1), end=date(2026, 3, 31))
    calls = []
    keyed = queries._keyed_times

    def figures():
        report = queries.sla_report(filters, group, now=NOW, trend="month")
        return queries.sla_table(filters, group, now=NOW), report.rows, report.totals

    with monkeypatch.context() as m:
        m.setattr(queries, "_keyed_times", lambda *a, **k: calls.append(1) or keyed(*a, **k))
        table, page_rows, totals = figures()
    assert calls, "the keyed path was not taken"
    assert (table, page_rows, totals) == _grouped(monkeypatch, figures)
    # And from the rows themselves, by Python's nearest rank.
    key_of = {"priority": lambda r: r["priority_id"], "agent": lambda r: r["assignee_id"],
              "month": lambda r: r["created_at"].date().replace(day=1),
              "week": lambda r: (r["created_at"].date()
                                 - timedelta(days=r["created_at"].weekday()))}[group]
    expected: dict = {}
    for prefix, name in queries.TARGETS:
        for key in {key_of(r) for r in stored}:
            values = [r[f"{prefix}_seconds"] for r in stored
                      if key_of(r) == key and r[f"{prefix}_seconds"] is not None]
            expected.setdefault(key, {})[name] = tuple(
                None if not values else float(nearest_rank(values, s)) for s in SHARES)
    assert _times(table) == expected


@postgresql
@pytest.mark.django_db
def test_a_commit_between_the_counts_and_the_percentiles_falls_back(tickets, monkeypatch):
    _store(tickets, [{"day": i % 40, "priority_id": 1 + i % 3, "assignee_id": None,
                      "fr_seconds": 60 * i, "rp_seconds": None, "res_seconds": 7 * i}
                     for i in range(TICKETS)])
    filters = queries.Filters(start=date(2026, 1, 1), end=date(2026, 3, 31))
    expected = _grouped(monkeypatch, lambda: queries.sla_table(filters, "priority", now=NOW))
    readings = iter(["before", "after"])
    grouped = queries._grouped_times
    used = []
    monkeypatch.setattr(queries, "_snapshot", lambda: next(readings))
    monkeypatch.setattr(queries, "_grouped_times",
                        lambda *a, **k: used.append(1) or grouped(*a, **k))
    assert queries.sla_table(filters, "priority", now=NOW) == expected
    assert used, "a moved snapshot must send the percentiles to the grouped query"


@postgresql
@pytest.mark.django_db(transaction=True)
def test_a_report_of_its_own_reads_one_snapshot(monkeypatch):
    seen = []
    original = queries._snapshot

    def snapshot():
        with connection.cursor() as cursor:
            cursor.execute("SHOW transaction_isolation")
            seen.append(cursor.fetchone()[0])
        return original()

    monkeypatch.setattr(queries, "_snapshot", snapshot)
    queries.sla_table(queries.Filters(start=date(2026, 1, 1), end=date(2026, 1, 31)),
                      "priority", now=NOW)
    assert seen == ["repeatable read"]


@pytest.mark.django_db
def test_arms_at_once_answer_what_one_query_does(tickets):
    _store(tickets, [{"day": i % 40, "priority_id": 1 + i % 3, "assignee_id": None,
                      "fr_seconds": None if i % 4 == 0 else 60 * i, "rp_seconds": None,
                      "res_seconds": 7 * i} for i in range(TICKETS)])
    measures = queries.Filters(start=date(2026, 1, 1), end=date(2026, 3, 31)).measures()
    arms = [{"tickets": queries.Count("pk"), "fr_p90": queries.Percentile("fr_seconds", 0.9)},
            {"res_p50": queries.Percentile("res_seconds", 0.5),
             "rp_p50": queries.Percentile("rp_seconds", 0.5),
             "paused": queries.Sum("paused_customer_seconds")}]
    answer = at_once(measures, arms)
    assert answer == measures.aggregate(**arms[0], **arms[1])
    assert answer["tickets"] == TICKETS and answer["rp_p50"] is None
    assert type(answer["fr_p90"]) is float and type(answer["tickets"]) is int
    with pytest.raises(ValueError):  # an alias goes into the SQL: Django's rule and ours
        at_once(measures, [{"x": queries.Count("pk")}, {"a b": queries.Count("pk")}])
