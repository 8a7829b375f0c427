"""Adding a customer's person who is not a contact yet (the phone desk's new caller)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Contact, Organisation, OrganisationDomain, User


class ContactError(ValueError):
    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.message = message
        self.field = field


def organisation_for_email(email: str) -> Organisation | None:
    domain = email.rsplit("@", 1)[-1].strip().lower()
    found = (OrganisationDomain.objects.select_related("organisation")
             .filter(domain=domain, organisation__is_active=True).first())
    return found.organisation if found else None


@transaction.atomic
def add_contact(*, email: str, full_name: str, organisation: Organisation | None,
                phone: str = "") -> Contact:
    """A contact with no usable password yet: their first ticket invites them to choose one.

    The organisation is the one given, else the one owning the email's domain.
    """
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ContactError(_("Someone already signs in with this address."), field="requester_email")
    organisation = organisation or organisation_for_email(email)
    if organisation is None:
        raise ContactError(_("No organisation owns this email domain: choose the caller's "
                             "organisation."), field="organisation")
    if not full_name.strip():
        raise ContactError(_("Give the new caller's name."), field="requester_name")
    user = User.objects.create_user(email, None, full_name=full_name.strip())
    return Contact.objects.create(user=user, organisation=organisation, phone=phone.strip())
