"""The SLA engine: business calendars, policies, and target states from a ticket's timeline.

Pure Python: no Django, no I/O of its own, nothing else of tierdesk (an
import-linter contract holds this). See docs/SLA_ENGINE.md.

    from tierdesk.sla.engine import Calendar, Policy, evaluate
    policy = Policy.from_dict({"calendar": {...}, "targets": {...}, "pause_statuses": [...]})
    states = evaluate(policy, events, now)
"""

from .calendar import Calendar
from .explain import Explanation, Stretch, StretchKind, TargetTotals, explain
from .policy import DONE_STATUSES, STATUSES, TARGET_NAMES, Policy, TargetRule
from .timeline import EVENT_TYPES, State, TargetState, evaluate, instant_at

__all__ = [
    "DONE_STATUSES",
    "EVENT_TYPES",
    "STATUSES",
    "TARGET_NAMES",
    "Calendar",
    "Explanation",
    "Policy",
    "State",
    "Stretch",
    "StretchKind",
    "TargetRule",
    "TargetState",
    "TargetTotals",
    "evaluate",
    "explain",
    "instant_at",
]
