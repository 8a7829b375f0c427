"""Who a role means for a ticket: "team_lead", "support_manager", "assignee", a person's email."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from tierdesk.accounts.models import Agent, User

if TYPE_CHECKING:
    from tierdesk.tickets.models import Ticket

# The names a rule or an action may use for a role, and the Agent.Role each means.
ROLE_ALIASES = {
    "team_lead": Agent.Role.TEAM_LEAD,
    "support_lead": Agent.Role.TEAM_LEAD,
    "lead": Agent.Role.TEAM_LEAD,
    "support_manager": Agent.Role.SUPPORT_MANAGER,
    "manager": Agent.Role.SUPPORT_MANAGER,
    "administrator": Agent.Role.ADMINISTRATOR,
}
TICKET_ROLES = ("assignee", "requester")
ROLES = (*ROLE_ALIASES, *TICKET_ROLES)


def is_known(name: str) -> bool:
    """A role this module resolves, or something that looks like a person's address."""
    return name in ROLES or "@" in name


def agents_in_role(role: str, ticket: Ticket | None = None) -> list[Agent]:
    """Active agents holding a role. For team leads, the lead of the ticket's team comes
    first and alone when there is one; otherwise every team lead."""
    role = ROLE_ALIASES.get(role, role)
    if role == Agent.Role.TEAM_LEAD and ticket is not None and ticket.team_id:
        lead = ticket.team.lead if ticket.team else None
        if lead is not None and lead.user.is_active:
            return [lead]
    return list(Agent.objects.select_related("user").filter(role=role, user__is_active=True)
                .order_by("pk"))


def resolve(names: Iterable[str], ticket: Ticket | None = None) -> list[User]:
    """Users for role names and email addresses, each once, in the order named."""
    users: dict[int, User] = {}
    for name in names:
        found: list[User] = []
        if name == "assignee" and ticket is not None and ticket.assignee_id:
            found = [ticket.assignee.user]  # type: ignore[union-attr]
        elif name == "requester" and ticket is not None:
            found = [ticket.requester.user]
        elif name in ROLE_ALIASES:
            found = [a.user for a in agents_in_role(name, ticket)]
        elif "@" in name:
            found = list(User.objects.filter(email__iexact=name.strip(), is_active=True))
        for user in found:
            if user.is_active:
                users.setdefault(user.pk, user)
    return list(users.values())
