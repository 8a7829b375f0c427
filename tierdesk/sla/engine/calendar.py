"""Business calendars: which instants are open, and arithmetic on open time.

An instant is open iff its local wall-clock time, in the calendar's zone, lies
in one of the intervals of its local date. The hours of a date come from, in
order of precedence: a closed date or public holiday (closed all day), the
first season whose dates match, the weekly hours.

Arithmetic runs on integer microseconds since the epoch. The open intervals of
each block of 365 days of UTC time are computed once (lazily, cached), as
sorted lists of starts and ends with a running total of open time, so that
``elapsed`` and ``add`` are a dict lookup, a bisect or two and some additions.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

from .instants import (
    DAY_S,
    EPOCH,
    EPOCH_ORDINAL,
    MICROSECOND,
    SECOND_US,
    offset_segments,
    to_us,
)
from .spec import (
    DateSet,
    DayHours,
    Season,
    WeekHours,
    check_keys,
    parse_dates,
    parse_seasons,
    parse_week_hours,
)

BLOCK_S = 365 * DAY_S
BLOCK_US = BLOCK_S * SECOND_US
# Local dates of a block reach this far past its UTC edges (offsets stay within
# ±26 hours), and the zone offsets are probed a little further still.
_DAY_MARGIN = 2
_OFFSET_MARGIN_S = 4 * DAY_S
# A calendar with no open time for this many blocks in a row never opens again,
# as far as anyone can wait: add() gives up rather than looping to year 9999.
HORIZON_BLOCKS = 31  # > 30 years
# Blocks must stay inside what datetime and the tz database can express.
_MIN_US = (datetime(2, 1, 1) - datetime(1970, 1, 1)) // MICROSECOND
_MAX_US = (datetime(9998, 12, 31) - datetime(1970, 1, 1)) // MICROSECOND
# The blocks that can be built: k * BLOCK_US >= _MIN_US and (k + 1) * BLOCK_US <= _MAX_US.
FIRST_BLOCK = -(-_MIN_US // BLOCK_US)
LAST_BLOCK = _MAX_US // BLOCK_US - 1
# Day hours are cached for the day-based targets; about 40 years of dates.
_DAYS_CACHED = 16_384
_ONE_DAY = timedelta(days=1)

# (starts, ends, cumulative open time at each end, total, the offset of each
# interval or None if it changes inside it or the interval repeats wall times,
# offset segment starts, their offsets), all in µs; intervals are clipped to
# the block and merged where they touch.
_Block = tuple[list[int], list[int], list[int], int, list[int | None], list[int], list[int]]
# The same block as timedeltas since the epoch, for add() and elapsed() on
# datetimes (see _fast_block): (starts, shift, cum, total, base, end); inside
# interval i an instant's running total is shift[i] + instant (at most cum[i]),
# and an answer reached at running total g in interval j is base[j] + g (a
# datetime in the calendar's zone; None where that interval's offset is not
# steady); end is where the block ends.
_FastBlock = tuple[
    list[timedelta], list[timedelta], list[timedelta], timedelta, list[datetime | None], timedelta
]
BLOCK_DAYS = BLOCK_S // DAY_S
_ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class HolidaySource:
    """Public holidays of a country (and subdivision) from the ``holidays`` package."""

    country: str
    subdivision: str | None = None

    def dates(self, year: int) -> frozenset[date]:
        return frozenset(
            holidays_lib.country_holidays(self.country, subdiv=self.subdivision, years=year)
        )


def _parse_holidays(value: object) -> HolidaySource:
    where = "holidays"
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected {{'country': 'ES', 'subdivision': 'MD'}}, got {value!r}")
    check_keys(value, {"country"}, {"subdivision"}, where)
    country, subdivision = value["country"], value.get("subdivision")
    if not isinstance(country, str) or not (subdivision is None or isinstance(subdivision, str)):
        raise ValueError(f"{where}: country and subdivision must be strings, got {dict(value)!r}")
    try:
        holidays_lib.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as error:
        part = "subdivision" if "subdivision" in str(error) else "country"
        raise ValueError(f"{where}.{part}: {error}") from None
    return HolidaySource(country, subdivision)


class Calendar:
    """Open hours in a time zone, with seasons, closed dates and public holidays.

    Build one with :meth:`from_dict`. A calendar is immutable; it caches the
    open intervals it has computed, so keep and reuse it.
    """

    __slots__ = ("_after", "_blocks", "_closed", "_days", "_fast", "_holiday_dates", "_holidays",
                 "_seasons", "_wall_epoch", "_week", "timezone", "zone")

    def __init__(
        self,
        *,
        timezone: str,
        week: WeekHours,
        seasons: tuple[Season, ...] = (),
        closed: DateSet | None = None,
        holidays: HolidaySource | None = None,
    ) -> None:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"timezone: {timezone!r} is not an IANA time zone name") from None
        if not any(week) and not any(any(season.week) for season in seasons):
            raise ValueError("hours: the calendar never opens (no hours on any day or season)")
        self.timezone = timezone
        self.zone = zone
        self._week = week
        self._seasons = seasons
        self._closed = closed if closed is not None else DateSet()
        self._holidays = holidays
        self._holiday_dates: dict[int, frozenset[date]] = {}
        self._blocks: dict[int, _Block] = {}
        self._fast: dict[int, _FastBlock] = {}
        self._days: dict[date, DayHours] = {}
        self._after: dict[tuple[date, int], date] = {}
        # Adding a timedelta to an aware datetime is wall-clock arithmetic, so
        # this plus (instant + offset) is the instant's local time, without a
        # tz conversion.
        self._wall_epoch = datetime(1970, 1, 1, tzinfo=zone)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Calendar:
        """Build a calendar from its spec; an invalid spec raises ValueError naming the part.

        ``{"timezone": "Europe/Madrid", "hours": {"mon": ["09:00-18:00"], ...},
        "seasons": [{"name": ..., "dates": ["07-01..08-31"], "hours": {...}}],
        "closed": ["12-26", "2026-08-14"], "holidays": {"country": "ES", "subdivision": "MD"}}``
        """
        if not isinstance(spec, Mapping):
            raise ValueError(f"calendar: expected a mapping, got {spec!r}")
        check_keys(spec, {"timezone"}, {"hours", "seasons", "closed", "holidays"}, "calendar")
        timezone = spec["timezone"]
        if not isinstance(timezone, str):
            raise ValueError(f"timezone: {timezone!r} is not an IANA time zone name")
        return cls(
            timezone=timezone,
            week=parse_week_hours(spec.get("hours", {}), "hours"),
            seasons=parse_seasons(spec.get("seasons", []), "seasons"),
            closed=parse_dates(spec.get("closed", []), "closed"),
            holidays=_parse_holidays(spec["holidays"]) if "holidays" in spec else None,
        )

    def __repr__(self) -> str:
        return f"<Calendar {self.timezone}>"

    # -- public arithmetic --------------------------------------------------

    def add(self, start: datetime, delta: timedelta) -> datetime:
        """The earliest instant t >= start with ``elapsed(start, t) == delta``, in the calendar's zone."""
        # The common case first, on timedeltas since the epoch: turning a
        # datetime into integer µs and back (timedelta // µs, µs * n) costs more
        # than the rest of the arithmetic. It answers when the result lies in
        # start's block, in an interval of one UTC offset, for plain datetime
        # inputs; _fast_block() says why it is exact.
        since: timedelta | None
        try:
            since = start - EPOCH
        except TypeError:
            since = None
        if type(since) is timedelta and type(delta) is timedelta and delta > _ZERO:
            return self.instant_after(since, delta)
        return self._add(start, delta)

    def _add(self, start: datetime, delta: timedelta) -> datetime:
        """add() on integer µs: every case, and the errors."""
        # to_us() inline (a call costs a tenth of the whole): it only runs
        # again, to raise its error, when an argument is naive.
        try:
            s = (start - EPOCH) // MICROSECOND
        except TypeError:
            s = to_us(start, "start")
        d = delta // MICROSECOND
        if d <= 0:
            if d < 0:
                raise ValueError(f"delta must not be negative, got {delta!r}")
            return self.from_us(s)
        return self.instant_after_us(s, d)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """The open time inside ``[start, end)``."""
        # On timedeltas since the epoch, as in add(), when both ends are in one block.
        s: timedelta | None
        e: timedelta | None
        try:
            s, e = start - EPOCH, end - EPOCH
        except TypeError:
            s = e = None
        if type(s) is timedelta and type(e) is timedelta and s <= e:
            k = s.days // BLOCK_DAYS
            if e.days // BLOCK_DAYS == k:
                starts, shift, cum, _, _, _ = self._fast.get(k) or self._fast_block(k)
                j = bisect_right(starts, e) - 1
                if j < 0:
                    return _ZERO
                at_end = shift[j] + e
                before = cum[j]
                if at_end > before:
                    at_end = before
                i = bisect_right(starts, s) - 1
                if i < 0:
                    return at_end
                at_start = shift[i] + s
                before = cum[i]
                return at_end - (before if at_start > before else at_start)
        return self._elapsed(start, end)

    def _elapsed(self, start: datetime, end: datetime) -> timedelta:
        """elapsed() on integer µs: every case, and the errors."""
        try:  # to_us() inline, as in add()
            s, e = (start - EPOCH) // MICROSECOND, (end - EPOCH) // MICROSECOND
        except TypeError:
            s, e = to_us(start, "start"), to_us(end, "end")
        if e < s:
            raise ValueError(f"end {end!r} is before start {start!r}")
        return MICROSECOND * self.elapsed_us(s, e)

    def is_open(self, instant: datetime) -> bool:
        t = to_us(instant, "instant")
        starts, ends = self._block(t // BLOCK_US)[:2]
        i = bisect_right(starts, t) - 1
        return i >= 0 and t < ends[i]

    def next_open(self, instant: datetime) -> datetime:
        """The earliest open instant at or after ``instant``."""
        return self.from_us(self.next_open_us(to_us(instant, "instant")))

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open stretches inside ``[start, end)``, clipped to it, in the calendar's zone."""
        for a, b in self.intervals_us(to_us(start, "start"), to_us(end, "end")):
            yield self.from_us(a), self.from_us(b)

    # -- integer core, shared with the rest of the engine --------------------

    def elapsed_us(self, s: int, e: int) -> int:
        """Open µs in ``[s, e)``; requires ``s <= e``."""
        blocks = self._blocks
        ks, ke = s // BLOCK_US, e // BLOCK_US
        starts, ends, cum, total, _, _, _ = blocks.get(ks) or self._block(ks)
        i = bisect_right(starts, s) - 1
        # Open time of the block before s: whole intervals before it, plus
        # the part of the interval holding s, if any.
        before_s = 0 if i < 0 else cum[i] if s >= ends[i] else cum[i] - (ends[i] - s)
        if ke != ks:
            # Measure from the start of e's block instead: carry what lies
            # between s and there as a negative "open time before s".
            carried = total - before_s
            for k in range(ks + 1, ke):
                carried += self._block(k)[3]
            starts, ends, cum, _, _, _, _ = blocks.get(ke) or self._block(ke)
            before_s = -carried
        j = bisect_right(starts, e) - 1
        before_e = 0 if j < 0 else cum[j] if e >= ends[j] else cum[j] - (ends[j] - e)
        return before_e - before_s

    def positions_us(self, times: list[int]) -> list[int]:
        """The running total of open µs at each of the (ascending) times, from
        the start of the first one's block.

        The business time between any two of them is then a subtraction: one
        bisect per time instead of two per pair.
        """
        k = times[0] // BLOCK_US
        starts, ends, cum, total, _, _, _ = self._blocks.get(k) or self._block(k)
        next_block = (k + 1) * BLOCK_US
        base = 0  # the open time of the blocks passed
        positions = []
        for t in times:
            while t >= next_block:
                base += total
                k += 1
                next_block += BLOCK_US
                starts, ends, cum, total, _, _, _ = self._blocks.get(k) or self._block(k)
            i = bisect_right(starts, t) - 1
            positions.append(base + (0 if i < 0 else cum[i] if t >= ends[i] else cum[i] - (ends[i] - t)))
        return positions

    def add_us(self, s: int, d: int) -> int:
        """The earliest ``t >= s`` with ``elapsed_us(s, t) == d``; requires ``d >= 0``.

        1. Find the open time of s's block before s; the answer is where the
           block's running total reaches that plus d.
        2. While that lies past the block's total, carry the rest into the next
           block (giving up after HORIZON_BLOCKS blocks without open time).
        3. Bisect the running totals for the interval where it is reached; the
           answer is that far into the interval (its end if reached exactly, the
           earliest such instant).
        """
        if d == 0:
            return s
        if d > _MAX_US - s:
            raise ValueError("add(): the result would be past the year 9998")
        k = s // BLOCK_US
        starts, ends, cum, total, _, _, _ = self._blocks.get(k) or self._block(k)
        i = bisect_right(starts, s) - 1
        goal = d + (0 if i < 0 else cum[i] if s >= ends[i] else cum[i] - (ends[i] - s))
        closed_blocks = 0
        while goal > total:
            goal -= total
            k += 1
            starts, ends, cum, total = self._block(k)[:4]
            closed_blocks = closed_blocks + 1 if total == 0 else 0
            if closed_blocks >= HORIZON_BLOCKS:
                raise ValueError(f"add(): the calendar has no open time for {HORIZON_BLOCKS} years")
        j = bisect_left(cum, goal)
        return ends[j] - (cum[j] - goal)

    def instant_after_us(self, s: int, d: int) -> datetime:
        """``from_us(add_us(s, d))``: the step of :meth:`add` after its conversions, for
        evaluate()'s due instants; an answer in an interval of one offset is built
        from that offset, without searching the offsets."""
        if d > 0:
            k = s // BLOCK_US
            starts, ends, cum, total, offsets, _, _ = self._blocks.get(k) or self._block(k)
            i = bisect_right(starts, s) - 1
            goal = d + (0 if i < 0 else cum[i] if s >= ends[i] else cum[i] - (ends[i] - s))
            if goal <= total:
                j = bisect_left(cum, goal)
                offset = offsets[j]
                if offset is not None:
                    return self._wall_epoch + MICROSECOND * (ends[j] - (cum[j] - goal) + offset)
        return self.from_us(self.add_us(s, d))

    def instant_after(self, since: timedelta, delta: timedelta) -> datetime:
        """``from_us(add_us(since // µs, delta // µs))`` for timedeltas since the epoch:
        the step of add() after its conversion, and evaluate()'s due instants."""
        if delta > _ZERO:
            k = since.days // BLOCK_DAYS
            starts, shift, cum, total, base, _ = self._fast.get(k) or self._fast_block(k)
            i = bisect_right(starts, since) - 1
            if i < 0:
                goal = delta
            else:
                position = shift[i] + since
                before = cum[i]
                goal = delta + (before if position > before else position)
            if goal <= total:
                j = bisect_left(cum, goal)
                wall = base[j]
                if wall is not None:
                    return wall + goal
        return self.instant_after_us(since // MICROSECOND, delta // MICROSECOND)

    def breach_instant(self, since: timedelta, delta: timedelta) -> datetime:
        """``from_us(next_open_us(add_us(since // µs, delta // µs)))`` for timedeltas since
        the epoch: where elapsed starts to exceed ``delta``, for evaluate()'s breaches.

        add()'s fast path finds the interval j where delta is reached; short of its end
        that instant is open, and at its end the next open instant is the start of
        interval j + 1, which is ``base[j + 1] + cum[j]``.
        """
        if delta > _ZERO:
            k = since.days // BLOCK_DAYS
            starts, shift, cum, total, base, _ = self._fast.get(k) or self._fast_block(k)
            i = bisect_right(starts, since) - 1
            if i < 0:
                goal = delta
            else:
                position = shift[i] + since
                before = cum[i]
                goal = delta + (before if position > before else position)
            if goal <= total:
                j = bisect_left(cum, goal)
                if goal < cum[j]:
                    wall = base[j]
                    if wall is not None:
                        return wall + goal
                elif j + 1 < len(cum):
                    wall = base[j + 1]
                    if wall is not None:
                        return wall + goal
        return self.from_us(self.next_open_us(self.add_us(since // MICROSECOND, delta // MICROSECOND)))

    def next_open_us(self, t: int) -> int:
        """The earliest open µs at or after t."""
        k = t // BLOCK_US
        block = self._blocks.get(k) or self._block(k)
        starts, ends = block[0], block[1]
        i = bisect_right(starts, t) - 1
        if i >= 0 and t < ends[i]:
            return t
        i += 1
        closed_blocks = 0
        while i >= len(starts):
            k += 1
            starts = self._block(k)[0]
            i = 0
            closed_blocks += 1
            if closed_blocks >= HORIZON_BLOCKS:
                raise ValueError(f"the calendar has no open time for {HORIZON_BLOCKS} years")
        return starts[i]

    def intervals_us(self, a: int, b: int) -> Iterator[tuple[int, int]]:
        """The open intervals inside ``[a, b)``, merged across block edges and clipped."""
        pending: tuple[int, int] | None = None
        for k in range(a // BLOCK_US, b // BLOCK_US + 1):
            starts, ends = self._block(k)[:2]
            for i in range(max(bisect_right(starts, a) - 1, 0), len(starts)):
                x, y = max(starts[i], a), min(ends[i], b)
                if x >= b:
                    break
                if x >= y:
                    continue
                if pending is not None and pending[1] == x:
                    pending = (pending[0], y)
                    continue
                if pending is not None:
                    yield pending
                pending = (x, y)
        if pending is not None:
            yield pending

    def from_us(self, t: int) -> datetime:
        """The instant t as an aware datetime in the calendar's zone (fold set as astimezone would)."""
        block = self._blocks.get(t // BLOCK_US) or self._block(t // BLOCK_US)
        seg_starts, offsets = block[5], block[6]
        j = bisect_right(seg_starts, t) - 1
        offset = offsets[j]
        # After a backward change, the wall times of the first (later - earlier)
        # offset difference are seen for the second time: fold=1 says so.
        if j and offsets[j - 1] > offset and t < seg_starts[j] + offsets[j - 1] - offset:
            return (self._wall_epoch + MICROSECOND * (t + offset)).replace(fold=1)
        return self._wall_epoch + MICROSECOND * (t + offset)

    def local_us(self, day: date, wall_us: int) -> int:
        """The instant of a wall time (µs after the local midnight of day; fold 0, and a time
        in a gap read with the offset before it, as zoneinfo does)."""
        local = datetime(day.year, day.month, day.day, tzinfo=self.zone) + MICROSECOND * wall_us
        return (local - EPOCH) // MICROSECOND

    # -- days ----------------------------------------------------------------

    def day_hours(self, day: date) -> DayHours:
        """The open intervals (seconds since local midnight) of a local date.

        1. A closed date or a public holiday: none.
        2. Else the first season whose dates hold the day: its hours for that weekday.
        3. Else the weekly hours for that weekday.
        """
        hours = self._days.get(day)
        if hours is not None:
            return hours
        if day in self._closed or day in self._holidays_of(day.year):
            hours = ()
        else:
            hours = next(
                (season.week[day.weekday()] for season in self._seasons if day in season.dates),
                self._week[day.weekday()],
            )
        if len(self._days) >= _DAYS_CACHED:
            self._days.clear()
        self._days[day] = hours
        return hours

    def open_day_after(self, day: date, n: int) -> date:
        """The nth date after ``day`` that has open hours (n >= 1)."""
        key = (day, n)
        after = self._after.get(key)
        if after is not None:
            return after
        after = self._open_day_after(day, n)
        if len(self._after) >= _DAYS_CACHED:
            self._after.clear()
        self._after[key] = after
        return after

    def _open_day_after(self, day: date, n: int) -> date:
        found = 0
        candidate = day
        for _ in range(366 * (HORIZON_BLOCKS - 1)):
            candidate += _ONE_DAY
            if self.day_hours(candidate):
                found += 1
                if found == n:
                    return candidate
        raise ValueError(f"the calendar has fewer than {n} open days in {HORIZON_BLOCKS - 1} years")

    def _holidays_of(self, year: int) -> frozenset[date]:
        if self._holidays is None:
            return frozenset()
        dates = self._holiday_dates.get(year)
        if dates is None:
            dates = self._holidays.dates(year)
            self._holiday_dates[year] = dates
        return dates

    # -- blocks --------------------------------------------------------------

    def _block(self, k: int) -> _Block:
        block = self._blocks.get(k)
        if block is None:
            block = self._blocks[k] = self._build_block(k)
        return block

    def _fast_block(self, k: int) -> _FastBlock:
        """Block k as timedeltas since the epoch, for add() and elapsed() on datetimes.

        With u = µs: an instant x inside interval i has ``cum[i] - (ends[i] - x)`` of the
        block's open time before it, that is ``shift[i] + x`` with ``shift[i] = cum[i] - ends[i]``
        (and ``cum[i]`` once x is past the interval's end). The answer of add() reached at
        running total g in interval j is ``t = ends[j] - (cum[j] - g)``, built as
        ``wall_epoch + (t + offset[j])``; that is ``base[j] + g`` with
        ``base[j] = wall_epoch + (ends[j] - cum[j] + offset[j])``. Timedelta arithmetic
        is exact (integers of days, seconds and µs), and a datetime plus a timedelta
        is the same wall-clock addition with fold 0 either way, so the answers are
        those of the integer path, to the µs, zone and fold.
        """
        fast = self._fast.get(k)
        if fast is None:
            starts, ends, cum, total, offsets, _, _ = self._block(k)
            unit, wall_epoch = MICROSECOND, self._wall_epoch
            fast = self._fast[k] = (
                [unit * x for x in starts],
                [unit * (c - y) for c, y in zip(cum, ends, strict=True)],
                [unit * c for c in cum],
                unit * total,
                [None if offset is None else wall_epoch + unit * (y - c + offset)
                 for y, c, offset in zip(ends, cum, offsets, strict=True)],
                unit * ((k + 1) * BLOCK_US),
            )
        return fast

    def _build_block(self, k: int) -> _Block:
        """The open intervals of UTC block k, ``[k * BLOCK_US, (k + 1) * BLOCK_US)``.

        1. Take the zone's offset segments around the block.
        2. For each local date that can reach into the block and each of its
           wall intervals [w1, w2), the open instants are, per offset segment
           [S, E) with offset o, [max(S, w1 - o), min(E, w2 - o)) when not
           empty: where the wall clock runs at t + o. So a DST gap drops open
           time and a repeated hour counts twice, as real time does.
        3. Sort, clip to the block, merge touching pieces (midnight in 24x7),
           and keep running totals of open time for bisecting.
        """
        lo, hi = k * BLOCK_S, (k + 1) * BLOCK_S
        if lo * SECOND_US < _MIN_US or hi * SECOND_US > _MAX_US:
            raise ValueError("instants outside the years 2..9998 are not supported")
        seg_starts, seg_offsets = offset_segments(
            self.timezone, lo - _OFFSET_MARGIN_S, hi + _OFFSET_MARGIN_S
        )
        seg_ends = (*seg_starts[1:], hi + _OFFSET_MARGIN_S)
        segments = tuple(zip(seg_starts, seg_ends, seg_offsets, strict=True))

        pieces: list[tuple[int, int]] = []
        for day_number in range(lo // DAY_S - _DAY_MARGIN, hi // DAY_S + _DAY_MARGIN + 1):
            day = date.fromordinal(EPOCH_ORDINAL + day_number)
            midnight = day_number * DAY_S  # the wall clock of local midnight, as if UTC
            for a, b in self.day_hours(day):
                w1, w2 = midnight + a, midnight + b
                for seg_start, seg_end, offset in segments:
                    x, y = max(seg_start, w1 - offset, lo), min(seg_end, w2 - offset, hi)
                    if x < y:
                        pieces.append((x, y))
        pieces.sort()

        starts: list[int] = []
        ends: list[int] = []
        for x, y in pieces:
            if ends and x * SECOND_US <= ends[-1]:
                ends[-1] = max(ends[-1], y * SECOND_US)
            else:
                starts.append(x * SECOND_US)
                ends.append(y * SECOND_US)
        cum: list[int] = []
        total = 0
        for x, y in zip(starts, ends, strict=True):
            total += y - x
            cum.append(total)
        # All segments, the one before the block's start included: from_us()
        # needs it to tell a repeated wall time just after the block starts.
        seg_starts_us = [start * SECOND_US for start in seg_starts]
        seg_offsets_us = [offset * SECOND_US for offset in seg_offsets]
        return (
            starts,
            ends,
            cum,
            total,
            [_steady_offset(x, y, seg_starts_us, seg_offsets_us) for x, y in zip(starts, ends, strict=True)],
            seg_starts_us,
            seg_offsets_us,
        )


def _steady_offset(x: int, y: int, seg_starts: list[int], seg_offsets: list[int]) -> int | None:
    """The one offset of the instants [x, y], or None if it changes there or
    some of them repeat wall times (then from_us() works out fold)."""
    j = bisect_right(seg_starts, x) - 1
    if j + 1 < len(seg_starts) and seg_starts[j + 1] <= y:
        return None
    if j > 0 and x < seg_starts[j] + seg_offsets[j - 1] - seg_offsets[j]:
        return None
    return seg_offsets[j]
