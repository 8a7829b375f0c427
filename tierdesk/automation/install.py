"""Installing escalation rules: the shipped defaults and the policy file's `[[escalations]]`.

Called by `tierdesk.sla.install.install_policy`, in its transaction. Rules are
matched by name, so loading the same file twice changes nothing. A rule of the
file that cannot run (an unknown key, priority or team, no moment) refuses the
whole file, with the line it is on; a shipped default that cannot run on this
desk is skipped and reported. Rules of an earlier file that the new one no
longer names are switched off, not deleted.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tierdesk.automation.models import CommitmentPolicy, EscalationRule
from tierdesk.automation.rules import RuleError, compile_rule
from tierdesk.notifications import recipients
from tierdesk.sla.policyfile import PolicyFile, PolicyFileError, Problem

DEFAULTS = Path(__file__).with_name("presets") / "default_rules.toml"


class Report(Protocol):
    created: list[str]
    changed: list[str]


@dataclass(frozen=True)
class RuleSpec:
    name: str
    when: Any
    then: Any
    source: str
    line: int | None = None


def default_rules() -> list[RuleSpec]:
    data = tomllib.loads(DEFAULTS.read_text(encoding="utf-8"))
    return [RuleSpec(r["name"], r["when"], r["then"], EscalationRule.Source.DEFAULT)
            for r in data.get("escalations", [])]


def install_rules(pf: PolicyFile, report: Report) -> None:
    specs: dict[str, RuleSpec] = {r.name: r for r in default_rules()}
    for entry in pf.escalations:
        specs[entry.name] = RuleSpec(entry.name, entry.when, entry.then,
                                     EscalationRule.Source.POLICY, entry.line)
    problems: list[Problem] = []
    valid: list[RuleSpec] = []
    for index, spec in enumerate(specs.values()):
        try:
            compile_rule(spec.name, spec.when, spec.then)
        except RuleError as exc:
            if spec.source == EscalationRule.Source.DEFAULT:
                report.changed.append(f"skipped default rule {spec.name!r}: {exc}")
                continue
            problems += [Problem(spec.line, f"escalations[{index}].{exc.part}", p)
                         for p in exc.problems]
            continue
        valid.append(spec)
    problems += _commitment_problems(pf)
    if problems:
        raise PolicyFileError(problems, source=pf.source)
    install_commitment(pf, report)
    existing = {r.name: r for r in EscalationRule.objects.all()}
    for position, spec in enumerate(valid):
        stored = existing.get(spec.name)
        if stored is None:
            EscalationRule.objects.create(name=spec.name, when=spec.when, then=spec.then,
                                          source=spec.source, position=position)
            report.created.append(f"escalation rule {spec.name!r}")
            continue
        rule = stored
        changed = (rule.when, rule.then, rule.source) != (spec.when, spec.then, spec.source)
        rule.when, rule.then, rule.source, rule.position = (spec.when, spec.then, spec.source,
                                                            position)
        if spec.source == EscalationRule.Source.POLICY:
            changed = changed or not rule.is_active
            rule.is_active = True  # the file is the truth for its rules
        rule.save()
        if changed:
            report.changed.append(f"escalation rule {spec.name!r}")
    named = {s.name for s in valid}
    retired = EscalationRule.objects.filter(source=EscalationRule.Source.POLICY,
                                            is_active=True).exclude(name__in=named)
    for name in retired.values_list("name", flat=True):
        report.changed.append(f"escalation rule {name!r} switched off (no longer in the file)")
    retired.update(is_active=False)


def _commitment_problems(pf: PolicyFile) -> list[Problem]:
    terms = pf.commitment
    if terms is None:
        return []
    return [Problem(terms.line, "commitment.escalate_to",
                    f"unknown role {name!r}; roles: {', '.join(recipients.ROLES)}")
            for name in terms.escalate_to if not recipients.is_known(name)]


def install_commitment(pf: PolicyFile, report: Report) -> None:
    """`[commitment]` of the file, when it has one, replaces the desk's commitment policy;
    a file without one leaves it as it is (the defaults, or what the admin set)."""
    terms = pf.commitment
    if terms is None:
        return
    policy = CommitmentPolicy.objects.order_by("pk").first() or CommitmentPolicy()
    wanted = (terms.enabled, terms.due_within, terms.remind_at, list(terms.escalate_to))
    if policy.pk is not None and (policy.is_active, policy.due_within_minutes,
                                  policy.remind_share, policy.roles()) == wanted:
        return
    (policy.is_active, policy.due_within_minutes, policy.remind_share,
     policy.escalate_to) = wanted
    policy.save()
    report.changed.append("time-frame commitment policy")
