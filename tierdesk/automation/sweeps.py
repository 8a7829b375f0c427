"""Periodic work on tickets, written as plain functions the tasks call (and tests too).

The SLA sweep runs every minute, in two stages.

Stage 1, `sweep` (batches of tickets, one transaction each):

1. Read the ids of the tickets that are due, through two indexes: a deadline
   (`Ticket.next_due_at <= now`) or an alarm (`Alarm.at <= now`: a warning, a
   time-based rule, a committed time-frame). Nothing else is read, so a sweep
   costs in proportion to the tickets due, not to the tickets open.
2. Lock them (`FOR NO KEY UPDATE SKIP LOCKED`: a second consumer takes other
   tickets instead of waiting), read their timelines in one query and evaluate
   their SLA clocks at `now`.
3. Claim every step that has come: the warning at the warning share of a
   target, the breach, each time-based rule that matches, a missed commitment.
   A claim is a `Firing` row, unique per (ticket, target, kind, cycle), inserted
   with ON CONFLICT DO NOTHING RETURNING: what is returned is ours, what is not
   was taken by someone else.
4. Record the steps on the timelines, store the SLA rows and move each
   ticket's deadline and alarm to its next step, in bulk; commit. A consumer
   killed before the commit leaves nothing, and the next sweep takes the same
   steps; after it, they are taken and are never taken again. What the other
   apps derive from the steps (report measures, webhooks) is their hook work,
   deferred like every action's (one `HookWork` row per ticket, in this
   transaction), heard by the worker after the commit.

Stage 2, `follow_up` (batches of steps, one transaction each, queued after stage
1 commits and retried every minute by `follow_up_pending`): claim the steps'
consequences with one conditional UPDATE of `Firing.done_at` and take them in
the same transaction — tell the people on the tickets (outbox and in-app, in
bulk), apply the rules of that moment, escalate a missed commitment. A worker
killed mid-way rolls back; the retry takes it again; a finished one is never
repeated.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models.fields.json import KT
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Agent, Organisation, Provider, Team
from tierdesk.automation import react, schedule
from tierdesk.automation.bulk import among, gc_paused
from tierdesk.automation.models import Alarm, CommitmentPolicy, Firing, Watcher
from tierdesk.automation.rules import CompiledRule, matches
from tierdesk.lib.sql import let_writers_in
from tierdesk.notifications import recipients
from tierdesk.notifications.notifier import Notice, notify, notify_many
from tierdesk.sla import adapter
from tierdesk.sla.models import TicketSLA
from tierdesk.sla.rebuild import write_next_due, write_rows
from tierdesk.tickets import actions
from tierdesk.tickets.actions.escalation import (
    SweepStep,
    record_automation_failed,
    record_commitment_owed,
    record_sweep_steps,
)
from tierdesk.tickets.lifecycle import Status
from tierdesk.tickets.models import Category, EventCode, Priority, Ticket, TicketEvent

log = logging.getLogger(__name__)
SWEEP_BATCH = 1000
# What the sweep reads of a timeline: what the clock needs, reopens, announcements, commitments.
_TIMELINE_CODES = ("created", "status_changed", "resolved", "reopened", "closed",
                   "priority_changed", "public_reply", "resolution_plan_posted",
                   EventCode.SLA_BREACHED, EventCode.TIMEFRAME_COMMITTED,
                   *schedule.OWED_CODES)
# Long texts of a ticket the sweep never reads (nor do the hooks of its steps, as a rule).
_LONG_TEXT = ("description", "troubleshooting_done", "business_impact", "affected_accounts",
              "environment", "resolution_note")
_CODE_OF_KIND = {"warning": EventCode.SLA_WARNING, "breach": EventCode.SLA_BREACHED,
                 "missed": EventCode.TIMEFRAME_MISSED}


@dataclass
class SweepReport:
    tickets: int = 0
    steps: dict[str, int] = field(default_factory=dict)
    skipped: int = 0  # steps another consumer had taken
    claimed: list[int] = field(default_factory=list)  # Firing ids, for stage 2

    def count(self, kind: str) -> None:
        self.steps[kind] = self.steps.get(kind, 0) + 1


@dataclass
class _Row:
    """An SLA row as the sweep needs it (from adapter.ROW_COLUMNS tuples)."""

    target: str
    state: str
    due_at: datetime | None
    warn_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None
    computed_at: datetime


_Owed = tuple[int, datetime, datetime, datetime]  # schedule.owed: cycle, since, reminder, due
_Context = tuple[frozenset[str], datetime, tuple[int, datetime | None] | None, _Owed | None,
                 dict[int, datetime]]
COMMITMENT = schedule.COMMITMENT


@dataclass
class _Step:
    ticket: Ticket
    target: str
    kind: str
    cycle: int
    payload: dict[str, Any]


def due_ticket_ids(now: datetime, *, limit: int = SWEEP_BATCH) -> list[int]:
    """Tickets with a deadline or an alarm at or before `now` (two index range scans)."""
    deadlines = list(Ticket.objects.filter(next_due_at__lte=now).order_by("next_due_at")
                     .values_list("pk", flat=True)[:limit])
    alarms = list(Alarm.objects.filter(at__lte=now).order_by("at")
                  .values_list("ticket_id", flat=True)[:limit])
    return sorted(set(deadlines + alarms))


def sweep(*, now: datetime, batch: int = SWEEP_BATCH, follow: bool = True) -> SweepReport:
    """Stage 1 over every due ticket, batch by batch; stage 2 is queued after each commit
    unless `follow` is false (then call `follow_up` with `report.claimed`)."""
    report = SweepReport()
    seen: set[int] = set()
    while True:
        ids = [pk for pk in due_ticket_ids(now, limit=batch) if pk not in seen]
        if not ids:
            break
        seen.update(ids)
        with let_writers_in(), gc_paused():
            claimed = sweep_batch(ids, now=now, report=report)
        if follow and claimed:
            transaction.on_commit(functools.partial(_queue_follow_up, claimed))
    report.tickets = len(seen)
    if report.steps:
        log.info("sweep: %d tickets due, steps %s, %d taken by another worker", report.tickets,
                 report.steps, report.skipped)
    return report


def _queue_follow_up(ids: list[int]) -> None:
    from tierdesk.automation.tasks import follow_up_steps

    try:
        follow_up_steps(ids)
    except Exception:  # the queue is down: follow_up_pending will take them
        log.exception("could not queue the follow-up of %d steps", len(ids))


def _timelines(ids: list[int]) -> dict[int, list[tuple[int, str, datetime, dict]]]:
    timelines: dict[int, list[tuple[int, str, datetime, dict]]] = defaultdict(list)
    rows = (TicketEvent.objects.filter(among("ticket_id", ids), code__in=_TIMELINE_CODES)
            .order_by("ticket_id", "at", "id")
            .values_list("ticket_id", "pk", "code", "at", KT("payload__to"),
                         KT("payload__priority"), KT("payload__by"), KT("payload__target"),
                         KT("payload__due_at"), KT("payload__agent"), KT("payload__kind")))
    for tid, pk, code, at, to, priority, by, target, due, agent, kind in rows:
        timelines[tid].append((pk, code, at, {"to": to, "priority": priority, "by": by,
                                              "target": target, "due_at": due, "agent": agent,
                                              "kind": kind}))
    return timelines


@transaction.atomic
def sweep_batch(ids: list[int], *, now: datetime, report: SweepReport) -> list[int]:
    """Stage 1 for some tickets, in one transaction. Returns the Firing ids it claimed."""
    qs = Ticket.objects.defer(*_LONG_TEXT)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, no_key=True)
    tickets = {t.pk: t for t in qs.filter(among("pk", ids)).order_by("pk")}
    _attach_related(tickets.values())
    timelines = _timelines(list(tickets))
    fired: dict[int, set[tuple[str, str, int]]] = defaultdict(set)
    for tid, target, kind, cycle in Firing.objects.filter(among("ticket_id", list(tickets))) \
            .values_list("ticket_id", "target", "kind", "cycle"):
        fired[tid].add((target, kind, cycle))
    timed = [r for r in schedule.active_rules() if r.is_timed]
    policy = CommitmentPolicy.current()

    all_rows: list[tuple] = []
    sla: dict[int, list[_Row]] = {}
    context: dict[int, _Context] = {}
    steps: list[_Step] = []
    broken: dict[int, Exception] = {}
    policies: dict[int, adapter.CompiledPolicy] = {}  # per organisation (one instance each)
    for pk, ticket in tickets.items():
        timeline = timelines.get(pk, [])
        try:
            plain = [(code, at, payload) for _id, code, at, payload in timeline]
            org = ticket.organisation
            compiled = policies.get(org.pk) or policies.setdefault(
                org.pk, adapter.compile_policy(org.plan, org.contract_targets))
            announced = adapter.announced_breaches(plain)
            values, _due = adapter.compute_row_values(pk, compiled, adapter.engine_events(plain),
                                                      now, announced=announced)
            rows = [_Row(v[1], v[2], v[5], v[6], v[7], v[8], v[11]) for v in values]
            start = ticket.created_at
            commitment: tuple[int, datetime | None] | None = None
            for event_id, code, at, payload in timeline:
                if code == "reopened":
                    start, commitment = at, None
                elif code == EventCode.TIMEFRAME_COMMITTED:
                    commitment = (event_id, schedule.parse_instant(payload.get("due_at")))
            owes = schedule.owed(ticket, timeline, policy=policy,
                                 calendar=functools.partial(_calendar_of, compiled))
            instants = (schedule.rule_instants(
                ticket, timed, start=start, calendar=compiled.policy.calendar,
                due={r.target: r.due_at for r in rows if r.state == TicketSLA.State.RUNNING})
                if timed and ticket.is_active else {})
            due_steps = _steps_due(ticket, rows, fired[pk], instants, start, commitment, now,
                                   owes)
        except Exception as exc:  # one ticket's bad data must not stop the sweep of the others
            log.exception("sweep: ticket %s cannot be evaluated", pk)
            broken[pk] = exc
            continue
        all_rows += values
        sla[pk] = rows
        context[pk] = (announced, start, commitment, owes, instants)
        steps += due_steps
    for pk in broken:
        del tickets[pk]
    _log_broken(broken, fired, now)

    write_rows(all_rows)
    claimed = _claim(steps, now)
    report.skipped += len(steps) - len(claimed)
    mine = [s for s in steps if (s.ticket.pk, s.target, s.kind, s.cycle) in claimed]
    for step in mine:
        report.count(step.kind)
        fired[step.ticket.pk].add((step.target, step.kind, step.cycle))
        # The event names its step, so that stage 2 finds it.
        step.payload["step"] = claimed[(step.ticket.pk, step.target, step.kind, step.cycle)]
    _record(mine, now)
    _reschedule(tickets, sla, context, fired, timed)
    report.claimed += list(claimed.values())
    return list(claimed.values())


def _calendar_of(compiled: adapter.CompiledPolicy) -> Any:
    return compiled.policy.calendar


def _log_broken(broken: dict[int, Exception], fired: dict[int, set[tuple[str, str, int]]],
                now: datetime) -> None:
    """Log a ticket the sweep cannot evaluate on its timeline, once per cycle. It stays due
    (the next sweeps try it again, and take its steps once its data is put right)."""
    for pk, exc in broken.items():
        ticket = Ticket.objects.get(pk=pk)
        if ("sweep", "error", ticket.reopen_count) in fired[pk]:
            continue
        _firing, created = Firing.objects.get_or_create(
            ticket_id=pk, target="sweep", kind="error", cycle=ticket.reopen_count,
            defaults={"fired_at": now, "done_at": now, "failed": True})
        if created:
            record_automation_failed(ticket=ticket, what="SLA sweep",
                                     error=str(exc) or repr(exc), at=now)


def _attach_related(tickets: Iterable[Ticket]) -> None:
    """What the clock and the rules' filters read — organisation and plan, priority,
    category — read once per distinct row (a desk has few), not joined to every ticket:
    a thousand tickets make a thousand model instances, not five thousand."""
    tickets = list(tickets)
    orgs = Organisation.objects.select_related("plan").in_bulk(
        {t.organisation_id for t in tickets})
    priorities = Priority.objects.in_bulk({t.priority_id for t in tickets})
    categories = Category.objects.in_bulk({t.category_id for t in tickets if t.category_id})
    organisation, priority, category = (Ticket.organisation.field, Ticket.priority.field,
                                        Ticket.category.field)
    for t in tickets:  # into the instances' caches, as select_related would put them
        organisation.set_cached_value(t, orgs[t.organisation_id])
        priority.set_cached_value(t, priorities[t.priority_id])
        # A category's parents load lazily, and only for rules that filter on a category.
        category.set_cached_value(t, categories.get(t.category_id) if t.category_id else None)


def _attach_people(tickets: Iterable[Ticket]) -> None:
    """The assignee (and their user), the team (and its lead's user) of each ticket, read
    once per distinct row: the people a wave is told about are few."""
    tickets = list(tickets)
    agents = Agent.objects.select_related("user").in_bulk(
        {t.assignee_id for t in tickets if t.assignee_id})
    teams = Team.objects.select_related("lead__user").in_bulk(
        {t.team_id for t in tickets if t.team_id})
    assignee, team = Ticket.assignee.field, Ticket.team.field
    for t in tickets:
        assignee.set_cached_value(t, agents.get(t.assignee_id) if t.assignee_id else None)
        team.set_cached_value(t, teams.get(t.team_id) if t.team_id else None)


def _steps_due(ticket: Ticket, rows: list[_Row], fired: set[tuple[str, str, int]],
               instants: dict[int, datetime], start: datetime,
               commitment: tuple[int, datetime | None] | None, now: datetime,
               owes: _Owed | None = None) -> list[_Step]:
    cycle = ticket.reopen_count
    steps = []
    # SLA steps; a breach makes its warning moot.
    for row in rows:
        running = row.state == TicketSLA.State.RUNNING
        if (row.state == TicketSLA.State.BREACHED and row.met_at is None) or (
                running and row.due_at is not None and row.due_at <= now):
            kind, due = "breach", row.due_at or row.breached_at
        elif (row.state == TicketSLA.State.RUNNING and row.warn_at is not None
              and row.warn_at <= now and (row.target, "breach", cycle) not in fired):
            kind, due = "warning", row.due_at
        else:
            continue
        if (row.target, kind, cycle) not in fired:
            steps.append(_Step(ticket, row.target, kind, cycle, {
                "target": row.target, "due_at": due.isoformat() if due else None,
                "cycle": cycle}))
    if not ticket.is_active:
        return steps
    for rule_pk, at in instants.items():  # the timed rules that match, and when
        if at <= now and (f"rule:{rule_pk}", "rule", cycle) not in fired:
            steps.append(_Step(ticket, f"rule:{rule_pk}", "rule", cycle, {}))
    if commitment is not None and commitment[1] is not None and commitment[1] <= now \
            and ("timeframe", "missed", commitment[0]) not in fired:
        steps.append(_Step(ticket, "timeframe", "missed", commitment[0], {
            "commitment": commitment[0], "due_at": commitment[1].isoformat()}))
    if owes is not None:
        cycle_id, since, remind, due = owes
        owed_kind = ("overdue" if due <= now else
                     "reminder" if remind <= now and (COMMITMENT, "overdue", cycle_id) not in fired
                     else None)
        if owed_kind is not None and (COMMITMENT, owed_kind, cycle_id) not in fired:
            steps.append(_Step(ticket, COMMITMENT, owed_kind, cycle_id, {
                "since": since.isoformat(), "due_at": due.isoformat()}))
    return steps


def _claim(steps: list[_Step], now: datetime) -> dict[tuple[int, str, str, int], int]:
    """Insert the steps' Firing rows; return those this transaction inserted (key -> id).

    ON CONFLICT DO NOTHING RETURNING: a row another transaction holds makes this
    one wait for it, then skip it if it committed; in the same order (ticket,
    target, kind, cycle) in every worker, so two never deadlock.
    """
    claimed: dict[tuple[int, str, str, int], int] = {}
    table = Firing._meta.db_table
    ordered = sorted(steps, key=lambda s: (s.ticket.pk, s.target, s.kind, s.cycle))
    if not ordered:
        return claimed
    returning = "RETURNING id, ticket_id, target, kind, cycle"
    conflict = "ON CONFLICT (ticket_id, target, kind, cycle) DO NOTHING"
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS firing_stage (n int, ticket_id bigint, "
                        "target varchar(60), kind varchar(20), cycle bigint) ON COMMIT DELETE ROWS")
            with cur.cursor.copy("COPY firing_stage (n, ticket_id, target, kind, cycle) "
                                 "FROM STDIN") as copy:
                for n, s in enumerate(ordered):
                    copy.write_row((n, s.ticket.pk, s.target, s.kind, s.cycle))
            cur.execute(f"INSERT INTO {table} (ticket_id, target, kind, cycle, fired_at, failed) "  # noqa: S608 - our own table name
                        f"SELECT ticket_id, target, kind, cycle, %s, false FROM firing_stage "
                        f"ORDER BY n {conflict} {returning}", [now])
            for pk, tid, target, kind, cycle in cur.fetchall():
                claimed[(tid, target, kind, int(cycle))] = pk
            cur.execute("DELETE FROM firing_stage")
        return claimed
    fired_at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cur:
        for i in range(0, len(ordered), 500):
            chunk = ordered[i:i + 500]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(chunk))
            params: list[Any] = []
            for s in chunk:
                params += [s.ticket.pk, s.target, s.kind, s.cycle, fired_at, False]
            cur.execute(
                f"INSERT INTO {table} (ticket_id, target, kind, cycle, fired_at, failed) "  # noqa: S608 - our own table name
                f"VALUES {values} ON CONFLICT (ticket_id, target, kind, cycle) DO NOTHING "
                f"RETURNING id, ticket_id, target, kind, cycle", params)
            for pk, tid, target, kind, cycle in cur.fetchall():
                claimed[(tid, target, kind, int(cycle))] = pk
    return claimed


def _record(steps: list[_Step], now: datetime) -> None:
    """The claimed warnings, breaches and missed commitments, on the timelines."""
    recordable = [SweepStep(s.ticket, _CODE_OF_KIND[s.kind], s.payload)
                  for s in steps if s.kind in _CODE_OF_KIND]
    if recordable:
        record_sweep_steps(steps=recordable, at=now)


def _reschedule(tickets: dict[int, Ticket], sla: dict[int, list[_Row]],
                context: dict[int, _Context],
                fired: dict[int, set[tuple[str, str, int]]], timed: list[CompiledRule]) -> None:
    """Move each ticket's deadline and alarm past the steps now taken."""
    due_changes: list[tuple[int, datetime | None]] = []
    alarms: list[tuple[int, datetime | None]] = []  # (ticket id, instant): no model instances
    current = dict(Alarm.objects.filter(among("ticket_id", list(tickets)))
                   .values_list("ticket_id", "at"))
    for pk, ticket in tickets.items():
        announced, start, commitment, owes, instants = context[pk]
        cycle = ticket.reopen_count
        announced = announced | {t for t, k, c in fired[pk] if k == "breach" and c == cycle}
        due = _next_deadline(sla[pk], announced)
        if due != ticket.next_due_at:
            due_changes.append((pk, due))
        alarm = schedule.alarm_instant(ticket, rows=sla[pk], fired=fired[pk], timed=timed,
                                       start=start, commitment=commitment, owes=owes,
                                       instants=instants)
        if alarm != current.get(pk) or pk not in current:
            alarms.append((pk, alarm))
    write_next_due(due_changes)
    _write_alarms(alarms)


def _write_alarms(alarms: list[tuple[int, datetime | None]]) -> None:
    if not alarms:
        return
    if connection.vendor != "postgresql":
        Alarm.objects.bulk_create([Alarm(ticket_id=pk, at=at) for pk, at in alarms],
                                  update_conflicts=True, unique_fields=["ticket"],
                                  update_fields=["at"], batch_size=500)
        return
    with connection.cursor() as cur:  # two array parameters, whatever the number of rows
        cur.execute(f"INSERT INTO {Alarm._meta.db_table} (ticket_id, at) "  # noqa: S608 - our own table name
                    "SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]) "
                    "ON CONFLICT (ticket_id) DO UPDATE SET at = excluded.at",
                    [[pk for pk, _at in alarms], [at for _pk, at in alarms]])


def _next_deadline(rows: list[_Row], announced: frozenset[str]) -> datetime | None:
    """Mirror of the adapter's deadline: running due instants and unannounced breaches."""
    pending = []
    for row in rows:
        if row.state == TicketSLA.State.RUNNING and row.due_at is not None:
            if row.target not in announced:  # announced at its due instant
                pending.append(row.due_at)
        elif (row.state == TicketSLA.State.BREACHED and row.met_at is None
              and row.target not in announced):
            pending.append(row.breached_at or row.computed_at)
    return min(pending) if pending else None


# --------------------------------------------------------------------------- stage 2


# A sweep batch's steps (a thousand tickets' warnings and breaches) followed up in one
# transaction: a batch has a fixed cost (a dozen reads, a render per language and zone).
FOLLOW_BATCH = 2 * SWEEP_BATCH
# On SQLite a batch holds the one write lock throughout, ~1.6 ms a breach step and ~4 ms a
# time rule's on a quiet machine (session 9, a 20,000-ticket desk's wave: 100 steps 0.16 s,
# 250 0.4 s, 1,000 1.7 s), two to three times that under load: 2,000 steps were seconds
# that web requests waited out, back to back. 100 cost no more a step than 1,000.
FOLLOW_BATCH_SQLITE = 100


def follow_batch() -> int:
    """Steps a follow-up transaction takes by default on this database."""
    return FOLLOW_BATCH_SQLITE if connection.vendor == "sqlite" else FOLLOW_BATCH


def follow_up(ids: list[int], *, now: datetime, batch: int | None = None) -> int:
    """Take the consequences of these steps, each once, `batch` steps per transaction
    (`follow_batch()` by default). Returns how many this call took. On SQLite the batches
    take turns with the other writers (`lib.sql.let_writers_in`)."""
    if batch is None:
        batch = follow_batch()
    done = 0
    for i in range(0, len(ids), batch):
        with let_writers_in(), gc_paused():
            done += follow_up_batch(ids[i:i + batch], now=now)
    return done


def follow_up_pending(*, now: datetime, older_than: timedelta = timedelta(minutes=1),
                      limit: int = 5000, batch: int | None = None) -> int:
    """Steps whose consequences were never taken (a worker died, the queue lost a task):
    up to `limit` of them, `batch` per transaction."""
    ids = list(Firing.objects.filter(done_at__isnull=True, fired_at__lte=now - older_than)
               .order_by("fired_at").values_list("pk", flat=True)[:limit])
    return follow_up(ids, now=now, batch=batch)


def follow_up_batch(ids: list[int], *, now: datetime) -> int:
    """Claim the pending steps among `ids` and take their consequences in one transaction.

    The claim is one conditional UPDATE (`done_at IS NULL`; on PostgreSQL over the
    rows `FOR UPDATE SKIP LOCKED`, so a second worker takes the others instead of
    waiting): a worker killed before the commit leaves them pending for the retry,
    and once committed they are never taken again. When the batch fails, it is
    rolled back whole and its steps are taken one by one, so that the step that
    fails is found, marked and logged on its ticket, and the others are taken.
    """
    if not ids:
        return 0
    try:
        with transaction.atomic():
            claimed = _claim_follow_up(ids, now)
            if claimed:
                _consequences_many(claimed, now)
        return len(claimed)
    except Exception:
        log.exception("the follow-up of %d steps failed; taking them one by one", len(ids))
        done = 0
        for pk in ids:
            with let_writers_in():
                done += follow_up_one(pk, now=now)
        return done


class Claimed(NamedTuple):
    """A step claimed for its follow-up: its `Firing` row as stage 2 reads it."""

    pk: int
    ticket_id: int
    target: str
    kind: str
    cycle: int


def _claim_follow_up(ids: list[int], now: datetime) -> list[Claimed]:
    table = Firing._meta.db_table
    returning = "RETURNING id, ticket_id, target, kind, cycle"
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"UPDATE {table} SET done_at = %s WHERE id IN ("  # noqa: S608 - our own table name
                        f"SELECT id FROM {table} WHERE id = ANY(%s) AND done_at IS NULL "
                        f"ORDER BY id FOR UPDATE SKIP LOCKED) {returning}", [now, list(ids)])
        else:  # SQLite: one writer at a time; the condition is read under the write lock
            marks = ", ".join(["%s"] * len(ids))
            cur.execute(f"UPDATE {table} SET done_at = %s WHERE id IN ({marks}) "  # noqa: S608 - our own table name
                        f"AND done_at IS NULL {returning}",
                        [connection.ops.adapt_datetimefield_value(now), *ids])
        mine = [Claimed(pk, tid, target, kind, int(cycle))
                for pk, tid, target, kind, cycle in cur.fetchall()]
    return sorted(mine)


