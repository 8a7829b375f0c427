"""The console's queues and the manager's figures, as querysets with a fixed number of queries.

Every queue is a filter on the ticket's columns (status, assignee, team, tier)
and, for the SLA and escalation queues, membership of a small set read once (the
SLA rows in a state, console.CustomerEscalation): no join that multiplies rows,
no DISTINCT, and no subquery run once per ticket. `queries.window` pages them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from tierdesk.accounts.models import Agent, Team
from tierdesk.automation import schedule
from tierdesk.automation.models import CommitmentPolicy, Firing
from tierdesk.console.models import Commitment, CustomerEscalation
from tierdesk.sla.models import TicketSLA
from tierdesk.tickets import queries
from tierdesk.tickets.models import EventCode, Ticket, TicketEvent
from tierdesk.tickets.queries import ACTIVE_STATUSES, DONE_STATUSES, WAITING_STATUSES

# "queue" context: a queue's name is a plural heading ("Escalated" tickets), not an event.
QUEUES = {
    "mine": pgettext_lazy("queue", "Mine"),
    "team": pgettext_lazy("queue", "My teams"),
    "unassigned": pgettext_lazy("queue", "Unassigned"),
    "at_risk": pgettext_lazy("queue", "At risk"),
    "breached": pgettext_lazy("queue", "Breached"),
    "waiting": pgettext_lazy("queue", "Waiting on customer or third party"),
    "escalated": pgettext_lazy("queue", "Escalated"),
    "active": pgettext_lazy("queue", "All open"),
    "done": pgettext_lazy("queue", "Resolved and closed"),
}
SORTS = {
    "due": _("Next due first"),
    "newest": _("Newest first"),
    "oldest": _("Oldest first"),
}
ORDERS = {"due": queries.BY_DUE, "newest": queries.BY_NEWEST, "oldest": queries.BY_OLDEST}

search = queries.search


def escalated_q() -> Q:
    """Moved above tier 1, or escalated by the customer (seed 001)."""
    return (Q(tier__gt=1) | Q(escalation_count__gt=0)
            | Q(pk__in=CustomerEscalation.objects.values("ticket_id")))


def at_risk_q(now: datetime) -> Q:
    """A running clock past its warning instant (75 % of the target), not yet breached.

    Running rows are few (open tickets only): they are read once, as a set.
    """
    return Q(pk__in=TicketSLA.objects.filter(state="running", warn_at__lte=now)
             .values("ticket_id"))


def breached_q() -> Q:
    """A breached clock. Breaches stay on resolved tickets too, so the breached rows are
    many: probe each open ticket's three rows (by index) instead of reading them all."""
    return Q(Exists(TicketSLA.objects.filter(ticket=OuterRef("pk"), state="breached")))


def _latest(code: str) -> Subquery:
    return Subquery(TicketEvent.objects.filter(ticket=OuterRef("pk"), code=code)
                    .order_by("-at", "-id").values("at")[:1])


def queue(agent: Agent, name: str, *, now: datetime) -> QuerySet[Ticket]:
    qs = Ticket.objects.all()
    active = qs.filter(status__in=ACTIVE_STATUSES)
    if name == "mine":
        return active.filter(assignee=agent)
    if name == "team":
        return active.filter(team__in=agent.teams.all())
    if name == "unassigned":
        return active.filter(assignee__isnull=True)
    if name == "at_risk":
        return active.filter(at_risk_q(now))
    if name == "breached":
        return active.filter(breached_q())
    if name == "waiting":
        return qs.filter(status__in=WAITING_STATUSES)
    if name == "escalated":
        return active.filter(escalated_q())
    if name == "done":
        return qs.filter(status__in=DONE_STATUSES)
    return active


def order_for(name: str, sort: str) -> tuple[queries.Key, ...]:
    """The next due instant first by default; resolved tickets have none: newest first."""
    if name == "done" and sort == "due":
        return queries.BY_NEWEST
    return ORDERS.get(sort, queries.BY_DUE)


# --------------------------------------------------------------------------- the manager's page


@dataclass(frozen=True)
class Load:
    """The open work of one agent or team."""

    who: str
    open: int
    at_risk: int
    breached: int
    waiting: int
    escalated: int


COUNTS = ("open", "at_risk", "breached", "waiting", "escalated")


def _counts(*, now: datetime) -> list[dict[str, Any]]:
    """The open work counted per (assignee, team) pair: one pass over the open tickets."""
    return [dict(row) for row in Ticket.objects.filter(status__in=ACTIVE_STATUSES)
                .values("assignee", "team")
                .annotate(open=Count("pk"),
                          at_risk=Count("pk", filter=at_risk_q(now)),
                          breached=Count("pk", filter=breached_q()),
                          waiting=Count("pk", filter=Q(status__in=WAITING_STATUSES)),
                          escalated=Count("pk", filter=escalated_q()))
                .order_by()]


