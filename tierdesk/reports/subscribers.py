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
    ticket = happened.ticket
    at = max(event.at for event in happened.events)
    try:
        with transaction.atomic():
            measure.refresh([ticket.pk], now=at)
    except Exception:
        log.exception("reports: could not refresh the measure of ticket %s", ticket.pk)
    if EventCode.RESOLVED in happened.codes() and not ticket.is_active:
        try:
            with transaction.atomic():
                surveys.open_survey(ticket, at=at)
        except Exception:
            log.exception("reports: could not open the survey of ticket %s", ticket.pk)
