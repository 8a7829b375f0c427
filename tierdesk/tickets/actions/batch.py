"""Actions planned in memory for many tickets and written together (the worker's batches).

The automation routes a batch's new tickets one after another, in memory (`plan_assign`
is `assign` for the system, without its writes, and `planned_event` is the event `record`
would append), then writes what it planned with `write_planned`: every event in one
INSERT, in the order planned (so each ticket's timeline is what one action at a time
gives), then each touched ticket's SLA rows and cached columns as `touch` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.translation import gettext as _

from tierdesk.accounts.models import Agent, Team, User
from tierdesk.tickets.actions import base
from tierdesk.tickets.actions.base import action, actor_kind, touch
from tierdesk.tickets.errors import ActionError
from tierdesk.tickets.lifecycle import Status, can_move
from tierdesk.tickets.models import EventCode, Ticket, TicketEvent


def planned_event(ticket: Ticket, code: EventCode | str, *, actor: User | None, at: datetime,
                  is_public: bool = True, body: str = "", change: tuple[Any, Any] | None = None,
                  **payload: Any) -> TicketEvent:
    """The unsaved event `base.record` would append, built as it builds it."""
    payload.setdefault("by", actor_kind(actor))
    if change is not None:
        payload["from"], payload["to"] = change
    return TicketEvent(ticket=ticket, code=code, actor=actor, at=at, is_public=is_public,
                       body=body, payload=payload)


@dataclass
class Planned:
    """What `plan_assign` planned: the events, in order, and the columns `touch` writes."""

    events: list[TicketEvent]
    fields: list[str]


def plan_assign(*, ticket: Ticket, agent: Agent, team: Team | None, reason: str,
                at: datetime) -> Planned | None:
    """`assign(actor=None, ...)` in memory: the same checks, the same events and the same
    changes to `ticket`; None when it would do nothing. Written by `write_planned`."""
    if not agent.user.is_active:
        raise ActionError(_("%(a)s is not active.") % {"a": agent}, field="assignee")
    if agent.tier < ticket.tier:
        raise ActionError(_("%(a)s works at tier %(t)s; this ticket is at tier %(n)s.") % {
            "a": agent, "t": agent.tier, "n": ticket.tier}, field="assignee")
    if agent.pk == ticket.assignee_id and (team.pk if team else None) == ticket.team_id:
        return None
    events = [planned_event(ticket, EventCode.ASSIGNED, actor=None, at=at, is_public=False,
                            agent=agent.pk, agent_name=str(agent), team=team.pk if team else None,
                            team_name=team.name if team else None, reason=reason)]
    ticket.assignee = agent
    ticket.team = team
    fields = ["assignee", "team"]
    if ticket.status == Status.NEW:  # as `move(ticket, Status.OPEN, ...)`
        if not can_move(ticket.status, Status.OPEN):
            raise ActionError(_("A ticket cannot go from “%(old)s” to “%(new)s”.") % {
                "old": Status(ticket.status).label, "new": Status.OPEN.label},
                field="status", code="illegal_transition")
        events.append(planned_event(ticket, EventCode.STATUS_CHANGED, actor=None, at=at,
                                    is_public=True, change=(ticket.status, Status.OPEN)))
        ticket.status = Status.OPEN
        fields.append("status")
    return Planned(events, fields)


@action
def write_planned(*, events: list[TicketEvent],
                  touched: list[tuple[Ticket, datetime, list[str]]]) -> None:
    """Append the planned events (one INSERT, in order), then refresh and save each touched
    ticket as `touch` does (its SLA rows read the timeline these events are part of)."""
    if events:
        TicketEvent.objects.bulk_create(events)
        appended = base.appended()
        if appended is not None:
            appended.extend(events)
    for ticket, at, fields in touched:
        touch(ticket, at, fields=fields)
