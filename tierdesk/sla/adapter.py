"""Between tickets and the pure engine: the timeline in, the SLA rows out.

`refresh_ticket` runs inside every ticket action's transaction, so the SLA rows
and `Ticket.next_due_at` always agree with the timeline that produced them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tierdesk.sla.engine import Calendar, Policy, TargetState, evaluate, explain, instant_at
from tierdesk.sla.models import BusinessCalendar, Plan, TicketSLA
from tierdesk.sla.policyfile import tighten

if TYPE_CHECKING:
    from tierdesk.tickets.models import Ticket

WARNING_SHARE = 0.75

# Timeline codes -> the engine's event types. Statuses ride on the "to" of the payload.
_STATUS_CODES = frozenset({"status_changed", "resolved", "reopened", "closed"})


@dataclass(frozen=True)
class CompiledPolicy:
    policy: Policy
    plan_version: int
    calendar_version: int


_cache: dict[tuple[Any, ...], CompiledPolicy] = {}


def _plan_key(plan: Plan, contract_targets: dict) -> tuple[Any, ...]:
    return (plan.pk, plan.version, json.dumps(contract_targets, sort_keys=True))


def compile_policy(plan: Plan, contract_targets: dict | None = None) -> CompiledPolicy:
    """The engine Policy for a plan (tightened by a contract), cached per version.

    Saving a calendar bumps the version of every plan on it, so a key of the plan's
    version is enough to know the cache is fresh, in every process.
    """
    contract_targets = contract_targets or {}
    key = _plan_key(plan, contract_targets)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    calendar = BusinessCalendar.objects.get(pk=plan.calendar_id)
    targets = tighten(plan.targets, contract_targets) if contract_targets else plan.targets
    policy = Policy.from_dict({"calendar": calendar.spec, "targets": targets,
                               "pause_statuses": plan.pause_statuses})
    compiled = CompiledPolicy(policy, plan.version, calendar.version)
    if len(_cache) > 512:
        _cache.clear()
    _cache[key] = compiled
    return compiled


def policy_for(ticket: Ticket) -> CompiledPolicy:
    organisation = ticket.organisation
    return compile_policy(organisation.plan, organisation.contract_targets)


def engine_events(rows: Iterable[tuple[str, datetime, dict]]) -> list[dict]:
    """Timeline rows (code, at, payload), in order, as the engine's events."""
    events: list[dict] = []
    for code, at, payload in rows:
        if code == "created":
            events.append({"at": at, "type": "created", "priority": payload["priority"]})
        elif code in _STATUS_CODES:
            events.append({"at": at, "type": "status", "status": payload["to"]})
        elif code == "priority_changed":
            events.append({"at": at, "type": "priority", "priority": payload["to"]})
        elif code == "public_reply" and payload.get("by") == "agent":
            events.append({"at": at, "type": "first_response"})
        elif code == "resolution_plan_posted":
            # A plan posted to the customer is also a response to them.
            events.append({"at": at, "type": "first_response"})
            events.append({"at": at, "type": "resolution_plan"})
    return events


def ticket_events(ticket: Ticket) -> list[dict]:
    rows = ticket.events.order_by("at", "id").values_list("code", "at", "payload")
    return engine_events(rows)


def compute_rows(ticket_id: int, compiled: CompiledPolicy, events: list[dict],
                 now: datetime) -> tuple[list[TicketSLA], datetime | None]:
    """The SLA rows of one ticket and its next deadline: pure but for the model class."""
    now = max(now, events[-1]["at"]) if events else now
    states = evaluate(compiled.policy, events, now)
    rows = []
    next_due: datetime | None = None
    for name, st in states.items():
        warn_at = None
        if st.state == "running" and st.due is not None:
            warn_at = _warning_instant(compiled.policy, st, now)
            next_due = st.due if next_due is None else min(next_due, st.due)
        rows.append(TicketSLA(
            ticket_id=ticket_id, target=name, state=st.state,
            elapsed_seconds=int(st.elapsed.total_seconds()),
            target_seconds=int(st.target.total_seconds()),
            due_at=st.due, warn_at=warn_at, met_at=st.met_at, breached_at=st.breached_at,
            plan_version=compiled.plan_version, calendar_version=compiled.calendar_version,
            computed_at=now,
        ))
    return rows, next_due


_ROW_FIELDS = ["state", "elapsed_seconds", "target_seconds", "due_at", "warn_at", "met_at",
               "breached_at", "plan_version", "calendar_version", "computed_at"]


def save_rows(rows: list[TicketSLA]) -> None:
    if rows:
        TicketSLA.objects.bulk_create(rows, update_conflicts=True,
                                      unique_fields=["ticket", "target"],
                                      update_fields=_ROW_FIELDS)


def refresh_ticket(ticket: Ticket, *, now: datetime) -> None:
    """Recompute the ticket's SLA rows and `next_due_at` from its timeline."""
    compiled = policy_for(ticket)
    rows, next_due = compute_rows(ticket.pk, compiled, ticket_events(ticket), now)
    TicketSLA.objects.filter(ticket=ticket).exclude(
        target__in=[r.target for r in rows]).delete()
    save_rows(rows)
    if ticket.next_due_at != next_due:
        ticket.next_due_at = next_due
        type(ticket).objects.filter(pk=ticket.pk).update(next_due_at=next_due)


def _warning_instant(policy: Policy, state: TargetState, now: datetime) -> datetime:
    """When elapsed reaches WARNING_SHARE of the target; `now` if that is already past."""
    return instant_at(policy, state, now, WARNING_SHARE) or now


def explain_ticket(ticket: Ticket, *, now: datetime):
    """The clock, stretch by stretch, for the agent's page and `tierdesk sla explain`."""
    compiled = policy_for(ticket)
    events = ticket_events(ticket)
    return explain(compiled.policy, events, max(now, events[-1]["at"]) if events else now)


def calendar_of(plan: Plan) -> Calendar:
    return compile_policy(plan).policy.calendar
