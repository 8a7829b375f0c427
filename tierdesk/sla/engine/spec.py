"""Parsing and validating the parts of a calendar spec (hours, dates).

Everything here turns user-written policy data into small immutable values and
raises ``ValueError`` naming the offending part (``hours.mon[1]``,
``seasons[0].dates[2]``...), so that a provider editing a calendar sees where
the mistake is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# (start, end) in seconds since local midnight; end may be 86400 ("24:00").
Interval = tuple[int, int]
# The open intervals of one day: sorted, disjoint and not touching.
DayHours = tuple[Interval, ...]
# Monday first, as date.weekday() counts.
WeekHours = tuple[DayHours, ...]
MonthDay = tuple[int, int]

_INTERVAL = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*")
_MONTH_DAY = re.compile(r"(\d{2})-(\d{2})")
_FULL_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def parse_interval(text: object, where: str) -> Interval:
    """Parse ``"HH:MM-HH:MM"`` into seconds since midnight."""
    match = _INTERVAL.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{where}: {text!r} is not an interval like '09:00-18:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{where}: {text!r} has a time outside 00:00..24:00")
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if end <= start:
        raise ValueError(
            f"{where}: {text!r} ends before it starts; "
            "split hours that run past midnight into two days (e.g. '22:00-24:00' and '00:00-06:00')"
        )
    return start, end


def parse_day_hours(value: object, where: str) -> DayHours:
    """Parse one day's list of intervals; overlapping intervals are an error, touching ones merge."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{where}: expected a list of intervals like ['09:00-18:00'], got {value!r}")
    parsed = sorted(
        (parse_interval(text, f"{where}[{i}]"), text) for i, text in enumerate(value)
    )
    merged: list[Interval] = []
    previous_text = ""
    for (start, end), text in parsed:
        if merged and start < merged[-1][1]:
            raise ValueError(f"{where}: intervals {previous_text!r} and {text!r} overlap")
        if merged and start == merged[-1][1]:
            # '09:00-12:00' and '12:00-18:00' are one open stretch; keeping them
            # apart would only make more, shorter intervals.
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
        previous_text = text
    return tuple(merged)


def parse_week_hours(value: object, where: str) -> WeekHours:
    """Parse ``{"mon": [...], ...}``; a missing weekday is closed."""
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a mapping of weekday to intervals, got {value!r}")
    for key in value:
        if key not in WEEKDAYS:
            raise ValueError(f"{where}: unknown weekday {key!r} (use one of {', '.join(WEEKDAYS)})")
    return tuple(
        parse_day_hours(value[day], f"{where}.{day}") if day in value else () for day in WEEKDAYS
    )


@dataclass(frozen=True, slots=True)
class DateSet:
    """Dates written as ``YYYY-MM-DD``, ``MM-DD`` (every year) or ``MM-DD..MM-DD``."""

    dates: frozenset[date] = frozenset()
    month_days: frozenset[MonthDay] = frozenset()
    # Inclusive; a range whose end is before its start runs over the new year.
    ranges: tuple[tuple[MonthDay, MonthDay], ...] = ()

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if day in self.dates:
            return True
        month_day = (day.month, day.day)
        if month_day in self.month_days:
            return True
        for first, last in self.ranges:
            if first <= last:
                if first <= month_day <= last:
                    return True
            elif month_day >= first or month_day <= last:
                return True
        return False


def _parse_month_day(text: str, where: str) -> MonthDay:
    match = _MONTH_DAY.fullmatch(text)
    if match is None:
        raise ValueError(f"{where}: {text!r} is not a date like 'MM-DD'")
    month, day = int(match[1]), int(match[2])
    try:
        date(2000, month, day)  # a leap year, so that '02-29' is allowed
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a valid month and day") from None
    return month, day


def parse_dates(value: object, where: str) -> DateSet:
    """Parse a list of ``YYYY-MM-DD``, ``MM-DD`` and ``MM-DD..MM-DD`` entries."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{where}: expected a list of dates, got {value!r}")
    dates: set[date] = set()
    month_days: set[MonthDay] = set()
    ranges: list[tuple[MonthDay, MonthDay]] = []
    for i, text in enumerate(value):
        item = f"{where}[{i}]"
        if not isinstance(text, str):
            raise ValueError(f"{item}: expected a date string, got {text!r}")
        text = text.strip()
        if ".." in text:
            first, _, last = text.partition("..")
            ranges.append((_parse_month_day(first, item), _parse_month_day(last, item)))
        elif (full := _FULL_DATE.fullmatch(text)) is not None:
            try:
                dates.add(date(int(full[1]), int(full[2]), int(full[3])))
            except ValueError:
                raise ValueError(f"{item}: {text!r} is not a valid date") from None
        else:
            month_days.add(_parse_month_day(text, item))
    return DateSet(frozenset(dates), frozenset(month_days), tuple(ranges))


@dataclass(frozen=True, slots=True)
class Season:
    """Dates on which other weekly hours apply (summer hours, Christmas Eve...)."""

    dates: DateSet
    week: WeekHours
    name: str = ""


def parse_seasons(value: object, where: str) -> tuple[Season, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{where}: expected a list of seasons, got {value!r}")
    seasons = []
    for i, season in enumerate(value):
        item = f"{where}[{i}]"
        if not isinstance(season, Mapping):
            raise ValueError(f"{item}: expected a mapping with 'dates' and 'hours', got {season!r}")
        check_keys(season, {"dates", "hours"}, {"name"}, item)
        name = season.get("name", "")
        if not isinstance(name, str):
            raise ValueError(f"{item}.name: expected a string, got {name!r}")
        seasons.append(
            Season(
                dates=parse_dates(season["dates"], f"{item}.dates"),
                week=parse_week_hours(season["hours"], f"{item}.hours"),
                name=name,
            )
        )
    return tuple(seasons)


def check_keys(
    value: Mapping[str, Any], required: set[str], optional: set[str], where: str
) -> None:
    """Reject missing and unknown keys, so that a typo ('holiday') is not silently ignored."""
    missing = sorted(required - value.keys())
    if missing:
        raise ValueError(f"{where}: missing {', '.join(repr(k) for k in missing)}")
    unknown = sorted(str(k) for k in value.keys() - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (allowed: {allowed})")
