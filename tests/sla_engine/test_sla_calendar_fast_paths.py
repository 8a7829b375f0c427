"""add() and elapsed() answer most calls on timedeltas (Calendar._fast_block); the
integer path (_add, _elapsed, add_us, elapsed_us) answers every call. The two must
agree exactly: the same instant, wall clock, fold and zone, the same errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sla_strategies import ZONES, calendar_specs, instants, opens_at_all, sub_minute, transitions

from tierdesk.sla.engine import Calendar
from tierdesk.sla.engine.calendar import BLOCK_US
from tierdesk.sla.engine.instants import EPOCH, MICROSECOND

DIFF = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The edges of the blocks of 365 days the intervals are cached in, near the years tested.
BLOCK_EDGES = tuple(EPOCH + MICROSECOND * (k * BLOCK_US) for k in range(55, 59))


def _exact(instant: datetime) -> tuple[Any, ...]:
    """Everything that tells two equal instants apart."""
    return (instant, instant.replace(tzinfo=None), instant.fold, instant.tzinfo, type(instant))


@st.composite
def cases(draw: st.DrawFn) -> tuple[Calendar, datetime]:
    """A calendar (seasons over the new year, 24:00 ends, holidays, closed days) and an
    instant near a DST change, a new year, a block edge, or anywhere."""
    zone = draw(st.sampled_from(ZONES))
    instant = draw(
        st.one_of(
            instants(zone),
            st.sampled_from(BLOCK_EDGES).flatmap(
                lambda edge: st.integers(-3 * 1440, 3 * 1440).map(lambda m: edge + timedelta(minutes=m))
            ),
        )
    ) + draw(sub_minute)
    spec = draw(calendar_specs(zone, instant))
    if draw(st.integers(0, 4)) == 0:  # 24x7, or a day that ends at 24:00
        spec["hours"] = {day: ["00:00-24:00"] for day in WEEK} if draw(st.booleans()) else {
            **spec["hours"], "fri": ["17:00-24:00"], "sat": ["00:00-02:30"]}
    assume(opens_at_all(spec))
    return Calendar.from_dict(spec), instant


deltas = st.one_of(
    st.just(timedelta(0)),
    st.integers(1, 10_000).map(lambda us: timedelta(microseconds=us)),
    st.integers(1, 3 * 1440).map(lambda m: timedelta(minutes=m)),
    st.tuples(st.integers(1, 3 * 1440), sub_minute).map(lambda p: timedelta(minutes=p[0]) + p[1]),
    st.integers(1, 20 * 365).map(lambda d: timedelta(days=d)),  # huge: years of business time
)
input_zones = st.sampled_from((UTC, None, ZoneInfo("Asia/Tokyo"), ZoneInfo("America/St_Johns")))


def _in(zone: tzinfo | None, calendar: Calendar, instant: datetime) -> datetime:
    return instant.astimezone(zone or calendar.zone)


def _outcome(function: Any, *args: Any) -> tuple[Any, ...]:
    try:
        result = function(*args)
    except ValueError as error:
        return ("error", str(error))
    return _exact(result) if isinstance(result, datetime) else (result, type(result))


@DIFF
@given(cases(), deltas, input_zones)
def test_add_fast_path_is_the_integer_path(case: tuple[Calendar, datetime], delta: timedelta,
                                           zone: tzinfo | None) -> None:
    calendar, instant = case
    start = _in(zone, calendar, instant)
    assert _outcome(calendar.add, start, delta) == _outcome(calendar._add, start, delta)
    # evaluate()'s due instants: the same step on timedeltas since the epoch.
    expected = _outcome(lambda: calendar.from_us(calendar.add_us(
        (start - EPOCH) // MICROSECOND, delta // MICROSECOND)))
    assert _outcome(calendar.instant_after, start - EPOCH, delta) == expected


@DIFF
@given(cases(), deltas, sub_minute, input_zones, input_zones)
def test_elapsed_fast_path_is_the_integer_path(
    case: tuple[Calendar, datetime], span: timedelta, part: timedelta, zone: tzinfo | None,
    end_zone: tzinfo | None,
) -> None:
    calendar, instant = case
    start = _in(zone, calendar, instant)
    end = _in(end_zone, calendar, instant + min(span, timedelta(days=800)) + part)
    assert _outcome(calendar.elapsed, start, end) == _outcome(calendar._elapsed, start, end)
    assert _outcome(calendar.elapsed, start, end) == (
        MICROSECOND * calendar.elapsed_us((start - EPOCH) // MICROSECOND, (end - EPOCH) // MICROSECOND),
        timedelta,
    )
    # end before start: the same error either way.
    if end > start:
        assert _outcome(calendar.elapsed, end, start) == _outcome(calendar._elapsed, end, start)


@pytest.mark.parametrize("zone", ZONES)
def test_the_fast_path_through_every_dst_change(zone: str) -> None:
    """Every 7 minutes for 6 hours around each offset change, with a 2-hour delta, on a
    calendar open 01:00-04:00 (the hours DST moves) and 24x7: each call as the integer
    path gives it."""
    for hours in (["01:00-04:00", "22:00-24:00"], ["00:00-24:00"]):
        calendar = Calendar.from_dict({"timezone": zone, "hours": {day: hours for day in WEEK}})
        for change in transitions(zone):
            for minutes in range(-180, 180, 7):
                start = (change + timedelta(minutes=minutes)).astimezone(calendar.zone)
                for delta in (timedelta(minutes=1), timedelta(hours=2), timedelta(hours=2, microseconds=1)):
                    assert _exact(calendar.add(start, delta)) == _exact(calendar._add(start, delta))
                    end = (start.astimezone(UTC) + delta).astimezone(calendar.zone)
                    assert calendar.elapsed(start, end) == calendar._elapsed(start, end)


class _Moment(datetime):
    """A datetime subclass (as test clocks make): it takes the integer path."""


def test_other_inputs_take_the_integer_path_and_raise_as_before() -> None:
    calendar = Calendar.from_dict({"timezone": "Europe/Madrid", "hours": {"mon": ["09:00-17:00"]}})
    start = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    moment = _Moment(2026, 11, 23, 10, 30, tzinfo=UTC)
    assert _exact(calendar.add(moment, timedelta(hours=3))) == _exact(calendar.add(start, timedelta(hours=3)))
    assert calendar.elapsed(moment, moment + timedelta(days=8)) == timedelta(hours=13, minutes=30)
    assert _exact(calendar.add(start, timedelta(0))) == _exact(start.astimezone(calendar.zone))
    with pytest.raises(ValueError, match="aware"):
        calendar.add(start.replace(tzinfo=None), timedelta(hours=1))
    with pytest.raises(ValueError, match="aware"):
        calendar.elapsed(start, start.replace(tzinfo=None))
    with pytest.raises(ValueError, match="negative"):
        calendar.add(start, timedelta(microseconds=-1))
    with pytest.raises(ValueError, match="before start"):
        calendar.elapsed(start, start - MICROSECOND)
    with pytest.raises(TypeError):
        calendar.add(start, 60)  # type: ignore[arg-type]
