"""The portal's list filters: they parse the query string and narrow a loader's queryset."""

from __future__ import annotations

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.models import Contact
from tierdesk.tickets.lifecycle import Status
from tierdesk.tickets.models import Priority, Ticket
from tierdesk.tickets.queries import ACTIVE_STATUSES, DONE_STATUSES, search


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Contact) -> str:
        return str(obj.user)


class TicketFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("", _("All")), ("active", _("Not resolved")), ("done", _("Resolved or closed")),
        *Status.choices])
    priority = forms.ModelChoiceField(label=_("Priority"), required=False, to_field_name="code",
                                      queryset=Priority.objects.filter(is_active=True),
                                      empty_label=_("All"))
    requester = PersonChoiceField(label=_("Requester"), required=False,
                                       queryset=Contact.objects.none(), empty_label=_("Anyone"))
    q = forms.CharField(label=_("Search"), required=False, max_length=200)

    def __init__(self, *args, contact: Contact, org_wide: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.contact = contact
        if org_wide:
            self.fields["requester"].queryset = (  # type: ignore[attr-defined]
                Contact.objects.filter(organisation_id=contact.organisation_id)
                .select_related("user").order_by("user__full_name", "user__email"))
        else:
            # A member sees their own and CC'd tickets; "requester" means "mine or not".
            del self.fields["requester"]
        self.fields["q"].widget.attrs["placeholder"] = _("Reference, case number or words")

    def apply(self, qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
        if not self.is_bound or not self.is_valid():
            return qs
        data = self.cleaned_data
        status = data.get("status")
        if status == "active":
            qs = qs.filter(status__in=ACTIVE_STATUSES)
        elif status == "done":
            qs = qs.filter(status__in=DONE_STATUSES)
        elif status:
            qs = qs.filter(status=status)
        if data.get("priority"):
            qs = qs.filter(priority=data["priority"])
        if data.get("requester"):
            qs = qs.filter(requester=data["requester"])
        return search(qs, data.get("q") or "")
