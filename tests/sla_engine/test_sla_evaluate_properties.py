"""evaluate() and explain() against the naive minute-by-minute model, on random timelines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sla_exact import flat
from sla_naive import NaiveCalendar, naive_evaluate
from sla_strategies import ZONES, calendar_specs, instants, opens_at_all

from tierdesk.sla.engine import Calendar, Policy, TargetState, evaluate, explain
from tierdesk.sla.engine.timeline import _evaluate_fast, replay, states_of

STATUSES = ("new", "open", "in_progress", "waiting_customer", "waiting_third_party", "resolved", "closed")
PRIORITIES = ("high", "mid", "low")
TARGETS = ("first_response", "resolution_plan", "resolution")
MODEL = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """A calendar, a policy in minutes (some priorities lacking some targets),
    and a timeline of up to a dozen events on whole minutes, a few days long."""
    zone = draw(st.sampled_from(ZONES))
    created = draw(instants(zone))
    spec = draw(calendar_specs(zone, created))
    assume(opens_at_all(spec))
    targets = {
        name: {
            priority: draw(st.sampled_from((1, 30, 60, 90, 120, 240, 480, 600, 1440)))
            for priority in PRIORITIES
            if draw(st.integers(0, 4)) > 0
        }
        for name in TARGETS
        if draw(st.integers(0, 5)) > 0
    }
    pauses = draw(st.lists(st.sampled_from(("waiting_customer", "waiting_third_party")), unique=True))
    first = draw(st.sampled_from(PRIORITIES))
    events: list[dict[str, Any]] = [{"at": created, "type": "created", "priority": first}]
    at = created
    for _ in range(draw(st.integers(0, 12))):
        at += timedelta(minutes=draw(st.integers(0, 360)))
        kind = draw(st.sampled_from(("status",) * 3 + ("priority", "first_response", "resolution_plan")))
        event: dict[str, Any] = {"at": at, "type": kind}
        if kind == "status":
            event["status"] = draw(st.sampled_from(STATUSES))
        elif kind == "priority":
            event["priority"] = draw(st.sampled_from(PRIORITIES))
        events.append(event)
    now = at + timedelta(minutes=draw(st.integers(0, 1440)))
    return {"spec": spec, "targets": targets, "pauses": pauses, "events": events, "now": now}


def _policy(case: dict[str, Any]) -> Policy:
    return Policy.from_dict(
        {"calendar": case["spec"], "targets": case["targets"], "pause_statuses": case["pauses"]}
    )


def _utc(instant: datetime | None) -> datetime | None:
    return None if instant is None else instant.astimezone(UTC)


def _opens_again(policy: Policy, case: dict[str, Any]) -> None:
    """Drop a calendar that never opens after now (say, a season closing its only
    open date): evaluate() rightly raises for it; that is tested elsewhere."""
    try:
        policy.calendar.next_open(case["now"])
    except ValueError:
        assume(False)


@MODEL
@given(cases())
def test_evaluate_is_the_naive_walk(case: dict[str, Any]) -> None:
    policy = _policy(case)
    _opens_again(policy, case)
    states = evaluate(policy, case["events"], case["now"])
    due = [state.due for state in states.values() if state.due is not None]
    # The naive model walks to a due instant minute by minute: keep it near.
    assume(all(instant - case["now"] < timedelta(days=10) for instant in due))
    expected = naive_evaluate(
        NaiveCalendar(case["spec"]), case["targets"], case["pauses"], case["events"], case["now"]
    )
    assert set(states) == set(expected)
    for name, state in states.items():
        want = expected[name]
        assert (state.state, state.elapsed, state.target) == (want.state, want.elapsed, want.target), name
        # Instants in UTC: see test_add_is_the_naive_walk.
        got = [_utc(state.due), _utc(state.met_at), _utc(state.breached_at)]
        assert got == [_utc(want.due), _utc(want.met_at), _utc(want.breached_at)], name


@MODEL
@given(cases())
def test_explain_adds_up_to_evaluate(case: dict[str, Any]) -> None:
    policy = _policy(case)
    _opens_again(policy, case)
    explanation = explain(policy, case["events"], case["now"])
    states = evaluate(policy, case["events"], case["now"])
    assert {name: totals.state for name, totals in explanation.targets.items()} == states
    stretches = explanation.stretches
    # The stretches tile [created, now] without gap or overlap.
    edges = [(_utc(s.start), _utc(s.end)) for s in stretches]
    assert all(a < b for a, b in edges)
    assert all(edges[i][1] == edges[i + 1][0] for i in range(len(edges) - 1))
    if stretches:
        assert (edges[0][0], edges[-1][1]) == (case["events"][0]["at"], case["now"])
    calendar = policy.calendar
    for s in stretches:
        assert s.business == calendar.elapsed(s.start, s.end)
        if s.kind == "outside_hours":
            assert s.business == timedelta(0)
        if s.kind == "counted":
            assert s.business > timedelta(0)
    for name, totals in explanation.targets.items():
        assert sum((s.counted(name) for s in stretches), timedelta(0)) == states[name].elapsed
        for reason, paused in totals.paused.items():
            assert paused == sum(
                (s.business for s in stretches if s.targets[name] == "paused" and s.reason == reason),
                timedelta(0),
            )
    assert explanation.render_text().count("\n") >= len(stretches)


WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _naive_day_target(naive: NaiveCalendar, created: datetime, kind: str, n: int) -> timedelta:
    """The day forms as the issue words them, walking dates one by one."""
    zone = naive.zone
    local = created.astimezone(zone)

    def open_after(day: date, count: int) -> date:
        while count:
            day += timedelta(days=1)
            count -= bool(naive.hours(day))
        return day

    def wall(day: date, minute: int) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(minutes=minute)

    if kind == "end_of_business_day":
        day = open_after(local.date(), n)
        return naive.elapsed(created, wall(day, naive.hours(day)[-1][1]))
    day, point = local.date(), 0
    at = local.hour * 60 + local.minute
    if naive.hours(day):
        point = sum(max(0, min(at, b) - a) for a, b in naive.hours(day))
    else:
        day = open_after(day, 1)
    day = open_after(day, n)
    for a, b in naive.hours(day):
        if point <= b - a:
            return naive.elapsed(created, wall(day, a + point))
        point -= b - a
    return naive.elapsed(created, wall(day, naive.hours(day)[-1][1]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(ZONES).flatmap(lambda zone: st.tuples(st.just(zone), instants(zone))),
    st.data(),
    st.sampled_from(("business_days", "end_of_business_day")),
    st.integers(1, 3),
)
def test_day_forms_are_the_naive_walk(
    zone_and_created: tuple[str, datetime], data: st.DataObject, kind: str, n: int
) -> None:
    zone, created = zone_and_created
    spec = data.draw(calendar_specs(zone, created))
    # Open days must come often enough for the naive walk to stay short.
    spec["hours"] = {day: spec["hours"].get(day) or ["09:00-17:00"] for day in WEEK[:5]} | {
        day: hours for day, hours in spec["hours"].items() if day in WEEK[5:]
    }
    policy = Policy.from_dict(
        {"calendar": Calendar.from_dict(spec), "targets": {"resolution": {"p": {kind: n}}}}
    )
    try:
        state = evaluate(policy, [{"at": created, "type": "created", "priority": "p"}], created)["resolution"]
    except ValueError:
        # A season over the whole year without hours: no open day ever comes.
        assume(False)
    assert state.target == _naive_day_target(NaiveCalendar(spec), created, kind, n)


# --------------------------------------------------------------------------- evaluate()'s fast path



def _general(policy: Policy, events: list[dict[str, Any]], now: datetime) -> dict[str, TargetState]:
    return states_of(policy, replay(policy, events, now))


@MODEL
@given(
    cases(),
    st.lists(st.integers(0, 59_999_999), min_size=14, max_size=14),
    st.sampled_from(("utc", "calendar", "other")),
)
def test_the_fast_path_is_the_general_replay(
    case: dict[str, Any], jitter: list[int], inputs: str
) -> None:
    """evaluate() runs a fused one-pass replay (_evaluate_fast); it must give exactly what the
    general replay (the one explain() uses) gives: same states, and the same instants down
    to the zone and fold. Events get sub-minute offsets (kept in order) and come in UTC,
    in the calendar's zone (repeated wall times) or in another zone."""
    policy = _policy(case)
    _opens_again(policy, case)
    zone = {"utc": UTC, "calendar": policy.calendar.zone, "other": ZoneInfo("Asia/Tokyo")}[inputs]
    events, moved = [], timedelta(0)
    for event, us in zip(case["events"], jitter, strict=False):
        moved = max(moved, timedelta(microseconds=us))  # never earlier than the event before
        events.append({**event, "at": (event["at"] + moved).astimezone(zone)})
    now = (case["now"] + moved).astimezone(zone)
    fast = _evaluate_fast(policy, events, now)
    assert fast is not None
    assert flat(fast) == flat(_general(policy, events, now))
    assert flat(evaluate(policy, events, now)) == flat(fast)


