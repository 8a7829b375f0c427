"""evaluate(), instant_at() and explain() on timelines written as tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sla_tables import CALENDARS, duration, local, table

from tierdesk.sla.engine import Calendar, Policy, TargetState, evaluate, explain, instant_at

NINE_TO_FIVE = Calendar.from_dict(CALENDARS["9-17"])
ZONE = NINE_TO_FIVE.timezone
POLICY = Policy.from_dict(
    {
        "calendar": NINE_TO_FIVE,
        "targets": {
            "first_response": {"high": 60, "low": 240},
            "resolution_plan": {"high": 120},  # low has none
            "resolution": {"high": 240, "low": 960},
        },
        "pause_statuses": ["waiting_customer", "waiting_third_party"],
    }
)


def timeline(text: str, zone: str = ZONE) -> list[dict[str, Any]]:
    """Rows ``at | event | value`` as engine events (value: the priority or status)."""
    events = []
    for row in table(text):
        event: dict[str, Any] = {"at": local(row["at"], zone), "type": row["event"]}
        if row["event"] in ("created", "priority"):
            event["priority"] = row["value"]
        elif row["event"] == "status":
            event["status"] = row["value"]
        events.append(event)
    return events


def check(states: dict[str, TargetState], text: str, zone: str = ZONE) -> None:
    """Compare with rows ``target | state | elapsed | due | met_at | breached_at``
    ("absent" for a target the current priority lacks, "-" for None)."""
    for row in table(text):
        name = row["target"]
        if row["state"] == "absent":
            assert name not in states
            continue

        def instant(cell: str) -> datetime | None:
            return None if cell == "-" else local(cell, zone)

        state = states[name]
        got = (state.state, state.elapsed, state.due, state.met_at, state.breached_at)
        assert got == (
            row["state"], duration(row["elapsed"]), instant(row["due"]),
            instant(row["met_at"]), instant(row["breached_at"]),
        ), name


def test_pauses_by_reason_and_a_breach_that_waits_for_the_clock() -> None:
    events = timeline("""
    at                    | event          | value
    Mon 2026-11-23 09:00  | created        | high
    Mon 2026-11-23 09:30  | first_response |
    Mon 2026-11-23 10:00  | status         | waiting_customer
    Mon 2026-11-23 11:00  | status         | in_progress
    Mon 2026-11-23 12:00  | status         | waiting_third_party
    Mon 2026-11-23 14:00  | status         | in_progress
    """)
    now = local("Mon 2026-11-23 15:00", ZONE)
    # resolution_plan reaches its 2 h at 12:00, as the pause begins: it is
    # exceeded (strictly) only when the clock runs again, at 14:00.
    check(evaluate(POLICY, events, now), """
    target          | state    | elapsed | due                  | met_at               | breached_at
    first_response  | met      | 0:30    | -                    | Mon 2026-11-23 09:30 | -
    resolution_plan | breached | 3:00    | -                    | -                    | Mon 2026-11-23 14:00
    resolution      | running  | 3:00    | Mon 2026-11-23 16:00 | -                    | -
    """)
    paused_at = local("Mon 2026-11-23 13:00", ZONE)
    check(evaluate(POLICY, events[:-1], paused_at), """
    target          | state    | elapsed | due | met_at               | breached_at
    first_response  | met      | 0:30    | -   | Mon 2026-11-23 09:30 | -
    resolution_plan | paused   | 2:00    | -   | -                    | -
    resolution      | paused   | 2:00    | -   | -                    | -
    """)
    totals = explain(POLICY, events, now).targets["resolution"]
    assert totals.paused == {
        "waiting_customer": timedelta(hours=1),
        "waiting_third_party": timedelta(hours=2),
    }


def test_a_reopened_ticket_keeps_its_elapsed_time() -> None:
    events = timeline("""
    at                    | event          | value
    Mon 2026-11-23 09:00  | created        | high
    Mon 2026-11-23 10:00  | first_response |
    Mon 2026-11-23 11:00  | status         | resolved
    Mon 2026-11-23 13:00  | status         | closed
    Mon 2026-11-23 14:00  | status         | open
    Mon 2026-11-23 15:00  | status         | resolved
    """)
    # Resolved at 11:00 and closed at 13:00: one entry, met at 11:00. The
    # resolution plan was never posted: resolving stopped it, exactly at its 2 h.
    check(evaluate(POLICY, events[:3], local("Mon 2026-11-23 13:30", ZONE)), """
    target          | state | elapsed | due | met_at               | breached_at
    first_response  | met   | 1:00    | -   | Mon 2026-11-23 10:00 | -
    resolution_plan | met   | 2:00    | -   | Mon 2026-11-23 11:00 | -
    resolution      | met   | 2:00    | -   | Mon 2026-11-23 11:00 | -
    """)
    check(evaluate(POLICY, events[:4], local("Mon 2026-11-23 13:30", ZONE)), """
    target          | state | elapsed | due | met_at               | breached_at
    resolution      | met   | 2:00    | -   | Mon 2026-11-23 11:00 | -
    """)
    # Reopened at 14:00: resolution runs on from 2 h; the other two stay met.
    check(evaluate(POLICY, events[:5], local("Mon 2026-11-23 14:30", ZONE)), """
    target          | state   | elapsed | due                  | met_at               | breached_at
    resolution_plan | met     | 2:00    | -                    | Mon 2026-11-23 11:00 | -
    resolution      | running | 2:30    | Mon 2026-11-23 16:00 | -                    | -
    """)
    check(evaluate(POLICY, events, local("Mon 2026-11-23 16:00", ZONE)), """
    target          | state | elapsed | due | met_at               | breached_at
    resolution      | met   | 3:00    | -   | Mon 2026-11-23 15:00 | -
    """)


def test_a_tighter_priority_breaches_at_once_and_a_looser_one_lets_the_clock_run_on() -> None:
    events = timeline("""
    at                    | event          | value
    Mon 2026-11-23 09:00  | created        | low
    Mon 2026-11-23 09:10  | first_response |
    Mon 2026-11-23 14:00  | priority       | high
    Mon 2026-11-23 15:00  | priority       | low
    """)
    # At 14:00, 5 h have counted: past high's 4 h resolution and 2 h plan.
    check(evaluate(POLICY, events[:3], local("Mon 2026-11-23 14:30", ZONE)), """
    target          | state    | elapsed | due | met_at               | breached_at
    first_response  | met      | 0:10    | -   | Mon 2026-11-23 09:10 | -
    resolution_plan | breached | 5:30    | -   | -                    | Mon 2026-11-23 14:00
    resolution      | breached | 5:30    | -   | -                    | Mon 2026-11-23 14:00
    """)
    # Back to low: its 16 h are not exceeded, but a breach is for good.
    check(evaluate(POLICY, events, local("Mon 2026-11-23 16:00", ZONE)), """
    target          | state    | elapsed | due | met_at | breached_at
    resolution_plan | absent   |         |     |        |
    resolution      | breached | 7:00    | -   | -      | Mon 2026-11-23 14:00
    """)
    looser = timeline("""
    at                    | event    | value
    Mon 2026-11-23 09:00  | created  | high
    Mon 2026-11-23 10:00  | priority | low
    """)
    # Nothing restarts: 2 h counted of low's 4 h and 16 h.
    check(evaluate(POLICY, looser, local("Mon 2026-11-23 11:00", ZONE)), """
    target          | state   | elapsed | due                  | met_at | breached_at
    first_response  | running | 2:00    | Mon 2026-11-23 13:00 | -      | -
    resolution_plan | absent  |         |                      |        |
    resolution      | running | 2:00    | Tue 2026-11-24 17:00 | -      | -
    """)


def test_resolving_stops_the_first_response_for_good() -> None:
    events = timeline("""
    at                    | event          | value
    Mon 2026-11-23 09:00  | created        | high
    Mon 2026-11-23 09:30  | status         | resolved
    Mon 2026-11-23 10:00  | status         | open
    Mon 2026-11-23 10:30  | first_response |
    """)
    check(evaluate(POLICY, events, local("Mon 2026-11-23 11:00", ZONE)), """
    target          | state   | elapsed | due                  | met_at               | breached_at
    first_response  | met     | 0:30    | -                    | Mon 2026-11-23 09:30 | -
    resolution_plan | met     | 0:30    | -                    | Mon 2026-11-23 09:30 | -
    resolution      | running | 1:30    | Mon 2026-11-23 13:30 | -                    | -
    """)


def test_a_breach_outside_hours_is_when_the_clock_runs_past_the_target() -> None:
    events = timeline("""
    at                    | event   | value
    Fri 2026-11-27 13:00  | created | high
    """)
    # 4 h from Friday 13:00 are reached at 17:00 (the due instant); the target
    # is exceeded from Monday 09:00. Answering at the weekend would be on time.
    check(evaluate(POLICY, events, local("Fri 2026-11-27 16:59", ZONE)), """
    target     | state   | elapsed | due                  | met_at | breached_at
    resolution | running | 3:59    | Fri 2026-11-27 17:00 | -      | -
    """)
    check(evaluate(POLICY, events, local("Sat 2026-11-28 12:00", ZONE)), """
    target     | state   | elapsed | due                  | met_at | breached_at
    resolution | running | 4:00    | Sat 2026-11-28 12:00 | -      | -
    """)
    check(evaluate(POLICY, events, local("Mon 2026-11-30 09:01", ZONE)), """
    target     | state    | elapsed | due | met_at | breached_at
    resolution | breached | 4:01    | -   | -      | Mon 2026-11-30 09:00
    """)


def test_warning_instant_at_a_share_of_the_target() -> None:
    events = timeline("""
    at                    | event   | value
    Mon 2026-11-23 16:00  | created | high
    """)
    now = local("Mon 2026-11-23 16:30", ZONE)
    states = evaluate(POLICY, events, now)
    # 75% of 4 h is 3 h; 30 min are in: 2.5 h more, 0.5 today and 2 tomorrow.
    assert instant_at(POLICY, states["resolution"], now) == local("Tue 2026-11-24 11:00", ZONE)
    assert instant_at(POLICY, states["resolution"], now, 0.5) == local("Tue 2026-11-24 10:00", ZONE)
    # 75% of the first response's hour has passed already: nothing ahead.
    assert instant_at(POLICY, states["first_response"], now, 0.5) is None
    later = evaluate(POLICY, [*events, {"at": now, "type": "first_response"}], now)
    assert instant_at(POLICY, later["first_response"], now) is None  # met
    with pytest.raises(ValueError, match="share"):
        instant_at(POLICY, states["resolution"], now, 0)


@pytest.mark.parametrize(
    ("events", "now", "message"),
    [
        ([], "Mon 2026-11-23 09:00", "empty"),
        ([("Mon 2026-11-23 09:00", "status", "open")], "Mon 2026-11-23 09:00", "first event"),
        (
            [("Mon 2026-11-23 09:00", "created", "high"), ("Mon 2026-11-23 08:59", "status", "open")],
            "Mon 2026-11-23 10:00", "time order",
        ),
        ([("Mon 2026-11-23 09:00", "created", "high"), ("Mon 2026-11-23 11:00", "first_response", "")],
         "Mon 2026-11-23 10:00", "after now"),
        ([("Mon 2026-11-23 09:00", "created", "high")], "Mon 2026-11-23 08:00", "before the ticket"),
        ([("Mon 2026-11-23 09:00", "created", "high"), ("Mon 2026-11-23 09:10", "status", "pending")],
         "Mon 2026-11-23 10:00", "unknown status"),
        ([("Mon 2026-11-23 09:00", "created", "high"), ("Mon 2026-11-23 09:10", "escalated", "")],
         "Mon 2026-11-23 10:00", "unknown event type"),
        ([("Mon 2026-11-23 09:00", "created", "high"), ("Mon 2026-11-23 09:10", "created", "low")],
         "Mon 2026-11-23 10:00", "only it"),
    ],
)
def test_a_malformed_timeline_raises(events: list[tuple[str, str, str]], now: str, message: str) -> None:
    parsed = timeline(
        "at | event | value\n" + "\n".join(" | ".join(event) for event in events)
    ) if events else []
    with pytest.raises(ValueError, match=message):
        evaluate(POLICY, parsed, local(now, ZONE))


def test_naive_instants_raise() -> None:
    with pytest.raises(ValueError, match="aware"):
        evaluate(POLICY, [{"at": datetime(2026, 11, 23, 9), "type": "created", "priority": "high"}],
                 datetime(2026, 11, 23, 10, tzinfo=UTC))


ITSAFER = Calendar.from_dict(CALENDARS["itsafer"])
DAY_FORMS = Policy.from_dict(
    {
        "calendar": ITSAFER,
        "targets": {
            "first_response": {"normal": {"end_of_business_day": 1}},
            "resolution": {"normal": {"business_days": 3}},
        },
    }
)
DAY_FORM_TARGETS = table("""
created                | first_response | due first_response     | resolution | due resolution
# 9:00-18:00: one hour in, so three days later one hour in
Tue 2026-11-24 10:00   | 17:00          | Wed 2026-11-25 18:00   | 27:00      | Fri 2026-11-27 10:00
# after the close: the whole day is behind, so three whole days from the next
Fri 2026-11-27 20:00   | 9:00           | Mon 2026-11-30 18:00   | 27:00      | Wed 2026-12-02 18:00
# on a closed day: from the next open day's start, to Thursday's opening, i.e.
# 27 h, which are reached (due, the earliest such instant) at Wednesday's close
Sat 2026-11-28 11:00   | 9:00           | Mon 2026-11-30 18:00   | 27:00      | Wed 2026-12-02 18:00
# Monday 7 and Tuesday 8 December are holidays in Madrid
Fri 2026-12-04 10:00   | 17:00          | Wed 2026-12-09 18:00   | 27:00      | Fri 2026-12-11 10:00
# summer hours from 1 July: Friday 3 July opens at 8:00, one hour in is 9:00
Tue 2026-06-30 10:00   | 15:00          | Wed 2026-07-01 15:00   | 23:00      | Fri 2026-07-03 09:00
""")


@pytest.mark.parametrize("row", DAY_FORM_TARGETS, ids=lambda row: row["created"])
def test_day_forms_become_fixed_lengths_at_created(row: dict[str, str]) -> None:
    created = local(row["created"], ITSAFER.timezone)
    states = evaluate(DAY_FORMS, [{"at": created, "type": "created", "priority": "normal"}], created)
    for name in ("first_response", "resolution"):
        assert states[name].target == duration(row[name]), name
        assert states[name].due == local(row[f"due {name}"], ITSAFER.timezone), name


def test_business_days_on_24x7_are_whole_days_of_real_time() -> None:
    policy = Policy.from_dict(
        {"calendar": CALENDARS["24/7"], "targets": {"resolution": {"p": {"business_days": 3}}}}
    )
    for created, hours in [("Mon 2026-11-23 14:00", 72), ("Sat 2026-10-24 12:00", 73)]:
        start = local(created, "Europe/Madrid")
        state = evaluate(policy, [{"at": start, "type": "created", "priority": "p"}], start)
        assert state["resolution"].target == timedelta(hours=hours), created


def test_explain_lays_out_the_clock() -> None:
    events = timeline("""
    at                    | event          | value
    Mon 2026-11-23 16:00  | created        | high
    Mon 2026-11-23 16:30  | first_response |
    Tue 2026-11-24 10:00  | status         | waiting_customer
    Tue 2026-11-24 11:00  | status         | in_progress
    """)
    now = local("Tue 2026-11-24 11:30", ZONE)
    explanation = explain(POLICY, events, now)
    # res: what resolution counted; fr: the first response's own kind.
    expected = table("""
    start                | end                  | kind          | status           | business | res  | fr
    Mon 2026-11-23 16:00 | Mon 2026-11-23 16:30 | counted       | new              | 0:30     | 0:30 | counted
    Mon 2026-11-23 16:30 | Mon 2026-11-23 17:00 | counted       | new              | 0:30     | 0:30 | stopped
    Mon 2026-11-23 17:00 | Tue 2026-11-24 09:00 | outside_hours | new              | 0:00     | 0:00 | stopped
    Tue 2026-11-24 09:00 | Tue 2026-11-24 10:00 | counted       | new              | 1:00     | 1:00 | stopped
    Tue 2026-11-24 10:00 | Tue 2026-11-24 11:00 | paused        | waiting_customer | 1:00     | 0:00 | stopped
    Tue 2026-11-24 11:00 | Tue 2026-11-24 11:30 | counted       | in_progress      | 0:30     | 0:30 | stopped
    """)
    assert [
        (s.start, s.end, s.kind, s.status, s.business, s.counted("resolution"), s.targets["first_response"])
        for s in explanation.stretches
    ] == [
        (
            local(row["start"], ZONE), local(row["end"], ZONE), row["kind"], row["status"],
            duration(row["business"]), duration(row["res"]), row["fr"],
        )
        for row in expected
    ]
    states = evaluate(POLICY, events, now)
    assert {name: totals.state for name, totals in explanation.targets.items()} == states
    text = explanation.render_text()
    assert "resolution: due = now + (target 4h 00m - elapsed 2h 30m) = now + 1h 30m in business time = " \
        "Tue 2026-11-24 13:00 Europe/Madrid" in text
    assert (
        "first_response: met at Mon 2026-11-23 16:30 Europe/Madrid with elapsed 0h 30m of target 1h 00m"
        in text
    )
    assert "paused (waiting_customer)" in text
    header = text.splitlines()[2]
    assert header.split() == ["From", "To", "Kind", "Status", "Priority", "Business", "first_response",
                              "resolution_plan", "resolution"]
    # Aligned: every row of the stretch table is as wide as its header.
    widths = {len(line) for line in text.splitlines()[3:3 + len(expected)]}
    assert max(widths) <= len(header) + 1
