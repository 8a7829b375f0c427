"""The first case invites its sender to create an account (seed 001)."""

from __future__ import annotations

from tierdesk.accounts.invitations import needs_invitation, send_invitation
from tierdesk.notifications.models import OutboxMessage
from tierdesk.tickets.hooks import Happened
from tierdesk.tickets.models import EventCode


def invite_on_first_case(happened: Happened) -> None:
    """A ticket opened for someone who cannot sign in yet (phone desk, mail) invites them.

    Runs inside the action's transaction: the mail is queued in the outbox and
    leaves after commit; the key makes it once per person.
    """
    if EventCode.CREATED not in happened.codes():
        return
    user = happened.ticket.requester.user
    if needs_invitation(user):
        send_invitation(user, ticket=happened.ticket)


def invite_on_first_cases(happenings: list[Happened]) -> None:
    """`invite_on_first_case` for a batch: the invitations already queued are read once,
    and only the people not invited yet get one (for the first of their tickets, as one
    call per ticket gives: the later calls find the first one's row)."""
    first: dict[int, Happened] = {}
    for happened in happenings:
        if EventCode.CREATED in happened.codes():
            user = happened.ticket.requester.user
            if user.pk not in first and needs_invitation(user):
                first[user.pk] = happened
    if not first:
        return
    queued = set(OutboxMessage.objects.filter(key__in=[f"invitation:{pk}" for pk in first])
                 .values_list("key", flat=True))
    for pk, happened in first.items():
        if f"invitation:{pk}" not in queued:
            send_invitation(happened.ticket.requester.user, ticket=happened.ticket)
