"""Routing to the best engineer (seed 003: "The best engineer for your issue will be assigned").

`best_engineer` picks, among the agents who may take the ticket:

1. available, active agents at the ticket's tier (leads included, managers and
   administrators not), in the ticket's team when it has one;
2. whose skills cover its category (a skill on a category covers its children;
   a ticket without a category needs no skill); when nobody's do, agents with
   no skills recorded (generalists);
3. inside their working hours now (`Agent.calendar`; none means always);
4. with the least open work (active tickets assigned to them);
5. ties: whoever routing served longest ago (round-robin), then the lowest id.

When nobody fits, the answer says which step emptied the list, and `route`
records it on the ticket (an internal `not_routed` event), tells the team lead
and leaves it unassigned.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.db.models import Count
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Agent
from tierdesk.automation.models import RoutingState
from tierdesk.notifications import recipients
from tierdesk.notifications.notifier import Notice, notify_later
from tierdesk.sla.engine import Calendar
from tierdesk.tickets import actions
from tierdesk.tickets.actions import batch as batch_actions
from tierdesk.tickets.actions.base import last_recorded
from tierdesk.tickets.actions.escalation import record_not_routed
from tierdesk.tickets.lifecycle import ACTIVE
from tierdesk.tickets.models import Category, EventCode, Ticket, TicketEvent

ROUTABLE_ROLES = (Agent.Role.AGENT, Agent.Role.TEAM_LEAD)
_calendars: dict[tuple[int, int], Calendar] = {}


@dataclass
class _Batch:
    """What routing reads once for a batch: the pools; and the open work and last
    assignment of the agents seen so far, kept up to date as the batch routes."""

    pools: dict[tuple[int, int | None], list[Agent]] = field(default_factory=dict)
    load: dict[int, int] = field(default_factory=dict)
    served: dict[int, datetime | None] = field(default_factory=dict)


_batch: ContextVar[_Batch | None] = ContextVar("routing_batch", default=None)


@dataclass(frozen=True)
class Choice:
    agent: Agent | None
    reason: str


def _working(agent: Agent, at: datetime) -> bool:
    cal = agent.calendar
    if cal is None:
        return True
    key = (cal.pk, cal.version)
    calendar = _calendars.get(key)
    if calendar is None:
        if len(_calendars) > 256:
            _calendars.clear()
        calendar = _calendars[key] = Calendar.from_dict(cal.spec)
    return calendar.is_open(at)


@contextmanager
def batch() -> Iterator[None]:
    """Routing many tickets in one transaction (a batch of the hooks' deferred work): the
    agents who may take them, their skills and calendars are read once per tier and team,
    their open work and last assignment once per agent; what the batch assigns is counted
    in as it goes, so each ticket gets the answer it would get on its own, in order.
    Whatever else changes assignments meanwhile (another rule, a rollback) calls `forget`."""
    token = _batch.set(_Batch())
    try:
        yield
    finally:
        _batch.reset(token)


def forget() -> None:
    """The batch's counts may be stale (an assignment other than routing's, a savepoint
    rolled back): read them again when next needed."""
    state = _batch.get()
    if state is not None:
        state.load.clear()
        state.served.clear()


def _pool_of(tier: int, team_id: int | None) -> list[Agent]:
    state = _batch.get()
    if state is not None and (tier, team_id) in state.pools:
        return state.pools[(tier, team_id)]
    qs = (Agent.objects.select_related("user", "calendar").prefetch_related("skills")
          .filter(user__is_active=True, is_available=True, tier=tier, role__in=ROUTABLE_ROLES))
    if team_id:
        qs = qs.filter(teams=team_id)
    agents = list(qs.order_by("pk"))
    if state is not None:
        state.pools[(tier, team_id)] = agents
    return agents


def _counts(ids: list[int]) -> tuple[dict[int, int], dict[int, datetime | None]]:
    """Open work (active tickets assigned) and the last routed assignment of these agents:
    read for those the batch has not counted yet."""
    state = _batch.get()
    missing = ids if state is None else [pk for pk in ids if pk not in state.load]
    load: dict[int, int] = {}
    served: dict[int, datetime | None] = {}
    if missing:
        load = dict(Ticket.objects.filter(assignee_id__in=missing, status__in=list(ACTIVE))
                    .values_list("assignee_id").annotate(n=Count("pk"))
                    .values_list("assignee_id", "n"))
        served = dict(RoutingState.objects.filter(agent_id__in=missing)
                      .values_list("agent_id", "last_assigned_at"))
    if state is None:
        return load, served
    for pk in missing:
        state.load[pk] = load.get(pk, 0)
        state.served[pk] = served.get(pk)
    return state.load, state.served


def best_engineer(ticket: Ticket, *, at: datetime) -> Choice:
    candidates = list(_pool_of(ticket.tier, ticket.team_id))
    where = (_(" in team %(team)s") % {"team": ticket.team.name}) if ticket.team else ""
    if not candidates:
        return Choice(None, _("no available agent works at tier %(tier)s%(where)s.") % {
            "tier": ticket.tier, "where": where})
    if ticket.category is not None:
        codes = set()
        node: Category | None = ticket.category
        while node is not None:
            codes.add(node.pk)
            node = node.parent
        skilled = [a for a in candidates if any(s.pk in codes for s in a.skills.all())]
        # Agents with no skills recorded are generalists: they take what no specialist can.
        candidates = skilled or [a for a in candidates if not a.skills.all()]
        if not candidates:
            return Choice(None, _("nobody at tier %(tier)s%(where)s has the skill “%(cat)s”.") % {
                "tier": ticket.tier, "where": where, "cat": ticket.category})
    candidates = [a for a in candidates if _working(a, at)]
    if not candidates:
        return Choice(None, _("the engineers who could take it are outside their working "
                              "hours."))
    ids = [a.pk for a in candidates]
    load, served = _counts(ids)
    epoch = datetime.min.replace(tzinfo=at.tzinfo)
    best = min(candidates, key=lambda a: (load.get(a.pk, 0), served.get(a.pk) or epoch, a.pk))
    skill = _(" with the skill “%(cat)s”") % {"cat": ticket.category} if ticket.category else ""
    return Choice(best, _("Routed: tier %(tier)s%(skill)s, working now, %(n)s open tickets.") % {
        "tier": ticket.tier, "skill": skill, "n": load.get(best.pk, 0)})


def route(ticket: Ticket, *, at: datetime) -> Agent | None:
    """Assign the ticket to the best engineer, or record why nobody fits. Inside an action."""
    choice = best_engineer(ticket, at=at)
    if choice.agent is None:
        event = record_not_routed(ticket=ticket, reason=choice.reason, at=at)
        # Nobody fits: the lead must give it to someone, or it waits unseen.
        notify_later(Notice(key=f"ev{event.pk}", kind="not_routed", recipients=tuple(
            recipients.resolve(["team_lead"], ticket)), ticket=ticket, at=at,
            context={"reason": choice.reason}))
        return None
    actions.assign(actor=None, ticket=ticket, agent=choice.agent, team=ticket.team,
                   reason=choice.reason, at=at)
    # One upsert (INSERT ... ON CONFLICT DO UPDATE), not update_or_create's four queries.
    RoutingState.objects.bulk_create([RoutingState(agent=choice.agent, last_assigned_at=at)],
                                     update_conflicts=True, unique_fields=["agent"],
                                     update_fields=["last_assigned_at"])
    _count_in(choice.agent, at)
    event = last_recorded(ticket, EventCode.ASSIGNED)
    notify_later(Notice(key=f"ev{event.pk}", kind="assigned", recipients=(choice.agent.user,),
                        ticket=ticket, at=at, context={"reason": choice.reason}))
    return choice.agent


def _count_in(agent: Agent, at: datetime) -> None:
    state = _batch.get()
    if state is not None and agent.pk in state.load:
        # What the next ticket's query would count: one more open ticket, served now.
        state.load[agent.pk] += 1
        state.served[agent.pk] = at


@dataclass
class Plan:
    """What routing planned for some of a batch's tickets and has not written yet: the
    events in order (`batch_actions.write_planned`), the tickets to touch, the notices
    to gather once their events have keys, and each agent's last assignment."""

    events: list[TicketEvent] = field(default_factory=list)
    touched: list[tuple[Ticket, datetime, list[str]]] = field(default_factory=list)
    # A notice keyed by an event planned here (its key filled in when written), or as is.
    notices: list[tuple[TicketEvent | None, Notice]] = field(default_factory=list)
    served: dict[int, tuple[Agent, datetime]] = field(default_factory=dict)

    def write(self) -> None:
        """Write what was planned (inside the caller's transaction), then gather the
        notices, keyed by their events as `route` keys them."""
        batch_actions.write_planned(events=self.events, touched=self.touched)
        if self.served:
            # One upsert for the batch: each agent's last assignment, as the
            # one-ticket upserts in turn would leave it.
            RoutingState.objects.bulk_create(
                [RoutingState(agent=agent, last_assigned_at=at)
                 for agent, at in self.served.values()],
                update_conflicts=True, unique_fields=["agent"],
                update_fields=["last_assigned_at"])
        for event, notice in self.notices:
            notify_later(notice if event is None else replace(notice, key=f"ev{event.pk}"))


