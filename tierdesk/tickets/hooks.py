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
BatchSubscriber = Callable[[list[Happened]], None]
_subscribers: list[tuple[str, Subscriber]] = []
# Optional: a subscriber's handler for an action that touched many tickets at once (the SLA
# sweep records a thousand steps in one action): called once with all of them, in place of
# one call per ticket, so that it can do its work in a fixed number of queries.
_batch: dict[str, BatchSubscriber] = {}


def subscribe(name: str, fn: Subscriber, *, batch: BatchSubscriber | None = None) -> None:
    """Register `fn` under a unique name (re-registering the name replaces it)."""
    global _subscribers
    _subscribers = [(n, f) for n, f in _subscribers if n != name] + [(name, fn)]
    if batch is not None:
        _batch[name] = batch
    else:
        _batch.pop(name, None)


def unsubscribe(name: str) -> None:
    global _subscribers
    _subscribers = [(n, f) for n, f in _subscribers if n != name]
    _batch.pop(name, None)


def dispatch(events: list[TicketEvent]) -> None:
    """Each subscriber hears each ticket's events (in the order subscribed; for one ticket,
    subscriber after subscriber, as always)."""
    by_ticket: dict[int, list[TicketEvent]] = {}
    tickets: dict[int, Ticket] = {}
    for event in events:
        by_ticket.setdefault(event.ticket_id, []).append(event)
        tickets[event.ticket_id] = event.ticket
    happenings = [Happened(tickets[pk], tuple(evs)) for pk, evs in by_ticket.items()]
    if not happenings:
        return
    if len(happenings) == 1:
        for _name, fn in list(_subscribers):
            fn(happenings[0])
        return
    for name, fn in list(_subscribers):
        many = _batch.get(name)
        if many is not None:
            many(happenings)
        else:
            for happened in happenings:
                fn(happened)
