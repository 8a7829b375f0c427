"""The SLA explanation on the agent's ticket page: the engine's Explanation as table rows.

`tierdesk sla explain` prints the same Explanation as text; here the stretches and
totals become rows the template renders in the reader's language and time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tierdesk.sla.adapter import explain_ticket, policy_for
from tierdesk.sla.models import TARGET_LABELS
from tierdesk.tickets.models import Ticket


@dataclass(frozen=True)
class Cell:
    kind: str  # counted, paused, outside_hours, stopped
    counted: timedelta


@dataclass(frozen=True)
class StretchRow:
    start: datetime
    end: datetime
    kind: str
    reason: str | None
    status: str
    priority: str
    business: timedelta
    cells: list[Cell]


@dataclass(frozen=True)
class TargetRow:
    name: str
    label: str
    state: str
    elapsed: timedelta
    target: timedelta
    remaining: timedelta
    rule: str
    paused: list[tuple[str, timedelta]]
    due: datetime | None
    met_at: datetime | None
    breached_at: datetime | None


@dataclass(frozen=True)
class Panel:
    calendar_zone: str
    now: datetime
    targets: list[TargetRow]
    names: list[str]
    labels: list[str]
    stretches: list[StretchRow]


def _rule(kind: str, amount: int, target: timedelta) -> str:
    if kind == "minutes":
        minutes = int(target.total_seconds() // 60)
        return _("%(h)sh %(m)02dm of business time") % {"h": minutes // 60, "m": minutes % 60}
    if kind == "business_days":
        return ngettext("%(n)s business day from creation", "%(n)s business days from creation",
                        amount) % {"n": amount}
    return _("end of business day %(n)s after creation") % {"n": amount}


def sla_panel(ticket: Ticket, *, now: datetime) -> Panel:
    explanation = explain_ticket(ticket, now=now)
    policy = policy_for(ticket).policy
    names = list(explanation.targets)
    targets = []
    for name, totals in explanation.targets.items():
        st = totals.state
        rule = policy.targets[name][explanation.priority]
        targets.append(TargetRow(
            name=name, label=str(TARGET_LABELS.get(name, name)), state=st.state,
            elapsed=st.elapsed, target=st.target, remaining=st.target - st.elapsed,
            rule=_rule(rule.kind, rule.amount, st.target),
            paused=sorted(totals.paused.items()),
            due=st.due, met_at=st.met_at, breached_at=st.breached_at))
    stretches = [
        StretchRow(start=s.start, end=s.end, kind=s.kind, reason=s.reason, status=s.status,
                   priority=s.priority, business=s.business,
                   cells=[Cell(kind=s.targets.get(n, "stopped"), counted=s.counted(n))
                          for n in names])
        for s in explanation.stretches
    ]
    return Panel(calendar_zone=explanation.timezone, now=explanation.now, targets=targets,
                 names=names, labels=[str(TARGET_LABELS.get(n, n)) for n in names],
                 stretches=stretches)
