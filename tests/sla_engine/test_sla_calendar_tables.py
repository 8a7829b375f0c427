"""Calendar arithmetic on the seed calendars, written as tables."""

from __future__ import annotations

import pytest
from sla_tables import CALENDARS, duration, local, table

from tierdesk.sla.engine import Calendar

CALENDAR = {name: Calendar.from_dict(spec) for name, spec in CALENDARS.items()}

ADD = table("""
calendar | start                      | delta  | expected
# 9-17, Madrid, Monday to Friday
9-17     | Mon 2026-11-23 08:00       | 0:30   | Mon 2026-11-23 09:30
9-17     | Mon 2026-11-23 09:00       | 8:00   | Mon 2026-11-23 17:00
9-17     | Mon 2026-11-23 16:30       | 1:00   | Tue 2026-11-24 09:30
9-17     | Fri 2026-11-27 16:00       | 2:00   | Mon 2026-11-30 10:00
9-17     | Mon 2026-11-23 09:00       | 40:00  | Fri 2026-11-27 17:00
9-17     | Sat 2026-11-28 12:00       | 0:00   | Sat 2026-11-28 12:00
9-17     | Mon 2026-11-23 17:00       | 0:00   | Mon 2026-11-23 17:00
9-17     | Sat 2026-11-28 12:00       | 0:01   | Mon 2026-11-30 09:01
# 8-18 (seed 002), Phnom Penh
8-18     | Mon 2026-11-23 17:00       | 4:00   | Tue 2026-11-24 11:00
8-18     | Fri 2026-11-27 07:00       | 10:00  | Fri 2026-11-27 18:00
8-18     | Fri 2026-11-27 18:00       | 0:30   | Mon 2026-11-30 08:30
# Itsafer (seed 004): summer, 5 Jan, 24 and 31 Dec at 8:00-15:00; Madrid's holidays
itsafer  | Wed 2026-07-15 14:30       | 0:30   | Wed 2026-07-15 15:00
itsafer  | Wed 2026-07-15 14:30       | 0:31   | Thu 2026-07-16 08:01
itsafer  | Tue 2026-06-30 17:00       | 2:00   | Wed 2026-07-01 09:00
itsafer  | Fri 2026-07-31 14:00       | 2:00   | Mon 2026-08-03 09:00
itsafer  | Fri 2026-08-28 14:00       | 9:00   | Tue 2026-09-01 10:00
itsafer  | Fri 2026-10-09 17:00       | 2:00   | Tue 2026-10-13 10:00
itsafer  | Wed 2026-12-23 17:00       | 2:00   | Thu 2026-12-24 09:00
itsafer  | Thu 2026-12-24 14:00       | 2:00   | Mon 2026-12-28 10:00
itsafer  | Thu 2026-12-31 14:00       | 2:00   | Mon 2027-01-04 10:00
itsafer  | Mon 2027-01-04 17:30       | 1:00   | Tue 2027-01-05 08:30
itsafer  | Tue 2027-01-05 14:30       | 1:00   | Thu 2027-01-07 09:30
# 24/7 in Madrid across both DST changes of 2026
24/7     | Sat 2026-03-28 23:00       | 3:00   | Sun 2026-03-29 03:00
24/7     | Sun 2026-03-29 01:59       | 0:01   | Sun 2026-03-29 03:00
24/7     | Sun 2026-10-25 01:00       | 1:00   | Sun 2026-10-25 02:00 +02:00
24/7     | Sun 2026-10-25 01:00       | 2:00   | Sun 2026-10-25 02:00 +01:00
24/7     | Sun 2026-10-25 01:00       | 3:00   | Sun 2026-10-25 03:00
24/7     | Mon 2026-11-23 10:00       | 72:00  | Thu 2026-11-26 10:00
""")


@pytest.mark.parametrize("row", ADD, ids=lambda row: f"{row['calendar']} {row['start']} +{row['delta']}")
def test_add(row: dict[str, str]) -> None:
    calendar = CALENDAR[row["calendar"]]
    zone = calendar.timezone
    start, expected = local(row["start"], zone), local(row["expected"], zone)
    result = calendar.add(start, duration(row["delta"]))
    assert result == expected
    # Same instant, and the same wall clock: the result is in the calendar's zone.
    assert (result.isoformat(), result.fold) == (expected.isoformat(), expected.fold)
    assert calendar.elapsed(start, result) == duration(row["delta"])


ELAPSED = table("""
calendar | start                  | end                    | elapsed
9-17     | Mon 2026-11-23 08:00   | Mon 2026-11-23 18:00   | 8:00
9-17     | Fri 2026-11-27 16:00   | Mon 2026-11-30 10:00   | 2:00
9-17     | Sat 2026-11-28 00:00   | Mon 2026-11-30 00:00   | 0:00
9-17     | Mon 2026-11-23 09:00   | Mon 2026-11-30 09:00   | 40:00
itsafer  | Wed 2026-07-15 14:30   | Wed 2026-07-15 23:59   | 0:30
itsafer  | Wed 2026-07-15 14:30   | Thu 2026-07-16 00:00   | 0:30
itsafer  | Mon 2026-10-12 00:00   | Tue 2026-10-13 00:00   | 0:00
# 29-30 Jun 2×9 h, then summer hours from 1 July: 1-3 Jul 3×7 h
itsafer  | Mon 2026-06-29 00:00   | Mon 2026-07-06 00:00   | 39:00
# 21-23 Dec 3×9; 24 Dec 7; 25 Dec holiday; 28-30 Dec 3×9; 31 Dec 7; 1 Jan holiday;
# 4 Jan 9; 5 Jan 7; 6 Jan holiday; 7-8 Jan 2×9
itsafer  | Mon 2026-12-21 00:00   | Mon 2027-01-11 00:00   | 102:00
24/7     | Sun 2026-03-29 00:00   | Mon 2026-03-30 00:00   | 23:00
24/7     | Sun 2026-10-25 00:00   | Mon 2026-10-26 00:00   | 25:00
24/7     | Mon 2026-10-26 00:00   | Tue 2026-10-27 00:00   | 24:00
24/7     | Sun 2026-10-25 02:30 +02:00 | Sun 2026-10-25 02:30 +01:00 | 1:00
""")


@pytest.mark.parametrize("row", ELAPSED, ids=lambda row: f"{row['calendar']} {row['start']}")
def test_elapsed(row: dict[str, str]) -> None:
    calendar = CALENDAR[row["calendar"]]
    start, end = local(row["start"], calendar.timezone), local(row["end"], calendar.timezone)
    assert calendar.elapsed(start, end) == duration(row["elapsed"])

