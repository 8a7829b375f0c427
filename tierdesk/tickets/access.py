"""Permission-checked loaders: the only way a view reads a customer's ticket.

`access_ticket` answers "not found" both for a ticket that does not exist and for
one the user may not see, so an outsider cannot even learn that a number is used.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import Q, QuerySet

from tierdesk.accounts.models import User
from tierdesk.tickets.errors import NotFound
from tierdesk.tickets.models import Attachment, Ticket, TicketEvent
from tierdesk.tickets.permissions import can_view, is_agent

_REF = re.compile(rf"^\s*(?:{re.escape(settings.TICKET_PREFIX)}-?)?#?(\d{{1,18}})\s*$", re.I)


def parse_reference(ref: str | int) -> int | None:
    """'TD-104523', 'td104523', '#104523' or '104523' -> 104523."""
    match = _REF.match(str(ref))
    return int(match.group(1)) if match else None


def visible_tickets(user: User) -> QuerySet[Ticket]:
    """Every ticket this user may see, as a queryset to filter further."""
    if not user.is_authenticated or not user.is_active:
        return Ticket.objects.none()
    if is_agent(user):
        return Ticket.objects.all()
    contact = getattr(user, "contact", None)
    if contact is None or contact.held_for_review:
        return Ticket.objects.none()
    qs = Ticket.objects.filter(organisation_id=contact.organisation_id)
    if contact.is_org_admin or contact.organisation.members_see_all:
        return qs
    # The CC'd tickets as a subquery, not a join: joined, the OR needs a DISTINCT and the
    # database reads and sorts every ticket of the organisation (30 ms at 2,000 of them);
    # this way it reads the contact's own and CC'd tickets by their indexes.
    cc = Ticket.cc.through.objects.filter(contact_id=contact.pk).values("ticket_id")
    return qs.filter(Q(requester_id=contact.pk) | Q(pk__in=cc))


def access_ticket(user: User, ref: str | int, *, for_update: bool = False) -> Ticket:
    number = parse_reference(ref)
    if number is None:
        raise NotFound()
    qs = Ticket.objects.select_related(
        "organisation__plan", "requester__user", "priority", "category__parent",
        "assignee__user", "team",
    )
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        ticket = qs.get(number=number)
    except Ticket.DoesNotExist:
        raise NotFound() from None
    if not can_view(user, ticket):
        raise NotFound()
    return ticket


def timeline_for(user: User, ticket: Ticket) -> QuerySet[TicketEvent]:
    """The events this user may read: agents everything, contacts the public part."""
    events = ticket.events.select_related("actor").prefetch_related("attachments")
    if not is_agent(user):
        events = events.filter(is_public=True)
    return events.order_by("at", "id")


def access_attachment(user: User, token: str) -> Attachment:
    try:
        attachment = Attachment.objects.select_related(
            "ticket__organisation", "ticket__requester").get(token=token)
    except Attachment.DoesNotExist:
        raise NotFound("No such attachment.") from None
    if not can_view(user, attachment.ticket) or (not attachment.is_public and not is_agent(user)):
        raise NotFound("No such attachment.")
    return attachment
