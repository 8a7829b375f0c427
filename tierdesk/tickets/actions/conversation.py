"""Talking on a ticket: replies, internal notes, resolution plans, time logged."""

from __future__ import annotations

from datetime import datetime

from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from tierdesk.accounts.models import User
from tierdesk.tickets.actions.base import (
    action,
    attachments_bytes,
    now,
    record,
    require_agent,
    require_view,
    store_attachments,
    touch,
)
from tierdesk.tickets.actions.workflow import check_reopen_window, move
from tierdesk.tickets.attachments import check_uploads
from tierdesk.tickets.errors import ActionError
from tierdesk.tickets.lifecycle import DONE, Status
from tierdesk.tickets.models import EventCode, Ticket, TicketEvent
from tierdesk.tickets.permissions import is_agent

MAX_BODY = 100_000


def _clean_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise ActionError(_("The message is empty."), field="body")
    if len(body) > MAX_BODY:
        raise ActionError(_("The message is too long (100,000 characters at most)."), field="body")
    return body


@action
def add_reply(*, actor: User | None, ticket: Ticket, body: str,
              attachments: list[UploadedFile] | None = None,
              at: datetime | None = None, via: str = "web") -> TicketEvent:
    """A public message on the ticket, from the customer's side or the provider's.

    - An agent's first public reply is the ticket's first response.
    - A customer's reply to a ticket waiting on them puts it back to open.
    - A customer's reply to a resolved or closed ticket reopens it inside the
      reopen window, and is refused after it (with the reason).
    """
    require_view(actor, ticket)
    body = _clean_body(body)
    files = check_uploads(attachments or [], already_stored=attachments_bytes(ticket) if attachments else 0)
    at = at or now()
    from_agent = actor is not None and is_agent(actor)
    fields: list[str] = []
    if not from_agent and ticket.status in DONE:
        check_reopen_window(ticket, at)
    event = record(ticket, EventCode.PUBLIC_REPLY, actor=actor, at=at, body=body, via=via)
    store_attachments(ticket, event, files, actor=actor, at=at, is_public=True)
    if from_agent:
        if ticket.first_response_at is None:
            ticket.first_response_at = at
            fields.append("first_response_at")
        if ticket.status == Status.NEW:
            fields += move(ticket, Status.OPEN, actor=actor, at=at)
    elif ticket.status in DONE:
        fields += move(ticket, Status.OPEN, actor=actor, at=at, code=EventCode.REOPENED,
                       reason=_("The customer replied."))
    elif ticket.status == Status.WAITING_CUSTOMER:
        fields += move(ticket, Status.OPEN, actor=actor, at=at)
    touch(ticket, at, fields=fields)
    return event


@action
def add_internal_note(*, actor: User | None, ticket: Ticket, body: str,
                      attachments: list[UploadedFile] | None = None,
                      at: datetime | None = None) -> TicketEvent:
    """A note for the provider's staff only; customers never see it nor its files."""
    require_agent(actor)
    body = _clean_body(body)
    files = check_uploads(attachments or [], already_stored=attachments_bytes(ticket) if attachments else 0)
    at = at or now()
    event = record(ticket, EventCode.INTERNAL_NOTE, actor=actor, at=at, body=body,
                   is_public=False)
    store_attachments(ticket, event, files, actor=actor, at=at, is_public=False)
    touch(ticket, at, fields=[])
    return event


@action
def post_resolution_plan(*, actor: User | None, ticket: Ticket, body: str,
                         at: datetime | None = None) -> TicketEvent:
    """The engineer's plan to resolve (seed 003): public, and it stops that SLA clock."""
    require_agent(actor)
    if not ticket.is_active:
        raise ActionError(_("The ticket is already resolved."), field="status")
    body = _clean_body(body)
    at = at or now()
    event = record(ticket, EventCode.RESOLUTION_PLAN_POSTED, actor=actor, at=at, body=body)
    fields = []
    if ticket.first_response_at is None:
        ticket.first_response_at = at
        fields.append("first_response_at")
    if ticket.status == Status.NEW:
        fields += move(ticket, Status.IN_PROGRESS, actor=actor, at=at)
    touch(ticket, at, fields=fields)
    return event


@action
def log_time(*, actor: User | None, ticket: Ticket, minutes: int, note: str = "",
             at: datetime | None = None) -> TicketEvent:
    require_agent(actor)
    if not isinstance(minutes, int) or minutes <= 0 or minutes > 24 * 60:
        raise ActionError(_("Log between 1 and 1,440 minutes at a time."), field="minutes")
    at = at or now()
    event = record(ticket, EventCode.TIME_LOGGED, actor=actor, at=at, is_public=False,
                   body=note.strip(), minutes=minutes)
    ticket.time_spent_minutes += minutes
    touch(ticket, at, fields=["time_spent_minutes"])
    return event
