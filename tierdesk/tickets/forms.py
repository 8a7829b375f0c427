"""Forms shared by the portal and the console. They check shape; actions check meaning."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tierdesk.tickets.lifecycle import ResolutionCode, Status
from tierdesk.tickets.models import Category, ImpactUrgency, Location, Priority


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            return []
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


class CategoryChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Category) -> str:
        return obj.path


def active_categories():
    return Category.objects.filter(is_active=True).select_related("parent").order_by(
        "parent__position", "parent__name", "position", "name")


class TicketForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=200,
                              help_text=_("One line: what is wrong, and where."))
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("What happened, what you expected, any error message word for word, "
                    "and the steps to make it happen again."))
    category = CategoryChoiceField(label=_("Category"), queryset=Category.objects.none(),
                                   required=False, empty_label=_("— not sure —"))
    impact = forms.ChoiceField(label=_("Who is affected?"), required=False,
                               choices=[("", _("— choose —")), *ImpactUrgency.Impact.choices])
    urgency = forms.ChoiceField(label=_("How urgent is it?"), required=False,
                                choices=[("", _("— choose —")), *ImpactUrgency.Urgency.choices])
    started_at = forms.DateTimeField(
        label=_("When did it start?"), required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    users_affected = forms.IntegerField(label=_("How many people are affected?"),
                                        required=False, min_value=0)
    machines_affected = forms.IntegerField(label=_("How many machines are affected?"),
                                           required=False, min_value=0)
    location = forms.ChoiceField(label=_("Are you remote or on site?"), required=False,
                                 choices=[("", _("— choose —")), *Location.choices])
    troubleshooting_done = forms.CharField(
        label=_("What have you already tried?"), required=False,
        widget=forms.Textarea(attrs={"rows": 3}))
    business_impact = forms.CharField(
        label=_("How does it affect your work or your business?"), required=False,
        widget=forms.Textarea(attrs={"rows": 3}))
    business_stopped = forms.BooleanField(label=_("Business is completely stopped"),
                                          required=False)
    affected_accounts = forms.CharField(label=_("Affected accounts or machine names"),
                                        required=False)
    environment = forms.CharField(label=_("Environment (operating system, network...)"),
                                  required=False)
    product_build = forms.CharField(label=_("Product build installed"), required=False)
    callback_phone = forms.CharField(label=_("Best number to call you back"), required=False,
                                     max_length=40)
    attachments = MultipleFileField(label=_("Screenshots and files"))

    def __init__(self, *args, mandatory: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = active_categories()  # type: ignore[attr-defined]
        for name in mandatory:
            if name in self.fields:
                self.fields[name].required = True


class PhoneTicketForm(TicketForm):
    requester_email = forms.EmailField(label=_("Caller's email"))
    priority = forms.ModelChoiceField(label=_("Priority"), required=False,
                                      queryset=Priority.objects.filter(is_active=True))


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 5}))
    attachments = MultipleFileField(label=_("Attach files"))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=[
        (s.value, s.label) for s in Status if s != Status.RESOLVED])


class ResolveForm(forms.Form):
    code = forms.ChoiceField(label=_("Resolution"), choices=ResolutionCode.choices)
    note = forms.CharField(label=_("Resolution note (the customer reads it)"),
                           widget=forms.Textarea(attrs={"rows": 4}))


class TimeForm(forms.Form):
    minutes = forms.IntegerField(label=_("Minutes"), min_value=1, max_value=1440)
    note = forms.CharField(label=_("What was done"), required=False)
