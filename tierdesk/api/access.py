"""Loaders for the directory the API shows: organisations, contacts and plans.

Like `tickets.access`: a customer's queryset starts from their own organisation, and
something they may not see is "not found", the same answer as something that isn't.
(They belong with accounts' loaders once accounts has some; until then the API owns them.)
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Contact, Organisation, User
from tierdesk.sla.models import Plan
from tierdesk.tickets.errors import NotFound
from tierdesk.tickets.models import Category
from tierdesk.tickets.permissions import is_agent


def _contact(user: User) -> Contact | None:
    contact = getattr(user, "contact", None)
    return None if contact is None or contact.held_for_review else contact


def visible_organisations(user: User) -> QuerySet[Organisation]:
    qs = Organisation.objects.select_related("plan").prefetch_related("domains")
    if is_agent(user):
        return qs
    contact = _contact(user)
    return qs.filter(pk=contact.organisation_id) if contact else qs.none()


def visible_contacts(user: User) -> QuerySet[Contact]:
    """Agents: everyone. Organisation admins: their organisation. Members: themselves."""
    qs = Contact.objects.select_related("user", "organisation")
    if is_agent(user):
        return qs
    contact = _contact(user)
    if contact is None:
        return qs.none()
    if contact.is_org_admin:
        return qs.filter(organisation_id=contact.organisation_id)
    return qs.filter(pk=contact.pk)


def visible_plans(user: User) -> QuerySet[Plan]:
    qs = Plan.objects.select_related("calendar")
    if is_agent(user):
        return qs
    contact = _contact(user)
    return qs.filter(organisations__id=contact.organisation_id) if contact else qs.none()


def visible_categories(user: User) -> QuerySet[Category]:
    qs = Category.objects.select_related("parent__parent")
    return qs if is_agent(user) else qs.filter(is_active=True)


def access_organisation(user: User, pk: int) -> Organisation:
    try:
        return visible_organisations(user).get(pk=pk)
    except Organisation.DoesNotExist:
        raise NotFound(_("No such organisation.")) from None


def access_contact(user: User, pk: int) -> Contact:
    try:
        return visible_contacts(user).get(pk=pk)
    except Contact.DoesNotExist:
        raise NotFound(_("No such contact.")) from None