def plan_route(ticket: Ticket, *, at: datetime, plan: Plan) -> Agent | None:
    """`route`, planned into `plan` instead of written: the same choice, events, changes
    to `ticket`, counts and notices (their keys filled in when the plan is written)."""
    choice = best_engineer(ticket, at=at)
    if choice.agent is None:
        event = batch_actions.event_for(ticket, EventCode.NOT_ROUTED, actor=None, at=at,
                                            is_public=False, body=choice.reason,
                                            reason=choice.reason)
        plan.events.append(event)
        plan.notices.append((event, Notice(
            key="", kind="not_routed", recipients=tuple(recipients.resolve(["team_lead"], ticket)),
            ticket=ticket, at=at, context={"reason": choice.reason})))
        return None
    planned = batch_actions.plan_assign(ticket=ticket, agent=choice.agent, team=ticket.team,
                                        reason=choice.reason, at=at)
    if planned is not None:
        plan.events += planned.events
        plan.touched.append((ticket, at, planned.fields))
    plan.served.pop(choice.agent.pk, None)  # insertion order: the last assignment last
    plan.served[choice.agent.pk] = (choice.agent, at)
    _count_in(choice.agent, at)
    assigned = planned.events[0] if planned is not None else None
    if assigned is not None:
        plan.notices.append((assigned, Notice(
            key="", kind="assigned", recipients=(choice.agent.user,), ticket=ticket, at=at,
            context={"reason": choice.reason})))
    return choice.agent
