"""Seed calendars and a reader for tests written as tables."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEK = ("mon", "tue", "wed", "thu", "fri")
ALL_WEEK = (*WEEK, "sat", "sun")

# Named like zammad's calendar traits, so a table row reads "9-17 | Mon ...".
CALENDARS: dict[str, dict[str, Any]] = {
    "24/7": {"timezone": "Europe/Madrid", "hours": {day: ["00:00-24:00"] for day in ALL_WEEK}},
    "9-17": {"timezone": "Europe/Madrid", "hours": {day: ["09:00-17:00"] for day in WEEK}},
    # Seed 002 (I One Tech Solutions, a Cambodian number): Monday to Friday 8:00 to 18:00.
    "8-18": {"timezone": "Asia/Phnom_Penh", "hours": {day: ["08:00-18:00"] for day in WEEK}},
    # Seed 004 (Itsafer): 9:00-18:00 on working days; 8:00-15:00 from 1 July to
    # 31 August and on 5 January, 24 and 31 December; Madrid's public holidays.
    "itsafer": {
        "timezone": "Europe/Madrid",
        "hours": {day: ["09:00-18:00"] for day in WEEK},
        "seasons": [
            {
                "name": "jornada reducida",
                "dates": ["07-01..08-31", "01-05", "12-24", "12-31"],
                "hours": {day: ["08:00-15:00"] for day in WEEK},
            }
        ],
        "holidays": {"country": "ES", "subdivision": "MD"},
    },
}

_WEEKDAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def table(text: str) -> list[dict[str, str]]:
    """Rows of a ``|``-separated table whose first line names the columns."""
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith("#")]
    header = [cell.strip() for cell in lines[0].split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.split("|")), strict=True)) for line in lines[1:]]


def local(text: str, zone: str) -> datetime:
    """``"Mon 2026-11-23 09:30"`` in the zone; the weekday is checked, so that a
    table cannot say Monday of a Tuesday. A trailing ``+01:00`` picks the
    occurrence of a repeated wall time."""
    weekday, day, clock = text.split()[:3]
    offset = text.split()[3] if len(text.split()) > 3 else None
    wall = datetime.fromisoformat(f"{day} {clock}")
    assert _WEEKDAY[wall.weekday()] == weekday, f"{text!r}: {day} is a {_WEEKDAY[wall.weekday()]}"
    result = wall.replace(tzinfo=ZoneInfo(zone))
    if offset is not None:
        result = next(
            candidate
            for candidate in (result.replace(fold=0), result.replace(fold=1))
            if candidate.isoformat().endswith(offset)
        )
    return result


def duration(text: str) -> timedelta:
    """``"27:30"`` (hours:minutes, any number of hours) as a timedelta."""
    hours, minutes = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))
