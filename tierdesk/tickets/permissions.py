"""Who may see and do what with a ticket. Pure predicates: no queries beyond the objects;
and `agent_required`, the staff pages' guard built on `is_agent`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

if TYPE_CHECKING:
    from tierdesk.accounts.models import User
    from tierdesk.tickets.models import Ticket


def is_agent(user: User) -> bool:
    return user.is_authenticated and user.is_active and getattr(user, "agent", None) is not None


def agent_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """A view for the provider's staff: sign-in first, then 403 to anyone not an agent."""
    @login_required
    @wraps(view)
    def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_agent(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def is_contact(user: User) -> bool:
    return user.is_authenticated and user.is_active and getattr(user, "contact", None) is not None


def contact_can_view(user: User, ticket: Ticket, *, cc_ids: set[int] | None = None) -> bool:
    contact = getattr(user, "contact", None)
    if contact is None or contact.held_for_review or ticket.organisation_id != contact.organisation_id:
        return False
    if contact.is_org_admin or contact.organisation.members_see_all:
        return True
    if ticket.requester_id == contact.pk:
        return True
    if cc_ids is None:
        cc_ids = set(ticket.cc.values_list("pk", flat=True))
    return contact.pk in cc_ids


def can_view(user: User, ticket: Ticket) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if is_agent(user):
        return True
    return contact_can_view(user, ticket)


def can_work(user: User) -> bool:
    """Agents change status, priority, assignment, tier; contacts never do."""
    return is_agent(user)
