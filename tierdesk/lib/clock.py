"""One place to ask the time, so tests can freeze it (time-machine patches it)."""

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