_STEP_CODES = {"warning": EventCode.SLA_WARNING, "breach": EventCode.SLA_BREACHED}


def _consequences_many(firings: list[Claimed], now: datetime) -> None:
    """The consequences of many steps: warnings and breaches — the bulk of a wave — are
    told in one `notify_many` and their rules matched in memory; the rest (time rules,
    missed commitments, which act on the ticket) go through `_consequences` one by one."""
    # Organisation, plan, priority, category, team (and its lead) and assignee read once
    # per distinct row, as in stage 1 (a wave is many tickets of few kinds and people).
    tickets = {t.pk: t for t in Ticket.objects.defer(*_LONG_TEXT).filter(
        among("pk", list({f.ticket_id for f in firings})))}
    _attach_related(tickets.values())
    _attach_people(tickets.values())
    sla = [f for f in firings if f.kind in _STEP_CODES]
    events: dict[int, TicketEvent] = {}
    if sla:
        # The tickets' warning and breach events (a few each), matched to the steps here:
        # a condition on the payload's step would be checked against every step id.
        steps = {f.pk for f in sla}
        for event in TicketEvent.objects.filter(
                among("ticket_id", list({f.ticket_id for f in sla})),
                code__in=list(_STEP_CODES.values())).only(
                    "pk", "ticket_id", "code", "payload", "at"):
            step = (event.payload or {}).get("step")
            if isinstance(step, int) and step in steps:
                events[step] = event
    rules = [r for r in schedule.active_rules() if not r.is_timed]
    people = react.people_on_many([tickets[f.ticket_id] for f in sla
                                   if tickets[f.ticket_id].is_active])
    notices: list[Notice] = []
    told: list[tuple[Ticket, TicketEvent]] = []
    for firing in firings:
        ticket = tickets[firing.ticket_id]
        if firing.kind not in _STEP_CODES:
            _consequences(firing, ticket, now)
            continue
        step_event = events.get(firing.pk)
        if step_event is None:
            continue
        step_event.ticket = ticket
        told.append((ticket, step_event))
        if not ticket.is_active:  # resolved since: no one is told (its rules still look)
            continue
        notices.append(react.sla_step_notice(ticket, step_event, people[ticket.pk]))
    # As in react.react: the people on the ticket are told first, then the rules run.
    notify_many(notices, at=now)
    acted: dict[int, Ticket] = {}
    for ticket, step_event in told:
        moment = react.moment_of(step_event)
        for rule in rules:
            if rule.moment == moment and matches(rule, ticket):
                react.run_rule(rule, ticket, at=now, key=f"ev{step_event.pk}", moment=moment)
                acted[ticket.pk] = ticket
    for ticket in acted.values():
        schedule.sync(ticket)


