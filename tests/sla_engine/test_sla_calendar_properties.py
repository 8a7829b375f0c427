"""add() and elapsed() against the naive minute-by-minute model, and their laws."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sla_naive import NaiveCalendar
from sla_strategies import ZONES, calendar_and_instant, opens_at_all, sub_minute, transitions

from tierdesk.sla.engine import Calendar

US = timedelta(microseconds=1)
# Random calendars and a minute-stepping model are slow; these counts keep the
# whole folder well under a minute and still reach the DST and new-year edges.
MODEL = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LAWS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _build(spec: dict[str, Any]) -> tuple[Calendar, NaiveCalendar]:
    assume(opens_at_all(spec))
    return Calendar.from_dict(spec), NaiveCalendar(spec)


# Inputs as the ORM gives them (UTC), in the calendar's own zone, or in another.
input_zones = st.sampled_from((UTC, None, ZoneInfo("Asia/Tokyo")))


def _in(zone: tzinfo | None, calendar: Calendar, instant: datetime) -> datetime:
    return instant.astimezone(zone or calendar.zone)


@MODEL
@given(calendar_and_instant(), st.integers(0, 3 * 1440), sub_minute, sub_minute, input_zones)
def test_elapsed_is_the_naive_count(
    case: tuple[dict[str, Any], datetime],
    minutes: int,
    start_part: timedelta,
    end_part: timedelta,
    zone: tzinfo | None,
) -> None:
    spec, instant = case
    calendar, naive = _build(spec)
    start = instant + start_part
    end = max(start, instant + timedelta(minutes=minutes) + end_part)
    assert calendar.elapsed(_in(zone, calendar, start), _in(zone, calendar, end)) == naive.elapsed(start, end)


@MODEL
@given(calendar_and_instant(), st.integers(0, 2 * 1440), sub_minute, sub_minute, input_zones)
def test_add_is_the_naive_walk(
    case: tuple[dict[str, Any], datetime],
    minutes: int,
    start_part: timedelta,
    delta_part: timedelta,
    zone: tzinfo | None,
) -> None:
    spec, instant = case
    calendar, naive = _build(spec)
    start = _in(zone, calendar, instant + start_part)
    delta = timedelta(minutes=minutes) + delta_part
    try:
        result = calendar.add(start, delta)
    except ValueError:
        # Never open again (a season closes the only open date): tested elsewhere.
        assume(False)
    # A sparse calendar can put the answer months away; the walk stays short.
    assume(result - start < timedelta(days=12))
    # In UTC: Python never equates a datetime in a repeated hour with one of
    # another zone (PEP 495), and compares two of one zone by wall clock.
    assert result.astimezone(UTC) == naive.add(start, delta).astimezone(UTC)


@MODEL
@given(calendar_and_instant(), st.integers(-1440, 1440))
def test_is_open_and_next_open_follow_the_definition(
    case: tuple[dict[str, Any], datetime], minutes: int
) -> None:
    spec, instant = case
    calendar, naive = _build(spec)
    minute = instant + timedelta(minutes=minutes)
    assert calendar.is_open(minute) == naive.minute_open(minute)
    try:
        following = calendar.next_open(minute).astimezone(UTC)
    except ValueError:
        # Never open again (a season closes the only open date): tested elsewhere.
        assume(False)
    assume(following - minute < timedelta(days=10))
    assert naive.minute_open(following)
    assert naive.elapsed(minute, following) == timedelta(0)


@LAWS
@given(
    calendar_and_instant(),
    st.one_of(
        st.just(timedelta(0)),
        st.integers(1, 10_000).map(lambda us: timedelta(microseconds=us)),
        st.integers(1, 10 * 1440).map(lambda m: timedelta(minutes=m)),
        st.integers(1, 20 * 365).map(lambda d: timedelta(days=d)),  # huge: years of business time
    ),
    st.integers(0, 5 * 1440).map(lambda m: timedelta(minutes=m)),
    sub_minute,
)
def test_add_and_elapsed_are_inverse_and_add_is_minimal(
    case: tuple[dict[str, Any], datetime], delta: timedelta, more: timedelta, start_part: timedelta
) -> None:
    spec, instant = case
    calendar, _ = _build(spec)
    start = instant + start_part
    try:
        result = calendar.add(start, delta)
    except ValueError:
        # A calendar open only on a date of one year runs out: say so, not hang.
        assume(False)
    assert calendar.elapsed(start, result) == delta
    if delta:
        # Minimal: a microsecond earlier, the open time is short of delta.
        assert calendar.elapsed(start, result.astimezone(UTC) - US) < delta
    else:
        assert result.astimezone(UTC) == start
    # Additive, both ways.
    later = calendar.add(result, more)
    assert calendar.add(start, delta + more).astimezone(UTC) == later.astimezone(UTC)
    assert calendar.elapsed(start, result) + calendar.elapsed(result, later) == calendar.elapsed(
        start, later
    )
    # In the calendar's zone, with the wall clock and fold astimezone() gives.
    assert result.tzinfo is calendar.zone
    again = result.astimezone(UTC).astimezone(calendar.zone)
    assert (result.replace(tzinfo=None), result.fold) == (again.replace(tzinfo=None), again.fold)


WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS_9_17 = {"timezone": "Europe/Madrid", "hours": {"mon": ["09:00-17:00"]}}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"timezone": "Mars/Olympus", "hours": {}}, "timezone"),
        ({"timezone": "Europe/Madrid", "hours": {"mon": ["18:00-09:00"]}}, "hours.mon[0]"),
        ({"timezone": "Europe/Madrid", "hours": {"mon": ["09:00-13:00", "12:00-18:00"]}}, "overlap"),
        ({"timezone": "Europe/Madrid", "hours": {"mon": ["9-17"]}}, "hours.mon[0]"),
        ({"timezone": "Europe/Madrid", "hours": {"mon": ["09:00-24:30"]}}, "hours.mon[0]"),
        ({"timezone": "Europe/Madrid", "hours": {"monday": ["09:00-17:00"]}}, "unknown weekday 'monday'"),
        ({**WEEKDAYS_9_17, "closed": ["2026-02-30"]}, "closed[0]"),
        ({**WEEKDAYS_9_17, "closed": ["13-01"]}, "closed[0]"),
        ({**WEEKDAYS_9_17, "seasons": [{"dates": ["07-01..08-32"], "hours": {}}]}, "seasons[0].dates[0]"),
        (
            {**WEEKDAYS_9_17, "seasons": [{"dates": ["07-01"], "hours": {"sat": ["x"]}}]},
            "seasons[0].hours.sat",
        ),
        ({**WEEKDAYS_9_17, "holidays": {"country": "XX"}}, "holidays.country"),
        ({**WEEKDAYS_9_17, "holidays": {"country": "ES", "subdivision": "ZZ"}}, "holidays.subdivision"),
        ({**WEEKDAYS_9_17, "holiday": {"country": "ES"}}, "unknown key 'holiday'"),
        ({"timezone": "Europe/Madrid", "hours": {"sat": []}}, "never opens"),
    ],
)
def test_invalid_specs_name_the_offending_part(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Calendar.from_dict(spec)


def test_misuse_raises_value_error() -> None:
    calendar = Calendar.from_dict(WEEKDAYS_9_17)
    start = datetime(2026, 11, 23, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        calendar.add(datetime(2026, 11, 23, 9), timedelta(hours=1))
    with pytest.raises(ValueError, match="aware"):
        calendar.elapsed(start, datetime(2026, 11, 24))
    with pytest.raises(ValueError, match="negative"):
        calendar.add(start, timedelta(minutes=-1))
    with pytest.raises(ValueError, match="before start"):
        calendar.elapsed(start, start - US)


def test_a_calendar_that_stops_opening_raises_instead_of_hanging() -> None:
    once = Calendar.from_dict({
        "timezone": "Europe/Madrid",
        "seasons": [{"dates": ["2020-01-01"], "hours": {"wed": ["09:00-17:00"]}}],
    })
    before = datetime(2019, 12, 31, tzinfo=UTC)
    assert once.add(before, timedelta(hours=8)) == datetime(2020, 1, 1, 17, tzinfo=once.zone)
    with pytest.raises(ValueError, match="no open time"):
        once.add(before, timedelta(hours=9))


def test_microseconds_survive_the_arithmetic() -> None:
    calendar = Calendar.from_dict({"timezone": "Asia/Kolkata", "hours": {"mon": ["09:00-17:00"]}})
    start = datetime(2026, 11, 23, 10, 0, 0, 123_457, tzinfo=calendar.zone)
    delta = timedelta(hours=3, microseconds=999_999)
    assert calendar.add(start, delta) == datetime(2026, 11, 23, 13, 0, 1, 123_456, tzinfo=calendar.zone)
    assert calendar.add(start, timedelta(0)) == start


@pytest.mark.parametrize("zone", ZONES)
def test_every_instant_around_each_dst_change_converts_back_exactly(zone: str) -> None:
    # Whole minutes around every offset change of three years, on a calendar
    # that never closes: add() must give the very instant, and astimezone's
    # wall clock and fold for it (the repeated hour is where that goes wrong).
    calendar = Calendar.from_dict({"timezone": zone, "hours": {day: ["00:00-24:00"] for day in WEEK}})
    for change in transitions(zone):
        start = change - timedelta(hours=3)
        for minutes in range(0, 6 * 60, 7):
            result = calendar.add(start, timedelta(minutes=minutes))
            expected = (start + timedelta(minutes=minutes)).astimezone(calendar.zone)
            assert (result, result.replace(tzinfo=None), result.fold) == (
                expected, expected.replace(tzinfo=None), expected.fold
            )
