"""What the fast-path tests compare: answers down to the zone and fold of every instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tierdesk.sla.engine import TargetState


def exact(instant: datetime | None) -> tuple[Any, ...] | None:
    """An instant with everything that tells two equal instants apart: wall time, fold, zone."""
    return None if instant is None else (instant, repr(instant), instant.fold, instant.tzinfo)


def flat(states: dict[str, TargetState]) -> dict[str, tuple[Any, ...]]:
    """evaluate()'s answer with every instant made exact."""
    return {
        name: (s.state, s.elapsed, s.target, exact(s.due), exact(s.met_at), exact(s.breached_at))
        for name, s in states.items()
    }
