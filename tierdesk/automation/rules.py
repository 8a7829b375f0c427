"""Escalation rules as data: what `when` and `then` may say, checked, and matched.

A rule is a table of conditions, all of which must hold, and a table of actions:

    when = { priority = "critical", target = "first_response", state = "breached" }
    then = { notify = ["team_lead"] }

Each rule has exactly one *moment*, the thing that makes it look at a ticket:

    new = true                    the ticket was opened
    escalated = true              its tier was raised (by a person or a rule)
    customer_escalated = true     the customer escalated it (portal, phone, email)
    reopened = true               it was reopened
    timeframe_missed = true       a committed resolution time-frame passed
    target = T, state = S         an SLA step: S is "warning" or "breached"
                                  (also written breached = T, warned = T)
    unresolved_for_days = N       N calendar days after it was (re)opened, still unresolved
    unresolved_for_business_days = N   the same on the plan's calendar (age_days and
                                  age_business_days are synonyms)
    unresolved_for = "4h"         a duration
    <target>_left = "10m"         a running target has that little left

and any filters: priority, category (a category or its children), organisation
(by name), plan (code), tier, status, channel — each a value or a list — and
reopen_count = N (at least N reopens).

Actions: raise_tier = true | tier = N; escalate_to = ROLE (assign to the person
holding it: support_manager, team_lead); assign_team = "Team name";
assign_role = ROLE; notify = [ROLE or email, ...]; raise_priority = true |
priority = CODE; add_watcher = ROLE or email (or a list); route = true (give it to
the best engineer, seed 003). Roles: team_lead (support_lead), support_manager,
administrator, assignee, requester.

A rule that cannot match or act (an unknown key, team, priority, an empty
condition, no moment) is refused when saved, with every reason at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tierdesk.accounts.models import Organisation, Team, User
from tierdesk.notifications import recipients
from tierdesk.sla.engine import TARGET_NAMES, Calendar, TargetRule
from tierdesk.sla.engine.instants import to_us
from tierdesk.sla.models import Plan
from tierdesk.sla.policyfile import parse_duration
from tierdesk.tickets.lifecycle import Status
from tierdesk.tickets.models import Category, Channel, Priority

if TYPE_CHECKING:
    from tierdesk.tickets.models import Ticket

EVENT_MOMENTS = ("new", "escalated", "customer_escalated", "reopened", "timeframe_missed")
SLA_STATES = ("warning", "breached")
TIME_KEYS = {
    "unresolved_for_days": "days", "age_days": "days",
    "unresolved_for_business_days": "business_days", "age_business_days": "business_days",
    "unresolved_for": "duration",
}
LEFT_KEYS = {f"{t}_left": t for t in TARGET_NAMES}
FILTER_KEYS = ("priority", "category", "organisation", "plan", "tier", "status", "channel",
               "reopen_count")
ACTION_KEYS = ("raise_tier", "tier", "escalate_to", "assign_team", "assign_role", "notify",
               "raise_priority", "priority", "add_watcher", "route")
ASSIGNABLE_ROLES = ("team_lead", "support_lead", "lead", "support_manager", "manager",
                    "administrator")


class RuleError(ValueError):
    def __init__(self, part: str, problems: list[str]):
        self.part = part
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class CompiledRule:
    pk: int | None
    name: str
    moment: str  # "new", ..., "warning:<target>", "breached:<target>", "time"
    filters: dict[str, Any]
    actions: tuple[tuple[str, Any], ...]
    # For time rules: ("days" | "business_days" | "minutes" | "left", amount, target)
    timer: tuple[str, int, str] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_timed(self) -> bool:
        return self.moment == "time"


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _minutes(value: Any, key: str, problems: list[str]) -> int:
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        problems.append(f"{key}: {exc}")
        return 0
    if not isinstance(parsed, int):
        problems.append(f"{key}: write minutes or hours ('30m', '4h'), not business days")
        return 0
    return parsed


def _whole(value: Any, key: str, problems: list[str], *, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        problems.append(f"{key}: expected a whole number of at least {low}, not {value!r}")
        return 0
    return value


def compile_rule(name: str, when: Any, then: Any, *, pk: int | None = None,
                 check_data: bool = True) -> CompiledRule:
    """Check a rule against the language and (with `check_data`) the desk's data: the
    priorities, categories, teams and people it names. Raise RuleError with every reason."""
    if not isinstance(when, dict) or not when:
        raise RuleError("when", ["the condition is empty: say when the rule applies "
                                 "(e.g. {\"unresolved_for_days\": 5})"])
    if not isinstance(then, dict) or not then:
        raise RuleError("then", ["the rule does nothing: say what it does "
                                 "(e.g. {\"notify\": [\"team_lead\"]})"])
    problems: list[str] = []
    moment, timer = _moment(when, problems)
    filters = _filters(when, problems, check_data)
    if problems:
        raise RuleError("when", problems)
    actions = _actions(then, problems, check_data)
    if problems:
        raise RuleError("then", problems)
    return CompiledRule(pk, name, moment, filters, tuple(actions), timer,
                        {"when": when, "then": then})


def _moment(when: dict[str, Any], problems: list[str]) -> tuple[str, tuple[str, int, str] | None]:
    known = {*EVENT_MOMENTS, "target", "state", "breached", "warned", *TIME_KEYS, *LEFT_KEYS,
             *FILTER_KEYS}
    for key in when:
        if key not in known:
            problems.append(f"unknown condition {key!r}; known: {', '.join(sorted(known))}")
    moments: list[tuple[str, tuple[str, int, str] | None]] = []
    for key in EVENT_MOMENTS:
        if key in when:
            if when[key] is not True:
                problems.append(f"{key}: write {key} = true")
            moments.append((key, None))
    target, state = when.get("target"), when.get("state")
    if "breached" in when:
        target, state = when["breached"], "breached"
    if "warned" in when:
        target, state = when["warned"], "warning"
    if target is not None or state is not None:
        if target not in TARGET_NAMES:
            problems.append(f"target: {target!r} is not an SLA target ({', '.join(TARGET_NAMES)})")
        if state not in SLA_STATES:
            problems.append(f"state: {state!r}; a rule can act on {' or '.join(SLA_STATES)}")
        moments.append((f"{state}:{target}", None))
    for key, kind in TIME_KEYS.items():
        if key in when:
            if kind == "duration":
                moments.append(("time", ("minutes", _minutes(when[key], key, problems), "")))
            else:
                moments.append(("time", (kind, _whole(when[key], key, problems), "")))
    for key, target_name in LEFT_KEYS.items():
        if key in when:
            moments.append(("time", ("left", _minutes(when[key], key, problems), target_name)))
    if not moments:
        problems.append("the rule has no moment: say when it looks at a ticket (new, escalated, "
                        "customer_escalated, reopened, timeframe_missed, target and state, "
                        "unresolved_for_days, ..._left)")
        return "", None
    if len(moments) > 1:
        problems.append("a rule has exactly one moment; these are several: "
                        + ", ".join(m for m, _ in moments))
    return moments[0]


def _filters(when: dict[str, Any], problems: list[str], check_data: bool) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    checks: dict[str, Callable[[], set[Any]]] = {
        "priority": lambda: set(Priority.objects.values_list("code", flat=True)),
        "category": lambda: set(Category.objects.values_list("code", flat=True)),
        "organisation": lambda: set(Organisation.objects.values_list("name", flat=True)),
        "plan": lambda: set(Plan.objects.values_list("code", flat=True)),
        "status": lambda: set(Status.values),
        "channel": lambda: set(Channel.values),
        "tier": lambda: {1, 2, 3},
    }
    for key, known in checks.items():
        if key not in when:
            continue
        values = _as_list(when[key])
        if not values:
            problems.append(f"{key}: the list is empty, so the rule could never match")
            continue
        allowed: set[Any] = (known() if check_data or key in ("status", "channel", "tier")
                             else set(values))
        unknown = [v for v in values if v not in allowed]
        if unknown:
            problems.append(f"{key}: unknown {', '.join(map(repr, unknown))}")
        filters[key] = set(values)
    if "reopen_count" in when:
        filters["reopen_count"] = _whole(when["reopen_count"], "reopen_count", problems, low=0)
    return filters


def _people(value: Any, key: str, problems: list[str], check_data: bool) -> list[str]:
    names = _as_list(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        problems.append(f"{key}: name roles or email addresses, e.g. [\"team_lead\"]")
        return []
    for name in names:
        if not recipients.is_known(name):
            problems.append(f"{key}: unknown role {name!r}; roles: {', '.join(recipients.ROLES)}")
        elif check_data and "@" in name and not User.objects.filter(
                email__iexact=name, is_active=True).exists():
            problems.append(f"{key}: nobody active has the address {name!r}")
    return names


def _actions(then: dict[str, Any], problems: list[str], check_data: bool) -> list[tuple[str, Any]]:
    actions: list[tuple[str, Any]] = []
    for key, value in then.items():
        if key not in ACTION_KEYS:
            problems.append(f"unknown action {key!r}; known: {', '.join(ACTION_KEYS)}")
        elif key in ("raise_tier", "raise_priority", "route"):
            if value is not True:
                problems.append(f"{key}: write {key} = true")
        elif key == "tier":
            if value not in (1, 2, 3):
                problems.append(f"tier: tiers are 1, 2 and 3, not {value!r}")
        elif key in ("escalate_to", "assign_role"):
            if value not in ASSIGNABLE_ROLES:
                problems.append(f"{key}: {value!r} is not a role one can assign to "
                                f"({', '.join(ASSIGNABLE_ROLES)})")
        elif key == "assign_team":
            if not isinstance(value, str) or (
                    check_data and not Team.objects.filter(name=value).exists()):
                problems.append(f"assign_team: there is no team {value!r}")
        elif key == "priority":
            if not isinstance(value, str) or (
                    check_data and not Priority.objects.filter(code=value, is_active=True).exists()):
                problems.append(f"priority: {value!r} is not an active priority")
        elif key in ("notify", "add_watcher"):
            value = _people(value, key, problems, check_data)
        actions.append((key, value))
    return actions


# --------------------------------------------------------------------------- matching


def matches(rule: CompiledRule, ticket: Ticket) -> bool:
    """Do the rule's filters hold for the ticket as it is now?"""
    f = rule.filters
    if "priority" in f and ticket.priority.code not in f["priority"]:
        return False
    if "category" in f:
        codes = set()
        node = ticket.category
        while node is not None:
            codes.add(node.code)
            node = node.parent
        if not codes & f["category"]:
            return False
    if "organisation" in f and ticket.organisation.name not in f["organisation"]:
        return False
    if "plan" in f and ticket.organisation.plan.code not in f["plan"]:
        return False
    if "tier" in f and ticket.tier not in f["tier"]:
        return False
    if "status" in f and ticket.status not in f["status"]:
        return False
    if "channel" in f and ticket.channel not in f["channel"]:
        return False
    return not ("reopen_count" in f and ticket.reopen_count < f["reopen_count"])


