"""Keeping console.CustomerEscalation and console.Commitment true to the timeline."""

from __future__ import annotations

from datetime import datetime

from tierdesk.console.models import Commitment, CustomerEscalation
from tierdesk.tickets.hooks import Happened
from tierdesk.tickets.models import EventCode


def is_customer_escalation(code: str, payload: dict) -> bool:
    return code == EventCode.ESCALATED and (payload or {}).get("kind") == "customer"


def committed_due(payload: dict) -> datetime | None:
    """The instant a `timeframe_committed` event promises, as stored in its payload."""
    due = (payload or {}).get("due_at")
    if not due:
        return None
    return datetime.fromisoformat(due) if isinstance(due, str) else due


def note_customer_escalations(happened: Happened) -> None:
    """A hooks subscriber: the action's customer escalations, in its transaction."""
    for event in happened.events:
        if is_customer_escalation(event.code, event.payload):
            CustomerEscalation.objects.update_or_create(ticket_id=event.ticket_id,
                                                        defaults={"last_at": event.at})


def note_commitments(happened: Happened) -> None:
    """A hooks subscriber: a new time-frame replaces the ticket's previous one."""
    for event in happened.events:
        due = committed_due(event.payload) if event.code == EventCode.TIMEFRAME_COMMITTED else None
        if due is not None:
            Commitment.objects.update_or_create(ticket_id=event.ticket_id, defaults={
                "due_at": due, "note": event.body, "committed_at": event.at})
