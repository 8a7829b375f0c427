"""The tickets.hooks subscriber: keep the measure row, and ask after each resolution.

It runs inside every action's transaction. Each part runs in a savepoint of its
own and a failure is logged, not raised: a report a little stale (and repaired
by `tierdesk reports backfill`) is better than an agent who cannot resolve a
ticket because a report could not be updated.
"""

from __future__ import annotations

import logging

from django.db import transaction

from tierdesk.tickets.hooks import Happened
from tierdesk.tickets.models import EventCode

from . import measure, surveys

log = logging.getLogger(__name__)


def on_ticket_events(happened: Happened) -> None:
    on_many_tickets([happened])


def on_many_tickets(happenings: list[Happened]) -> None:
    """One action's events on several tickets (the SLA sweep's): one refresh for them all,
    in a fixed number of queries."""
    at = max(event.at for happened in happenings for event in happened.events)
    ids = [happened.ticket.pk for happened in happenings]
    try:
        with transaction.atomic():
            measure.refresh(ids, now=at)
    except Exception:
        log.exception("reports: could not refresh the measure of tickets %s", ids[:20])
    for happened in happenings:
        _survey(happened)


def _survey(happened: Happened) -> None:
    ticket = happened.ticket
    at = max(event.at for event in happened.events)
    if EventCode.RESOLVED in happened.codes() and not ticket.is_active:
        try:
            with transaction.atomic():
                surveys.open_survey(ticket, at=at)
        except Exception:
            log.exception("reports: could not open the survey of ticket %s", ticket.pk)