@MODEL
@given(
    cases(),
    st.integers(0, 12),
    st.sampled_from(("drop_at", "naive", "unknown_type", "bad_status", "bad_priority", "created_again",
                     "earlier", "after_now", "naive_now", "now_before_created", "empty")),
)
def test_the_fast_path_raises_what_the_general_replay_raises(
    case: dict[str, Any], where: int, fault: str
) -> None:
    """A bad timeline: the fast path declines (None) and evaluate() raises the general
    replay's error, word for word."""
    policy = _policy(case)
    events = [dict(event) for event in case["events"]]
    now = case["now"]
    event = events[where % len(events)]
    if fault == "drop_at":
        del event["at"]
    elif fault == "naive":
        event["at"] = event["at"].replace(tzinfo=None)
    elif fault == "unknown_type":
        event["type"] = "escalated"
    elif fault == "bad_status":
        event.update(type="status", status="pending")
    elif fault == "bad_priority":
        event.update(type="priority", priority=3)
    elif fault == "created_again":
        events.append({"at": events[-1]["at"], "type": "created", "priority": "high"})
    elif fault == "earlier":
        events.append({"at": events[-1]["at"] - timedelta(seconds=1), "type": "first_response"})
    elif fault == "after_now":
        events.append({"at": now + timedelta(microseconds=1), "type": "first_response"})
    elif fault == "naive_now":
        now = now.replace(tzinfo=None)
    elif fault == "now_before_created":
        now = events[0]["at"] - timedelta(microseconds=1)
    else:
        events = []
    with pytest.raises(ValueError) as general:
        _general(policy, events, now)
    assert _evaluate_fast(policy, events, now) is None
    with pytest.raises(ValueError) as public:
        evaluate(policy, events, now)
    assert str(public.value) == str(general.value)
