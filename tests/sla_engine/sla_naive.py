"""A deliberately naive model of the SLA engine, to test the fast one against.

It reads the calendar spec on its own (it shares no code with the engine),
and walks time one UTC minute at a time: a minute is open iff the local wall
clock of its first instant lies in an interval of its local date. That is the
definition itself, and exact for the zones tested, whose offsets and
transitions fall on whole minutes (so a minute is all open or all closed).
Slow on purpose: use it on spans of a few days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays

MINUTE = timedelta(minutes=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DONE = {"resolved", "closed"}


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _matches(entry: str, day: date) -> bool:
    if ".." in entry:
        first, last = (tuple(int(x) for x in part.split("-")) for part in entry.split(".."))
        here = (day.month, day.day)
        return first <= here <= last if first <= last else here >= first or here <= last
    parts = [int(x) for x in entry.split("-")]
    if len(parts) == 3:
        return date(*parts) == day
    return (day.month, day.day) == tuple(parts)


class NaiveCalendar:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec
        self.zone = ZoneInfo(spec["timezone"])
        self._days: dict[date, list[tuple[int, int]]] = {}
        self._years: dict[int, holidays.HolidayBase] = {}

    def hours(self, day: date) -> list[tuple[int, int]]:
        """Open minutes of the local date, as [start, end) minute-of-day pairs."""
        if day not in self._days:
            self._days[day] = self._hours(day)
        return self._days[day]

    def _hours(self, day: date) -> list[tuple[int, int]]:
        spec = self.spec
        if any(_matches(entry, day) for entry in spec.get("closed", [])):
            return []
        if "holidays" in spec and day in self._holidays(day.year):
            return []
        week = spec.get("hours", {})
        for season in spec.get("seasons", []):
            if any(_matches(entry, day) for entry in season["dates"]):
                week = season["hours"]
                break
        return [
            (_minutes(text.split("-")[0]), _minutes(text.split("-")[1]))
            for text in week.get(WEEKDAYS[day.weekday()], [])
        ]

    def _holidays(self, year: int) -> holidays.HolidayBase:
        if year not in self._years:
            source = self.spec["holidays"]
            self._years[year] = holidays.country_holidays(
                source["country"], subdiv=source.get("subdivision"), years=year
            )
        return self._years[year]

    def minute_open(self, minute: datetime) -> bool:
        local = minute.astimezone(self.zone)
        at = local.hour * 60 + local.minute
        return any(a <= at < b for a, b in self.hours(local.date()))

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time in [start, end), minute by minute (partial minutes at the ends)."""
        # All in UTC: arithmetic on a zone's datetimes is wall-clock arithmetic.
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        total = timedelta(0)
        minute = _floor_minute(start)
        while minute < end:
            if self.minute_open(minute):
                total += min(end, minute + MINUTE) - max(start, minute)
            minute += MINUTE
        return total

    def add(self, start: datetime, delta: timedelta, *, max_minutes: int = 20_000) -> datetime:
        """The earliest t >= start with elapsed(start, t) == delta, minute by minute."""
        if delta == timedelta(0):
            return start
        start = start.astimezone(UTC)
        left = delta
        minute = _floor_minute(start)
        for _ in range(max_minutes):
            if self.minute_open(minute):
                begin = max(start, minute)
                available = minute + MINUTE - begin
                if left <= available:
                    return begin + left
                left -= available
            minute += MINUTE
        raise AssertionError("the naive add() walked too far; keep deltas small")


def _floor_minute(instant: datetime) -> datetime:
    utc = instant.astimezone(UTC)
    return utc.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class NaiveState:
    state: str
    elapsed: timedelta
    due: datetime | None
    met_at: datetime | None
    target: timedelta
    breached_at: datetime | None


def naive_evaluate(
    calendar: NaiveCalendar,
    targets: Mapping[str, Mapping[str, int]],
    pauses: Sequence[str],
    events: Sequence[Mapping[str, Any]],
    now: datetime,
) -> dict[str, NaiveState]:
    """The issue's semantics, minute by minute; targets in minutes, instants on whole minutes.

    At each minute: apply the events at it; a target in force that elapsed
    already exceeds is breached there; then every target that is not stopped,
    in a status that is not a pause, counts the minute if it is open (and is
    breached at the instant inside it where elapsed reaches the target).
    """
    names = [name for name in ("first_response", "resolution_plan", "resolution") if name in targets]
    elapsed = dict.fromkeys(names, timedelta(0))
    stopped_at: dict[str, datetime | None] = dict.fromkeys(names)
    breached_at: dict[str, datetime | None] = dict.fromkeys(names)
    status, priority = "new", events[0]["priority"]

    def limit(name: str) -> timedelta | None:
        minutes = targets[name].get(priority)
        return None if minutes is None else timedelta(minutes=minutes)

    pending = list(events[1:])
    minute = events[0]["at"].astimezone(UTC)
    end = now.astimezone(UTC)
    while True:
        while pending and pending[0]["at"] <= minute:
            event = pending.pop(0)
            at = event["at"].astimezone(UTC)
            if event["type"] == "status":
                new = event["status"]
                if new in DONE and status not in DONE:
                    for name in names:
                        if stopped_at[name] is None:
                            stopped_at[name] = at
                if status in DONE and new not in DONE and "resolution" in names:
                    stopped_at["resolution"] = None
                status = new
            elif event["type"] == "priority":
                priority = event["priority"]
            elif event["type"] in names and stopped_at[event["type"]] is None:
                stopped_at[event["type"]] = at
            for name in names:
                target = limit(name)
                if target is not None and breached_at[name] is None and elapsed[name] > target:
                    breached_at[name] = at
        if minute >= end:
            break
        if status not in pauses and calendar.minute_open(minute):
            for name in names:
                if stopped_at[name] is not None:
                    continue
                target = limit(name)
                if target is not None and breached_at[name] is None and elapsed[name] + MINUTE > target:
                    breached_at[name] = minute + (target - elapsed[name])
                elapsed[name] += MINUTE
        minute += MINUTE

    result = {}
    for name in names:
        target = limit(name)
        if target is None:
            continue
        due = None
        if breached_at[name] is not None:
            state = "breached"
        elif stopped_at[name] is not None:
            state = "met"
        elif status in pauses:
            state = "paused"
        else:
            state = "running"
            due = calendar.add(now, target - elapsed[name])
        result[name] = NaiveState(state, elapsed[name], due, stopped_at[name], target, breached_at[name])
    return result
