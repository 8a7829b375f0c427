"""The first case invites its sender to create an account (seed 001)."""

from __future__ import annotations

from tierdesk.accounts.invitations import needs_invitation, send_invitation
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
