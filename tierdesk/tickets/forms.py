"""Forms shared by the portal and the console. They check shape; actions check meaning."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.models import Agent, Organisation
from tierdesk.tickets.access import parse_reference
from tierdesk.tickets.lifecycle import ResolutionCode, Status
from tierdesk.tickets.models import Category, ImpactUrgency, Location, Priority


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", _("Choose files, drop them here, or paste a screenshot "
                                         "(Ctrl+V) anywhere in this form."))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:
            if self.required:
                raise forms.ValidationError(self.error_messages["required"], code="required")
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

    def __init__(self, *args, mandatory: tuple[str, ...] | list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = active_categories()  # type: ignore[attr-defined]
        for name in mandatory:
            if name in self.fields:
                self.fields[name].required = True

    INTAKE = ("started_at", "users_affected", "machines_affected", "location",
              "troubleshooting_done", "business_impact", "business_stopped",
              "affected_accounts", "environment", "product_build", "callback_phone")

    def intake(self) -> dict:
        """The intake answers given, for actions.Intake."""
        data = self.cleaned_data
        return {k: data[k] for k in self.INTAKE if k in data and data[k] not in (None, "")}


class PhoneTicketForm(TicketForm):
    """A call logged as a new ticket; an unknown caller becomes a contact (and is invited)."""

    requester_email = forms.EmailField(label=_("Caller's email"))
    requester_name = forms.CharField(
        label=_("Caller's name"), required=False, max_length=200,
        help_text=_("Needed only for a caller who is not a contact yet."))
    organisation = forms.ModelChoiceField(
        label=_("Caller's organisation"), required=False, queryset=Organisation.objects.none(),
        help_text=_("Needed only for a new caller whose email domain is not known."))
    priority = forms.ModelChoiceField(label=_("Priority"), required=False,
                                      queryset=Priority.objects.filter(is_active=True))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = (  # type: ignore[attr-defined]
            Organisation.objects.filter(is_active=True))


class CallNoteForm(forms.Form):
    """A call about an existing ticket, found by its case number."""

    case = forms.CharField(label=_("Case number"), max_length=30)
    summary = forms.CharField(label=_("What was said"), widget=forms.Textarea(attrs={"rows": 4}))
    internal = forms.BooleanField(
        label=_("Internal only (the customer does not see it)"), required=False)


class ReplyForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 5}))
    attachments = MultipleFileField(label=_("Attach files"))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))


class EscalateForm(forms.Form):
    reason = forms.CharField(
        label=_("Why do you want to escalate?"), widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("A support manager reads it and a senior engineer takes the case."))


class PhoneEscalateForm(EscalateForm):
    case = forms.CharField(label=_("Case number"), max_length=30)
    reason = forms.CharField(label=_("The caller's reason"),
                             widget=forms.Textarea(attrs={"rows": 3}))


class TimeframeForm(forms.Form):
    due_at = forms.DateTimeField(
        label=_("Resolved by"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("In your time zone. The customer sees it in theirs."))
    note = forms.CharField(label=_("What you will do (the customer reads it)"),
                           widget=forms.Textarea(attrs={"rows": 3}))


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


class ReferencesField(forms.MultipleChoiceField):
    """Ticket references, any number; each is loaded through access_ticket, one by one."""

    def valid_value(self, value) -> bool:
        return parse_reference(str(value)) is not None


class BulkForm(forms.Form):
    """One move applied to the tickets ticked in a queue."""

    OPS = [
        ("take", _("Assign to me")),
        ("assign", _("Assign to…")),
        ("status", _("Set status…")),
        ("priority", _("Set priority…")),
    ]
    refs = ReferencesField(label=_("Tickets"))
    op = forms.ChoiceField(label=_("Action"), choices=OPS)
    agent = forms.ModelChoiceField(label=_("Agent"), required=False, queryset=Agent.objects.none())
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[
        ("", "—"), *[(s.value, s.label) for s in Status if s not in (Status.RESOLVED, Status.CLOSED)]])
    priority = forms.ModelChoiceField(label=_("Priority"), required=False,
                                      queryset=Priority.objects.filter(is_active=True))

    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents  # type: ignore[attr-defined]
