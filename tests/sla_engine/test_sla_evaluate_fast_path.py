"""evaluate()'s fused pass (_evaluate_fast: one counter for all clocks, events placed on the
running total only where counting starts or stops) against the general replay, on what
test_sla_evaluate_properties.py does not draw: any non-final status as a pause status
("new" too), day-based targets, long timelines that cross the engine's 365-day blocks,
many priority changes, and instants at the edge of what the engine covers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sla_exact import flat
from sla_strategies import ZONES, calendar_specs, instants, opens_at_all

from tierdesk.sla.engine import Calendar, Policy, TargetState, evaluate
from tierdesk.sla.engine.calendar import BLOCK_US
from tierdesk.sla.engine.instants import EPOCH, MICROSECOND
from tierdesk.sla.engine.timeline import _evaluate_fast, replay, states_of

DIFF = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATUSES = ("new", "open", "in_progress", "waiting_customer", "waiting_third_party", "resolved", "closed")
PRIORITIES = ("high", "mid", "low")
TARGETS = ("first_response", "resolution_plan", "resolution")
BLOCK_EDGES = tuple(EPOCH + MICROSECOND * (k * BLOCK_US) for k in range(55, 59))
KINDS = ("status",) * 4 + ("priority",) * 2 + ("first_response", "resolution_plan")
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")




def _outcome(function: Any, *args: Any) -> Any:
    try:
        return flat(function(*args))
    except ValueError as error:
        return ("error", str(error))


target_values = st.one_of(
    st.sampled_from((1, 30, 60, 90, 240, 480, 1440, 10_000)),
    st.builds(lambda n: {"business_days": n}, st.integers(1, 3)),
    st.builds(lambda n: {"end_of_business_day": n}, st.integers(1, 2)),
)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    zone = draw(st.sampled_from(ZONES))
    created = draw(st.one_of(
        instants(zone),
        st.sampled_from(BLOCK_EDGES).flatmap(
            lambda edge: st.integers(-20 * 1440, 2 * 1440).map(lambda m: edge + timedelta(minutes=m))),
    )) + timedelta(microseconds=draw(st.integers(0, 59_999_999)))
    spec = draw(calendar_specs(zone, created))
    if draw(st.integers(0, 4)) == 0:
        spec["hours"] = {day: ["00:00-24:00"] for day in WEEK}
    assume(opens_at_all(spec))
    targets = {
        name: {priority: draw(target_values) for priority in PRIORITIES if draw(st.integers(0, 4)) > 0}
        for name in TARGETS
        if draw(st.integers(0, 5)) > 0
    }
    pauses = draw(st.lists(st.sampled_from(STATUSES[:5]), unique=True, max_size=3))
    first = draw(st.sampled_from(PRIORITIES))
    events: list[dict[str, Any]] = [{"at": created, "type": "created", "priority": first}]
    at = created
    # Steps of up to a day, or (rarely) of months: a timeline may cross a block edge.
    step = st.one_of(st.integers(0, 1440), st.integers(0, 200 * 1440))
    for _ in range(draw(st.integers(0, 20))):
        at += timedelta(minutes=draw(step), microseconds=draw(st.integers(0, 999_999)))
        kind = draw(st.sampled_from(KINDS))
        event: dict[str, Any] = {"at": at, "type": kind}
        if kind == "status":
            event["status"] = draw(st.sampled_from(STATUSES))
        elif kind == "priority":
            event["priority"] = draw(st.sampled_from(PRIORITIES))
        events.append(event)
    now = at + timedelta(minutes=draw(st.one_of(st.integers(0, 1440), st.integers(0, 400 * 1440))))
    inputs = draw(st.sampled_from((UTC, None, ZoneInfo("Asia/Tokyo"))))
    calendar = Calendar.from_dict(spec)
    zone_of = inputs or calendar.zone
    events = [{**event, "at": event["at"].astimezone(zone_of)} for event in events]
    policy = Policy.from_dict({"calendar": calendar, "targets": targets, "pause_statuses": pauses})
    return {"policy": policy, "events": events, "now": now.astimezone(zone_of)}


def _general(policy: Policy, events: list[dict[str, Any]], now: datetime) -> dict[str, TargetState]:
    return states_of(policy, replay(policy, events, now))


@DIFF
@given(cases())
def test_the_fast_pass_is_the_general_replay(case: dict[str, Any]) -> None:
    policy, events, now = case["policy"], case["events"], case["now"]
    general = _outcome(_general, policy, events, now)
    fast = _outcome(_evaluate_fast, policy, events, now)
    assert fast == general
    assert _outcome(evaluate, policy, events, now) == general
    # At a due instant the target is reached exactly (nothing left to add) and still
    # runs; and a microsecond before and after it.
    if isinstance(general, dict):
        for name, (state, *_rest) in general.items():
            if state != "running":
                continue
            due = _general(policy, events, now)[name].due
            assert due is not None
            for moment in (due.astimezone(UTC) - MICROSECOND, due, due.astimezone(UTC) + MICROSECOND):
                later = moment.astimezone(UTC).astimezone(now.tzinfo)
                if later.astimezone(UTC) >= now.astimezone(UTC):
                    fast = _outcome(_evaluate_fast, policy, events, later)
                    assert fast == _outcome(_general, policy, events, later)


def test_instants_past_what_the_engine_covers_raise_as_the_general_replay_does() -> None:
    """A ticket paused at a now in the year 9999: the fast pass never places now on the
    running total, but it must decline, and evaluate() raise the general replay's error."""
    policy = Policy.from_dict({
        "calendar": {"timezone": "Europe/Madrid", "hours": {"mon": ["09:00-17:00"]}},
        "targets": {"resolution": {"high": 60}},
        "pause_statuses": ["waiting_customer"],
    })
    created = datetime(9998, 6, 1, 9, tzinfo=UTC)
    events = [{"at": created, "type": "created", "priority": "high"},
              {"at": created, "type": "status", "status": "waiting_customer"}]
    now = datetime(9999, 6, 1, tzinfo=UTC)
    assert _evaluate_fast(policy, events, now) is None
    with pytest.raises(ValueError) as general:
        _general(policy, events, now)
    with pytest.raises(ValueError) as public:
        evaluate(policy, events, now)
    assert str(public.value) == str(general.value)


def test_new_as_a_pause_status_counts_nothing_until_the_ticket_moves() -> None:
    policy = Policy.from_dict({
        "calendar": {"timezone": "Europe/Madrid", "hours": {day: ["09:00-17:00"] for day in WEEK[:5]}},
        "targets": {"first_response": {"high": 60}, "resolution": {"high": 120}},
        "pause_statuses": ["new"],
    })
    zone = ZoneInfo("Europe/Madrid")
    created = datetime(2026, 11, 23, 9, tzinfo=zone)  # Monday
    events = [{"at": created, "type": "created", "priority": "high"},
              {"at": created + timedelta(hours=3), "type": "status", "status": "open"}]
    states = evaluate(policy, events, created + timedelta(hours=4))
    assert flat(states) == flat(_general(policy, events, created + timedelta(hours=4)))
    assert states["first_response"].elapsed == timedelta(hours=1)
    assert states["first_response"].state == "running"
    assert states["first_response"].due == created + timedelta(hours=4)