def instant(rule: CompiledRule, ticket: Ticket, *, opened_at: datetime,
            due: dict[str, datetime | None], calendar: Calendar) -> datetime | None:
    """When a time rule's moment comes for this ticket (None: not while things stay as they are)."""
    assert rule.timer is not None
    kind, amount, target = rule.timer
    if kind == "days":
        return opened_at + timedelta(days=amount)
    if kind == "minutes":
        return opened_at + timedelta(minutes=amount)
    if kind == "business_days":
        length = TargetRule("business_days", amount).length_us(calendar, to_us(opened_at))
        return calendar.add(opened_at, timedelta(microseconds=length))
    due_at = due.get(target)
    return None if due_at is None else due_at - timedelta(minutes=amount)


def compile_all(rows: Iterable[tuple[int, str, Any, Any]]) -> list[CompiledRule]:
    """Compile stored rules (pk, name, when, then) without touching the database; one that
    no longer compiles is skipped and logged (the admin refuses to save such a rule)."""
    import logging

    compiled = []
    for pk, name, when, then in rows:
        try:
            compiled.append(compile_rule(name, when, then, pk=pk, check_data=False))
        except RuleError as exc:
            logging.getLogger(__name__).error("escalation rule %r is no longer valid: %s",
                                              name, exc)
    return compiled
