"""Periodic work on tickets, written as plain functions the tasks call (and tests too)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction

from tierdesk.accounts.models import Provider
from tierdesk.tickets import actions
from tierdesk.tickets.lifecycle import Status
from tierdesk.tickets.models import Ticket

log = logging.getLogger(__name__)


def autoclose_resolved(*, now: datetime, batch: int = 500) -> int:
    """Close tickets resolved longer ago than the provider's auto-close delay.

    Each ticket is re-read under a row lock and closed only if it is still
    resolved, so two workers, or a reopen racing the sweep, never double-close.
    """
    days = Provider.current().autoclose_days
    if days is None:
        return 0
    cutoff = now - timedelta(days=days)
    ids = list(Ticket.objects.filter(status=Status.RESOLVED, resolved_at__lte=cutoff)
               .order_by("resolved_at").values_list("pk", flat=True)[:batch])
    closed = 0
    for pk in ids:
        with transaction.atomic():
            ticket = Ticket.objects.select_for_update().filter(
                pk=pk, status=Status.RESOLVED, resolved_at__lte=cutoff).first()
            if ticket is None:
                continue
            actions.close(actor=None, ticket=ticket, at=now)
            closed += 1
    if closed:
        log.info("auto-closed %d resolved tickets", closed)
    return closed
