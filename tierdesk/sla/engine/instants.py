"""Instants as integer microseconds since the Unix epoch, and a zone's UTC offsets.

The engine computes on plain integers: exact (no float ever holds a time), and
fast (a bisect over a list of ints instead of tz-aware datetime arithmetic).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

MICROSECOND = timedelta(microseconds=1)
SECOND_US = 1_000_000
DAY_S = 86_400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def to_us(dt: datetime, what: str = "datetime") -> int:
    """Microseconds since the epoch of an aware datetime; a naive one is a ValueError."""
    try:
        # A naive datetime (or one whose tzinfo gives no offset) cannot be
        # subtracted from an aware one: that TypeError is the check, for free.
        return (dt - EPOCH) // MICROSECOND
    except TypeError:
        raise ValueError(f"{what} must be an aware datetime, got {dt!r}") from None


def _offset_s(zone: ZoneInfo, ts: int) -> int:
    offset = datetime.fromtimestamp(ts, zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset // timedelta(seconds=1)


# Real zones change offset at most a few times a year; probing once a day and
# bisecting where the offset differs finds every transition, except two within
# one day that cancel out, which no zone has had in the range a desk deals with.
_PROBE_S = DAY_S


@lru_cache(maxsize=2048)
def offset_segments(key: str, lo: int, hi: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The UTC offsets of zone ``key`` over the epoch seconds ``[lo, hi]``.

    Returns ``(starts, offsets)``: ``offsets[i]`` (seconds) holds from
    ``starts[i]`` until ``starts[i + 1]``; ``starts[0] == lo``. Cached by
    arguments, so every calendar of a zone shares the work.

    1. Probe the offset once a day from ``lo`` to ``hi``.
    2. Where two probes differ, bisect for the first second with a new offset
       (transitions fall on whole seconds) and start a segment there.
    3. Go on from that second, so that a second transition in the same day is
       found too.
    """
    zone = ZoneInfo(key)
    starts = [lo]
    offsets = [_offset_s(zone, lo)]
    t = lo
    while t < hi:
        probe = min(t + _PROBE_S, hi)
        probe_offset = _offset_s(zone, probe)
        while probe_offset != offsets[-1]:
            # Invariant: offset(t) == offsets[-1] != offset(probe).
            low, high = t, probe
            while high - low > 1:
                mid = (low + high) // 2
                if _offset_s(zone, mid) == offsets[-1]:
                    low = mid
                else:
                    high = mid
            starts.append(high)
            offsets.append(_offset_s(zone, high))
            t = high
        t = probe
    return tuple(starts), tuple(offsets)