def follow_up_one(pk: int, *, now: datetime) -> bool:
    """One step in its own transaction (after its batch failed); a failure is marked on
    the step and logged on its ticket, so that it is not retried every minute."""
    try:
        with transaction.atomic():
            claimed = _claim_follow_up([pk], now)
            if not claimed:
                return False  # done, or being done by another worker (its row is locked)
            _consequences_many(claimed, now)
        return True
    except Exception as exc:
        log.exception("automation step %s failed", pk)
        with transaction.atomic():
            if Firing.objects.filter(pk=pk, done_at__isnull=True).update(done_at=now, failed=True):
                ticket = Ticket.objects.get(pk=Firing.objects.get(pk=pk).ticket_id)
                record_automation_failed(ticket=ticket, what=f"automation step {pk}",
                                         error=str(exc) or repr(exc), at=now)
        return False


def _consequences(firing: Claimed, ticket: Ticket, now: datetime) -> None:
    """A time rule's, a missed commitment's or an owed one's consequences: they act on
    the ticket."""
    if firing.target == COMMITMENT:
        _owed_step(firing, ticket, now)
    elif firing.kind == "rule":
        rule_pk = int(firing.target.split(":", 1)[1])
        rule = next((r for r in schedule.active_rules() if r.pk == rule_pk), None)
        if rule is not None and ticket.is_active and matches(rule, ticket):
            react.run_rule(rule, ticket, at=now, key=f"{firing.target}:c{firing.cycle}:t{ticket.pk}",
                           moment="time")
    else:
        event = TicketEvent.objects.filter(ticket_id=ticket.pk, code=_CODE_OF_KIND[firing.kind],
                                           payload__step=firing.pk).first()
        if event is not None:
            # Not inside an action: what this does is dispatched to the hooks, which react.
            react.react(ticket, [event], at=now, rounds=False)
    schedule.sync(ticket)


