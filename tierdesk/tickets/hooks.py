"""Who hears about what happened to a ticket, inside the action's transaction.

An action appends events; when the outermost action has finished its writes
(SLA rows included) and before it commits, every subscriber is called once with
the events it appended. Subscribers write what must happen because of them —
outbox mail, webhook deliveries, escalation records — in the same transaction,
so a rolled-back action leaves no trace and a committed one loses nothing. They
must not do I/O themselves: whatever leaves the process goes through the outbox,
sent after commit.

Apps subscribe in their AppConfig.ready(), so tickets imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tierdesk.tickets.models import Ticket, TicketEvent


@dataclass(frozen=True)
class Happened:
    """The events one action appended to one ticket, in order."""

    ticket: Ticket
    events: tuple[TicketEvent, ...]

    def codes(self) -> set[str]:
        return {e.code for e in self.events}

    def first(self, code: str) -> TicketEvent | None:
        return next((e for e in self.events if e.code == code), None)


Subscriber = Callable[[Happened], None]
_subscribers: list[tuple[str, Subscriber]] = []


def subscribe(name: str, fn: Subscriber) -> None:
    """Register `fn` under a unique name (re-registering the name replaces it)."""
    global _subscribers
    _subscribers = [(n, f) for n, f in _subscribers if n != name] + [(name, fn)]


def unsubscribe(name: str) -> None:
    global _subscribers
    _subscribers = [(n, f) for n, f in _subscribers if n != name]


def dispatch(events: list[TicketEvent]) -> None:
    by_ticket: dict[int, list[TicketEvent]] = {}
    tickets: dict[int, Ticket] = {}
    for event in events:
        by_ticket.setdefault(event.ticket_id, []).append(event)
        tickets[event.ticket_id] = event.ticket
    for ticket_id, evs in by_ticket.items():
        happened = Happened(tickets[ticket_id], tuple(evs))
        for _name, fn in list(_subscribers):
            fn(happened)
