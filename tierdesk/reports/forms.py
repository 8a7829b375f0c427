"""The reports' filter form and the survey forms."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.models import Agent, Organisation, Team
from tierdesk.sla.models import Plan
from tierdesk.tickets.models import Category, Channel, Priority

from . import queries
from .annual import SCALE
from .surveys import FACES

MAX_DAYS = 800  # about two years: enough for a year on year, not a scan of all time by accident


def default_period(today: date) -> tuple[date, date]:
    """This month and the two before it."""
    first = today.replace(day=1)
    for _i in range(2):
        first = (first - timedelta(days=1)).replace(day=1)
    return first, today


def _choices(pairs, *, none_label: Any = None) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("", _("Any"))]
    out += [(str(k), v) for k, v in pairs]
    if none_label is not None:
        out.append((queries.NONE, none_label))
    return out


class ReportFilterForm(forms.Form):
    """Period, grouping and dimensions of a report; invalid input falls back to defaults."""

    start = forms.DateField(label=_("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}))
    group = forms.ChoiceField(label=_("Group by"), required=False)
    organisation = forms.ChoiceField(label=_("Organisation"), required=False)
    plan = forms.ChoiceField(label=_("Plan"), required=False)
    priority = forms.ChoiceField(label=_("Priority"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    tier = forms.ChoiceField(label=_("Tier"), required=False,
                             choices=_choices([(1, "1"), (2, "2"), (3, "3")]))
    agent = forms.ChoiceField(label=_("Agent"), required=False)
    team = forms.ChoiceField(label=_("Team"), required=False)
    channel = forms.ChoiceField(label=_("Channel"), required=False,
                                choices=_choices(Channel.choices))

    def __init__(self, data: Any, *, today: date, zone: str, groups: tuple[str, ...],
                 default_group: str) -> None:
        super().__init__(data or None)
        self.today, self.zone, self.default_group = today, zone, default_group
        self._choices("group", [(g, queries.GROUPS[g]) for g in groups])
        self._choices("organisation", _choices(Organisation.objects.values_list("pk", "name")))
        self._choices("plan", _choices(Plan.objects.values_list("pk", "name")))
        self._choices("priority", _choices(Priority.objects.values_list("pk", "name")))
        self._choices("category", _choices(
            [(c.pk, c.path) for c in Category.objects.select_related("parent__parent")],
            none_label=_("No category")))
        self._choices("agent", _choices(
            [(a.pk, str(a)) for a in Agent.objects.select_related("user")
             .order_by("user__full_name")], none_label=_("Unassigned")))
        self._choices("team", _choices(Team.objects.values_list("pk", "name"),
                                       none_label=_("No team")))

    def _choices(self, name: str, choices: list[tuple[str, Any]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = default_period(self.today)
        data["start"] = data.get("start") or start
        data["end"] = data.get("end") or end
        if data["end"] < data["start"]:
            data["start"], data["end"] = data["end"], data["start"]
        if (data["end"] - data["start"]).days > MAX_DAYS:
            data["start"] = data["end"] - timedelta(days=MAX_DAYS)
        return data

    def filters(self) -> queries.Filters:
        data = self.cleaned_data if self.is_bound and self.is_valid() else self.clean_unbound()

        def dim(name: str) -> int | str | None:
            value = data.get(name) or ""
            if value == queries.NONE:
                return queries.NONE
            return int(value) if value.isdigit() else None

        return queries.Filters(
            start=data["start"], end=data["end"], zone=self.zone,
            organisation=dim("organisation"), plan=dim("plan"), priority=dim("priority"),
            category=dim("category"), tier=dim("tier"), agent=dim("agent"), team=dim("team"),
            channel=data.get("channel") or "")

    def grouping(self) -> str:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return data.get("group") or self.default_group

    def clean_unbound(self) -> dict[str, Any]:
        start, end = default_period(self.today)
        return {"start": start, "end": end}


class SurveyAnswerForm(forms.Form):
    face = forms.ChoiceField(label=_("How did we do?"), widget=forms.RadioSelect,
                             choices=[(f, f) for f in FACES])
    comment = forms.CharField(label=_("Anything you want to tell us? (optional)"),
                              required=False, max_length=4000, widget=forms.Textarea(
                                  attrs={"rows": 4}))


class AnnualAnswerForm(forms.Form):
    """One field per question of the survey: a 1-5 scale or a text."""

    def __init__(self, *args: Any, questions: list[dict[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for q in questions:
            if q["kind"] == "scale":
                self.fields[q["key"]] = forms.TypedChoiceField(
                    label=q["text"], required=False, coerce=int, widget=forms.RadioSelect,
                    choices=[(n, str(n)) for n in SCALE])
            else:
                self.fields[q["key"]] = forms.CharField(
                    label=q["text"], required=False, max_length=4000,
                    widget=forms.Textarea(attrs={"rows": 3}))