def _owed_step(firing: Claimed, ticket: Ticket, now: datetime) -> None:
    """Seed 000: remind the engineer who owes a time-frame; when it is overdue, tell the
    policy's roles (the team lead) and make them watch the ticket. Nothing when it was
    given (or the ticket resolved, reassigned) since the sweep took the step."""
    policy = CommitmentPolicy.current()
    owes = schedule.owed_from_db(ticket, policy)
    if owes is None or owes[0] != firing.cycle or ticket.assignee is None:
        return
    _cycle, since, _remind, due = owes
    engineer = ticket.assignee
    context = {"due_at": due, "since": since, "engineer": str(engineer)}
    key = f"{COMMITMENT}:{firing.kind}:c{firing.cycle}:t{ticket.pk}"
    if firing.kind == "reminder":
        notify(key=key, kind="commitment_reminder", recipients=[engineer.user], ticket=ticket,
               at=now, context=context)
        body = _("%(who)s has not committed a resolution time-frame yet; it is due by "
                 "%(when)s. Reminded them.") % {"who": engineer, "when": _format(due)}
        record_commitment_owed(ticket=ticket, overdue=False, body=body,
                                       told=[str(engineer)], due_at=due, at=now)
        return
    # Escalated means above the engineer: a lead who owes it is not told about themself.
    people = [p for p in recipients.resolve(policy.roles(), ticket) if p.pk != engineer.user_id]
    if not people:
        people = [p for p in recipients.resolve(["support_manager"], ticket)
                  if p.pk != engineer.user_id]
    notify(key=key, kind="commitment_overdue", recipients=people, ticket=ticket, at=now,
           context=context)
    for user in people:
        Watcher.objects.get_or_create(ticket=ticket, user=user, defaults={"added_at": now})
    told = [str(p.get_full_name() or p) for p in people]
    body = _("%(who)s did not commit a resolution time-frame by %(when)s. Escalated to "
             "%(told)s.") % {"who": engineer, "when": _format(due),
                             "told": ", ".join(told) or "—"}
    record_commitment_owed(ticket=ticket, overdue=True, body=body, told=told,
                                   due_at=due, at=now)


def _format(instant: datetime) -> str:
    from django.utils import formats
    from django.utils import timezone as dj_timezone

    return formats.date_format(dj_timezone.localtime(instant), "DATETIME_FORMAT")


def autoclose_resolved(*, now: datetime, batch: int = 500) -> int:
    """Close tickets resolved longer ago than the provider's auto-close delay.

    Each ticket is re-read under a row lock and closed only if it is still
    resolved, so two workers, or a reopen racing the sweep, never double-close.
    """
    days = Provider.current().autoclose_days
    if days is None:
        return 0
    cutoff = now - timedelta(days=days)
    ids = list(Ticket.objects.filter(status=Status.RESOLVED, resolved_at__lte=cutoff)
               .order_by("resolved_at").values_list("pk", flat=True)[:batch])
    closed = 0
    for pk in ids:
        with let_writers_in(), transaction.atomic():
            ticket = Ticket.objects.select_for_update().filter(
                pk=pk, status=Status.RESOLVED, resolved_at__lte=cutoff).first()
            if ticket is None:
                continue
            actions.close(actor=None, ticket=ticket, at=now)
            closed += 1
    if closed:
        log.info("auto-closed %d resolved tickets", closed)
    return closed
