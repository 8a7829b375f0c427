"""The console's list controls."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tierdesk.console.queues import QUEUES, SORTS


class QueueForm(forms.Form):
    queue = forms.ChoiceField(label=_("Queue"), required=False, choices=list(QUEUES.items()))
    sort = forms.ChoiceField(label=_("Sort"), required=False, choices=list(SORTS.items()))
    q = forms.CharField(label=_("Search"), required=False, max_length=200, widget=forms.TextInput(
        attrs={"type": "search", "data-search": "",
               "placeholder": _("Reference, case number, words, requester")}))

    def choice(self) -> tuple[str, str, str]:
        """(queue, sort, search text), falling back to the defaults for anything unknown."""
        data = self.cleaned_data if self.is_valid() else {}
        return (data.get("queue") or "active", data.get("sort") or "due",
                (data.get("q") or "").strip())
