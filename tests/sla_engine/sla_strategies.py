"""Hypothesis strategies: calendars in awkward zones, instants where they hurt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

ZONES = ("Europe/Madrid", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Pacific/Chatham")
HOLIDAYS = {
    "Europe/Madrid": {"country": "ES", "subdivision": "MD"},
    "America/New_York": {"country": "US", "subdivision": "NY"},
    "Australia/Sydney": {"country": "AU", "subdivision": "NSW"},
    "Asia/Kolkata": {"country": "IN"},
    "Pacific/Chatham": {"country": "NZ", "subdivision": "CIT"},
}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
YEARS = range(2025, 2028)

# Edges that matter somewhere: midnight, the hours DST moves (Chatham at
# 2:45, the others at 2:00 or 3:00), and 24:00.
_SPECIAL_MINUTES = (0, 60, 120, 150, 165, 180, 225, 240, 1380, 1440)


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """The zone's offset changes in YEARS, found the slow way (hour by hour, then minute)."""
    tz = ZoneInfo(zone)
    found = []
    t = datetime(YEARS[0], 1, 1, tzinfo=UTC)
    end = datetime(YEARS[-1] + 1, 1, 1, tzinfo=UTC)
    while t < end:
        if t.astimezone(tz).utcoffset() != (t + timedelta(hours=1)).astimezone(tz).utcoffset():
            m = t
            while m.astimezone(tz).utcoffset() == t.astimezone(tz).utcoffset():
                m += timedelta(minutes=1)
            found.append(m)
        t += timedelta(hours=1)
    return tuple(found)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def day_hours(draw: st.DrawFn) -> list[str]:
    """0 to 3 intervals of one day; sometimes one split in two touching halves."""
    count = draw(st.integers(0, 3))
    points = draw(
        st.sets(
            st.one_of(st.integers(0, 1440), st.sampled_from(_SPECIAL_MINUTES)),
            min_size=2 * count,
            max_size=2 * count,
        )
    )
    edges = sorted(points)
    intervals = [(edges[i], edges[i + 1]) for i in range(0, len(edges), 2)]
    if intervals and draw(st.booleans()):
        a, b = intervals[0]
        if b - a >= 2:
            middle = (a + b) // 2
            intervals[0:1] = [(a, middle), (middle, b)]
    return [f"{_clock(a)}-{_clock(b)}" for a, b in intervals]


@st.composite
def week_hours(draw: st.DrawFn) -> dict[str, list[str]]:
    return {day: draw(day_hours()) for day in WEEKDAYS if draw(st.integers(0, 5)) > 0}


@st.composite
def month_day(draw: st.DrawFn, near: datetime) -> str:
    day = near + timedelta(days=draw(st.integers(-4, 4)))
    return f"{day:%m-%d}"


@st.composite
def calendar_specs(draw: st.DrawFn, zone: str, near: datetime) -> dict[str, Any]:
    """A calendar with dates (seasons, closed days) near the instant the test looks at."""
    spec: dict[str, Any] = {"timezone": zone, "hours": draw(week_hours())}
    seasons = []
    for _ in range(draw(st.integers(0, 2))):
        dates = draw(
            st.lists(
                st.one_of(
                    month_day(near),
                    st.builds(lambda a, b: f"{a}..{b}", month_day(near), month_day(near)),
                    st.just("12-20..01-06"),  # over the new year
                    st.just(f"{near:%Y-%m-%d}"),
                ),
                min_size=1,
                max_size=3,
            )
        )
        seasons.append({"name": "season", "dates": dates, "hours": draw(week_hours())})
    if seasons:
        spec["seasons"] = seasons
    closed = draw(st.lists(st.one_of(month_day(near), st.just(f"{near:%Y-%m-%d}")), max_size=2))
    if closed:
        spec["closed"] = closed
    if draw(st.integers(0, 3)) == 0:
        spec["holidays"] = HOLIDAYS[zone]
    return spec


def opens_at_all(spec: dict[str, Any]) -> bool:
    weeks = [spec["hours"], *(season["hours"] for season in spec.get("seasons", []))]
    return any(any(week.values()) for week in weeks)


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    """Whole UTC minutes, within a few days of a DST change or a new year, or anywhere."""
    anchors = [*transitions(zone), *(datetime(year, 1, 1, tzinfo=ZoneInfo(zone)) for year in YEARS)]
    anchor = draw(
        st.one_of(
            st.sampled_from(anchors),
            st.datetimes(datetime(2025, 1, 1), datetime(2027, 12, 1)).map(
                lambda dt: dt.replace(second=0, microsecond=0, tzinfo=UTC)
            ),
        )
    )
    return (anchor + timedelta(minutes=draw(st.integers(-3 * 1440, 3 * 1440)))).astimezone(UTC)


@st.composite
def calendar_and_instant(draw: st.DrawFn) -> tuple[dict[str, Any], datetime]:
    zone = draw(st.sampled_from(ZONES))
    instant = draw(instants(zone))
    spec = draw(calendar_specs(zone, instant))
    return spec, instant


# Some sub-minute precision, to check that nothing is rounded away.
sub_minute = st.one_of(st.just(timedelta(0)), st.integers(1, 59_999_999).map(
    lambda us: timedelta(microseconds=us)
))
