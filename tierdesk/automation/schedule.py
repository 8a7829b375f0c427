"""When must the sweep next look at a ticket? Deadlines are `Ticket.next_due_at` (the SLA
adapter keeps it); everything else — warnings, time-based rules, committed
time-frames — is the `Alarm` of the ticket, recomputed here after every action on
it and after every sweep of it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from tierdesk.automation import rules as rule_lang
from tierdesk.automation.models import Alarm, CommitmentPolicy, EscalationRule, Firing
from tierdesk.sla import adapter
from tierdesk.sla.models import TicketSLA
from tierdesk.tickets.models import EventCode, Ticket, TicketEvent

_compiled: dict[tuple[Any, ...], list[rule_lang.CompiledRule]] = {}


def active_rules() -> list[rule_lang.CompiledRule]:
    """The active rules, compiled once per version of the table (one query per call)."""
    rows = list(EscalationRule.objects.filter(is_active=True).order_by("position", "pk")
                .values_list("pk", "name", "when", "then", "updated_at"))
    key = tuple((pk, updated) for pk, _n, _w, _t, updated in rows)
    hit = _compiled.get(key)
    if hit is None:
        _compiled.clear()
        hit = _compiled[key] = rule_lang.compile_all((r[0], r[1], r[2], r[3]) for r in rows)
    return hit


def opened_at(ticket: Ticket) -> datetime:
    """The start of the current cycle: created, or the last reopen."""
    if not ticket.reopen_count:
        return ticket.created_at
    last = (ticket.events.filter(code=EventCode.REOPENED).order_by("-at")
            .values_list("at", flat=True).first())
    return last or ticket.created_at


def current_commitment(ticket: Ticket, since: datetime) -> TicketEvent | None:
    return (ticket.events.filter(code=EventCode.TIMEFRAME_COMMITTED, at__gte=since)
            .select_related("actor").order_by("-at", "-id").first())


def fired_steps(ticket: Ticket) -> set[tuple[str, str, int]]:
    return set(Firing.objects.filter(ticket=ticket).values_list("target", "kind", "cycle"))


def rule_instants(ticket: Ticket, timed: list[rule_lang.CompiledRule], *, start: datetime,
                  due: dict[str, datetime | None], calendar: Any = None) -> dict[int, datetime]:
    """rule pk -> when its moment comes for this ticket, for the timed rules that match it
    (`calendar`: the ticket's plan calendar, when the caller has it)."""
    out: dict[int, datetime] = {}
    for rule in timed:
        if rule.pk is None or not rule_lang.matches(rule, ticket):
            continue
        if calendar is None:
            calendar = adapter.policy_for(ticket).policy.calendar
        at = rule_lang.instant(rule, ticket, opened_at=start, due=due, calendar=calendar)
        if at is not None:
            out[rule.pk] = at
    return out


# --------------------------------------------------------------------------- owed commitments
# Seed 000: the tier-2 technician "gives both the ticket and customer a new time-frame".
# From the moment an engineer at tier 2 or 3 is given a ticket (assigned to it, or the
# ticket's tier raised with them on it, or it reopened with them on it), they owe one:
# reminded at the policy's share, escalated when it passes. Steps: target "commitment",
# kinds "reminder" and "overdue", cycle the id of the event that started the obligation —
# so a reassignment starts a new one, and a commitment, a resolution or a handover to
# tier 1 clears it.
COMMITMENT = "commitment"
OWED_CODES = (EventCode.ASSIGNED, EventCode.ESCALATED, EventCode.TIER_CHANGED,
              EventCode.REOPENED, EventCode.TIMEFRAME_COMMITTED)


def owed_since(ticket: Ticket, timeline: Iterable[tuple[int, str, datetime, dict]]
               ) -> tuple[int, datetime] | None:
    """(event id, instant) that started the time-frame the ticket's engineer owes, or None.

    `timeline`: (id, code, at, payload) in order; payloads need `agent` (assigned)
    and `kind` (escalated). Events of other codes are ignored."""
    if not ticket.is_active or ticket.tier < 2 or not ticket.assignee_id:
        return None
    start: tuple[int, datetime] | None = None
    for event_id, code, at, payload in timeline:
        if ((code == EventCode.ASSIGNED and payload.get("agent") is not None)
                or (code == EventCode.ESCALATED and payload.get("kind") == "tier")
                or code in (EventCode.TIER_CHANGED, EventCode.REOPENED)):
            start = (event_id, at)
        elif code == EventCode.TIMEFRAME_COMMITTED and start is not None:
            start = None  # given: nothing owed until the next assignment or escalation
    return start


def owed_instants(policy: CommitmentPolicy, calendar: Any, since: datetime
                  ) -> tuple[datetime, datetime]:
    """(reminder, due) of an owed time-frame: business time on the plan's calendar."""
    minutes = policy.due_within_minutes
    remind = calendar.add(since, timedelta(minutes=minutes * policy.remind_share))
    return remind, calendar.add(since, timedelta(minutes=minutes))


def owed(ticket: Ticket, timeline: Iterable[tuple[int, str, datetime, dict]], *,
         policy: CommitmentPolicy | None, calendar: Callable[[], Any]
         ) -> tuple[int, datetime, datetime, datetime] | None:
    """(cycle, since, reminder, due) of the time-frame owed on the ticket, or None."""
    if policy is None or not policy.is_active:
        return None
    since = owed_since(ticket, timeline)
    if since is None:
        return None
    remind, due = owed_instants(policy, calendar(), since[1])
    return since[0], since[1], remind, due


def owed_from_db(ticket: Ticket, policy: CommitmentPolicy | None = None
                 ) -> tuple[int, datetime, datetime, datetime] | None:
    """`owed` for one ticket, read from the database (nothing read below tier 2)."""
    if not ticket.is_active or ticket.tier < 2 or not ticket.assignee_id:
        return None
    policy = policy or CommitmentPolicy.current()
    if not policy.is_active:
        return None
    rows = (ticket.events.filter(code__in=OWED_CODES).order_by("at", "id")
            .values_list("pk", "code", "at", "payload"))
    return owed(ticket, [(pk, c, at, p or {}) for pk, c, at, p in rows], policy=policy,
                calendar=lambda: adapter.policy_for(ticket).policy.calendar)


def alarm_instant(ticket: Ticket, *, rows: Iterable[Any], fired: set[tuple[str, str, int]],
                  timed: list[rule_lang.CompiledRule], start: datetime,
                  commitment: tuple[int, datetime | None] | None,
                  owes: tuple[int, datetime, datetime, datetime] | None = None,
                  instants: dict[int, datetime] | None = None) -> datetime | None:
    """The earliest instant at which a warning, a timed rule or a commitment falls due.

    `rows` are the ticket's SLA rows (anything with target, state, warn_at and
    due_at); `fired` the steps already taken; `commitment` the current committed
    time-frame as (event id, due instant); `instants` the timed rules' `rule_instants`,
    when the caller has worked them out.
    """
    if not ticket.is_active:
        return None
    cycle = ticket.reopen_count
    candidates: list[datetime] = []
    due: dict[str, datetime | None] = {}
    for row in rows:
        if row.state != TicketSLA.State.RUNNING:
            continue
        due[row.target] = row.due_at
        if (row.warn_at is not None and (row.target, "warning", cycle) not in fired
                and (row.target, "breach", cycle) not in fired):
            candidates.append(row.warn_at)
    if timed:
        if instants is None:
            instants = rule_instants(ticket, timed, start=start, due=due)
        for pk, at in instants.items():
            if (f"rule:{pk}", "rule", cycle) not in fired:
                candidates.append(at)
    if commitment is not None and commitment[1] is not None \
            and ("timeframe", "missed", commitment[0]) not in fired:
        candidates.append(commitment[1])
    if owes is not None and (COMMITMENT, "overdue", owes[0]) not in fired:
        candidates.append(owes[3] if (COMMITMENT, "reminder", owes[0]) in fired else owes[2])
    return min(candidates) if candidates else None


def next_alarm(ticket: Ticket, *,
               active: Callable[[], list[rule_lang.CompiledRule]] | None = None) -> datetime | None:
    """`alarm_instant` for one ticket, read from the database."""
    if not ticket.is_active:
        return None
    start = opened_at(ticket)
    commitment = current_commitment(ticket, start)
    return alarm_instant(
        ticket, rows=list(TicketSLA.objects.filter(ticket=ticket)), fired=fired_steps(ticket),
        timed=[r for r in (active or active_rules)() if r.is_timed], start=start,
        commitment=(commitment.pk, commitment_due(commitment)) if commitment else None,
        owes=owed_from_db(ticket))


def commitment_due(event: TicketEvent) -> datetime | None:
    return parse_instant(event.payload.get("due_at"))


def parse_instant(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def sync(ticket: Ticket, *,
         active: Callable[[], list[rule_lang.CompiledRule]] | None = None) -> datetime | None:
    """Store the ticket's next alarm; write only when it moved. `active` gives the active
    rules when the caller has them already."""
    at = next_alarm(ticket, active=active)
    current = Alarm.objects.filter(ticket_id=ticket.pk).values_list("at", flat=True).first()
    if current != at:
        # One upsert (INSERT ... ON CONFLICT DO UPDATE), not update_or_create's five queries.
        Alarm.objects.bulk_create([Alarm(ticket_id=ticket.pk, at=at)], update_conflicts=True,
                                  unique_fields=["ticket"], update_fields=["at"])
    return at


def sync_many(tickets: list[Ticket], *,
              active: Callable[[], list[rule_lang.CompiledRule]] | None = None) -> None:
    """`sync` for many tickets in a fixed number of queries (a batch of the hooks' work):
    their SLA rows, steps fired, commitments and alarms read at once, one upsert."""
    if not tickets:
        return
    ids = [t.pk for t in tickets]
    timed = [r for r in (active or active_rules)() if r.is_timed]
    rows: dict[int, list[TicketSLA]] = {pk: [] for pk in ids}
    for row in TicketSLA.objects.filter(ticket_id__in=ids):
        rows[row.ticket_id].append(row)
    fired: dict[int, set[tuple[str, str, int]]] = {pk: set() for pk in ids}
    for pk, target, kind, cycle in Firing.objects.filter(ticket_id__in=ids).values_list(
            "ticket_id", "target", "kind", "cycle"):
        fired[pk].add((target, kind, cycle))
    commitments: dict[int, TicketEvent] = {}
    for event in (TicketEvent.objects.filter(ticket_id__in=ids,
                                             code=EventCode.TIMEFRAME_COMMITTED)
                  .select_related("actor").order_by("at", "id")):
        commitments[event.ticket_id] = event  # the latest wins
    current = dict(Alarm.objects.filter(ticket_id__in=ids).values_list("ticket_id", "at"))
    changed = []
    for ticket in tickets:
        at = None
        if ticket.is_active:
            start = opened_at(ticket)
            commitment = commitments.get(ticket.pk)
            if commitment is not None and commitment.at < start:
                commitment = None  # promised in an earlier cycle
            at = alarm_instant(
                ticket, rows=rows[ticket.pk], fired=fired[ticket.pk], timed=timed, start=start,
                commitment=(commitment.pk, commitment_due(commitment)) if commitment else None)
        if current.get(ticket.pk) != at:  # as `sync`: no row and no alarm writes nothing
            changed.append(Alarm(ticket_id=ticket.pk, at=at))
    if changed:
        Alarm.objects.bulk_create(changed, update_conflicts=True, unique_fields=["ticket"],
                                  update_fields=["at"])