def _fold(rows: list[dict[str, Any]], key: str, names: dict[int | None, str]) -> list[Load]:
    totals: dict[int | None, dict[str, int]] = {pk: dict.fromkeys(COUNTS, 0) for pk in names}
    for row in rows:
        into = totals.setdefault(row[key], dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            into[name] += row[name]
    return [Load(who=names.get(pk, "?"), **counts) for pk, counts in totals.items()
            if pk is not None or counts["open"]]


def workloads(*, now: datetime) -> tuple[list[Load], list[Load]]:
    """The open work of each agent and of each team (and of nobody), from one query."""
    agents = list(Agent.objects.select_related("user").filter(user__is_active=True)
                  .order_by("tier", "user__full_name"))
    by_agent: dict[int | None, str] = {a.pk: f"{a} (T{a.tier})" for a in agents}
    by_agent[None] = str(_("Unassigned"))
    by_team: dict[int | None, str] = {t.pk: t.name for t in Team.objects.all()}
    by_team[None] = str(_("No team"))
    rows = _counts(now=now)
    return _fold(rows, "assignee", by_agent), _fold(rows, "team", by_team)


def escalations_waiting() -> QuerySet[Ticket]:
    """Escalated open tickets still waiting for what seed 000 asks of tier 2: a new time-frame.

    Waiting: nobody at the ticket's tier has it, or no time-frame was committed
    since the last escalation.
    """
    return (Ticket.objects.filter(status__in=ACTIVE_STATUSES).filter(escalated_q())
            .alias(escalated_at=_latest(EventCode.ESCALATED),
                   committed_at=_latest(EventCode.TIMEFRAME_COMMITTED))
            .filter(Q(assignee__isnull=True) | Q(committed_at__isnull=True)
                    | Q(committed_at__lt=F("escalated_at"))))


@dataclass(frozen=True)
class Due:
    ticket: Ticket
    due_at: datetime
    note: str
    overdue: bool


def commitments_due(*, now: datetime, horizon: timedelta = timedelta(days=7),
                    limit: int = 50) -> list[Due]:
    """Time-frames engineers committed to on open tickets, due within `horizon` or overdue.

    From console.Commitment, the latest commitment of each ticket (a cache of the
    timeline, indexed by the instant due): one query however large the timeline is.
    """
    rows = (Commitment.objects.filter(ticket__status__in=ACTIVE_STATUSES,
                                      due_at__lte=now + horizon)
            .select_related("ticket__organisation", "ticket__assignee__user")
            .order_by("due_at", "ticket_id")[:limit])
    return [Due(ticket=c.ticket, due_at=c.due_at, note=c.note, overdue=c.due_at < now)
            for c in rows]


@dataclass(frozen=True)
class Owed:
    ticket: Ticket
    engineer: str
    due_at: datetime
    overdue: bool  # the team lead was told


def commitments_owed(*, limit: int = 15, scan: int = 60) -> list[Owed]:
    """Seed 000: tickets whose tier-2/3 engineer was reminded to commit a time-frame, or
    missed doing so, and still owes it — from the sweep's steps (`Firing` rows of target
    "commitment"), newest first, each checked against the timeline as it stands now."""
    policy = CommitmentPolicy.current()
    if not policy.is_active:
        return []
    steps = list(Firing.objects.filter(target=schedule.COMMITMENT,
                                       ticket__status__in=ACTIVE_STATUSES)
                 .order_by("-fired_at", "-pk").values_list("ticket_id", "kind", "cycle")[:scan])
    tickets = Ticket.objects.select_related("organisation__plan", "assignee__user").in_bulk(
        {tid for tid, _k, _c in steps})
    out: dict[int, Owed] = {}
    kinds: dict[tuple[int, int], set[str]] = {}
    for tid, kind, cycle in steps:
        kinds.setdefault((tid, cycle), set()).add(kind)
    for tid, _kind, cycle in steps:
        ticket = tickets.get(tid)
        if ticket is None or tid in out or len(out) >= limit:
            continue
        owes = schedule.owed_from_db(ticket, policy)
        if owes is None or owes[0] != cycle:
            continue
        out[tid] = Owed(ticket=ticket, engineer=str(ticket.assignee), due_at=owes[3],
                        overdue="overdue" in kinds[(tid, cycle)])
    return sorted(out.values(), key=lambda o: (o.due_at, o.ticket.pk))
