"""Keeping console.CustomerEscalation true to the timeline."""

from __future__ import annotations

from tierdesk.console.models import CustomerEscalation
from tierdesk.tickets.hooks import Happened
from tierdesk.tickets.models import EventCode


def is_customer_escalation(code: str, payload: dict) -> bool:
    return code == EventCode.ESCALATED and (payload or {}).get("kind") == "customer"


def note_customer_escalations(happened: Happened) -> None:
    """A hooks subscriber: the action's customer escalations, in its transaction."""
    for event in happened.events:
        if is_customer_escalation(event.code, event.payload):
            CustomerEscalation.objects.update_or_create(ticket_id=event.ticket_id,
                                                        defaults={"last_at": event.at})

