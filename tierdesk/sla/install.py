"""Installing a checked policy file into the database, in one transaction.

Everything is matched by code, so loading the same file twice changes nothing
and loading an edited file changes only what was edited. A calendar or plan
whose meaning changed gets a new version; the SLA rows of open tickets on it are
then stale and are rebuilt in the background (see `tierdesk.sla.rebuild`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Max

from tierdesk.accounts.models import Provider
from tierdesk.sla.models import BusinessCalendar, Plan
from tierdesk.sla.policyfile import PolicyFile
from tierdesk.tickets.models import Category, ImpactUrgency, Priority


@dataclass
class InstallReport:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    changed_plans: list[int] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"created {x}" for x in self.created] + [f"changed {x}" for x in self.changed]
        return out or ["nothing changed"]


def _name(text: dict[str, str], language: str) -> str:
    return text.get(language) or text.get("en") or next(iter(text.values()), "")


@transaction.atomic
def install_policy(pf: PolicyFile) -> InstallReport:
    report = InstallReport()
    _provider(pf)
    _priorities(pf, report)
    _matrix(pf)
    _categories(pf, report)
    calendar_changed = _calendars(pf, report)
    _plans(pf, report, calendar_changed)
    # Escalation rules mean something only to the automation, which installs them.
    from tierdesk.automation.install import install_rules

    install_rules(pf, report)
    return report


def _provider(pf: PolicyFile) -> None:
    provider = Provider.current()
    provider.name = pf.provider.name
    provider.time_zone = pf.provider.timezone
    if pf.provider.support_email:
        provider.support_address = pf.provider.support_email
    provider.languages = [pf.provider.language] + [
        x for x in ("en", "es") if x != pf.provider.language]
    # None means "always" for reopening and "never" for auto-closing, in both places.
    provider.reopen_window_days = pf.reopen_days
    provider.autoclose_days = pf.auto_close_days
    provider.save()


def _priorities(pf: PolicyFile, report: InstallReport) -> None:
    # Ranks are unique: move the existing ones out of the way first.
    top = Priority.objects.aggregate(m=Max("rank"))["m"] or 0
    Priority.objects.update(rank=F("rank") + top + 1000)
    for rank, choice in enumerate(pf.priorities, start=1):
        _, created = Priority.objects.update_or_create(code=choice.code, defaults={
            "rank": rank, "name": _name(choice.name, "en"), "name_es": choice.name.get("es", ""),
            "description": _name(choice.description, "en") if choice.description else "",
            "is_active": True})
        if created:
            report.created.append(f"priority {choice.code}")
    # Priorities the file no longer names stay for old tickets, retired.
    Priority.objects.exclude(code__in=pf.priority_codes).update(is_active=False)


def _matrix(pf: PolicyFile) -> None:
    ImpactUrgency.objects.all().delete()
    if pf.matrix is None:
        return
    priorities = {p.code: p for p in Priority.objects.all()}
    ImpactUrgency.objects.bulk_create(
        ImpactUrgency(impact=impact, urgency=urgency or "", priority=priorities[code])
        for (impact, urgency), code in pf.matrix.cells.items())


def _categories(pf: PolicyFile, report: InstallReport) -> None:
    by_code = {c.code: c for c in Category.objects.all()}
    named = set()
    for parent, position, node in pf.iter_categories():
        named.add(node.code)
        values = {"name": _name(node.name, "en"), "name_es": node.name.get("es", ""),
                  "parent": by_code.get(parent) if parent else None, "position": position,
                  "is_active": True}
        category = by_code.get(node.code)
        if category is None:
            by_code[node.code] = Category.objects.create(code=node.code, **values)
            report.created.append(f"category {node.code}")
        else:
            for key, value in values.items():
                setattr(category, key, value)
            category.save()
    Category.objects.exclude(code__in=named).update(is_active=False)


def _calendars(pf: PolicyFile, report: InstallReport) -> set[str]:
    changed = set()
    for code, spec in pf.calendars.items():
        calendar = BusinessCalendar.objects.filter(code=code).first()
        if calendar is None:
            BusinessCalendar.objects.create(code=code, name=code, spec=spec)
            report.created.append(f"calendar {code}")
        elif calendar.spec != spec:
            calendar.spec = spec
            calendar.version += 1
            calendar.save()
            changed.add(code)
            report.changed.append(f"calendar {code} (version {calendar.version})")
    return changed


def _plans(pf: PolicyFile, report: InstallReport, calendar_changed: set[str]) -> None:
    calendars = {c.code: c for c in BusinessCalendar.objects.all()}
    for code, plan_spec in pf.plans.items():
        engine = pf.engine_policy(code)
        values = {"name": _name(plan_spec.name, pf.provider.language),
                  "calendar": calendars[plan_spec.calendar],
                  "targets": engine["targets"], "pause_statuses": engine["pause_statuses"],
                  "is_active": True}
        plan = Plan.objects.filter(code=code).first()
        if plan is None:
            Plan.objects.create(code=code, **values)
            report.created.append(f"plan {code}")
            continue
        meaning_changed = (plan.targets != values["targets"]
                           or plan.pause_statuses != values["pause_statuses"]
                           or plan.calendar_id != values["calendar"].pk
                           or plan_spec.calendar in calendar_changed)
        for key, value in values.items():
            setattr(plan, key, value)
        if meaning_changed:
            plan.version += 1
            report.changed.append(f"plan {code} (version {plan.version})")
            report.changed_plans.append(plan.pk)
        plan.save()
