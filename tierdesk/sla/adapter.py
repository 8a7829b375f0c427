"""Between tickets and the pure engine: the timeline in, the SLA rows out.

`refresh_ticket` runs inside every ticket action's transaction, so the SLA rows
and `Ticket.next_due_at` always agree with the timeline that produced them.

`Ticket.next_due_at` is the earliest deadline the SLA sweep still has to act on:
the due instant of each running target, and the breach instant of a target that
has breached but whose breach the sweep has not yet announced (an `sla_breached`
event in the current cycle, i.e. since the last reopen). So a ticket whose
breach was announced stops being due, and one that breached while nobody swept
stays due until the sweep has announced it. Warning instants (`TicketSLA.warn_at`,
at `SLA_WARNING_SHARE` of a target) are scheduled by tierdesk.automation in its
own indexed column, so that `next_due_at` keeps meaning "the next deadline".
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections

from tierdesk.lib.sql import run
from tierdesk.sla.engine import Calendar, Policy, TargetState, evaluate, explain, instant_at
from tierdesk.sla.models import BusinessCalendar, Plan, TicketSLA
from tierdesk.sla.policyfile import tighten

if TYPE_CHECKING:
    from tierdesk.tickets.models import Ticket

WARNING_SHARE = 0.75  # the default; settings.SLA_WARNING_SHARE overrides it

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


def announced_breaches(rows: Iterable[tuple[str, datetime, dict]]) -> frozenset[str]:
    """Targets whose breach the sweep announced in the current cycle (since the last reopen)."""
    announced: set[str] = set()
    for code, _at, payload in rows:
        if code == "reopened":
            announced.clear()
        elif code == "sla_breached":
            announced.add(payload.get("target", ""))
    return frozenset(announced)


def ticket_timeline(ticket: Ticket) -> list[tuple[str, datetime, dict]]:
    return list(ticket.events.order_by("at", "id").values_list("code", "at", "payload"))


def ticket_events(ticket: Ticket) -> list[dict]:
    return engine_events(ticket_timeline(ticket))


def warning_share() -> float:
    return float(getattr(settings, "SLA_WARNING_SHARE", WARNING_SHARE))


ROW_COLUMNS = ("ticket_id", "target", "state", "elapsed_seconds", "target_seconds", "due_at",
               "warn_at", "met_at", "breached_at", "plan_version", "calendar_version",
               "computed_at")


def compute_row_values(ticket_id: int, compiled: CompiledPolicy, events: list[dict],
                       now: datetime, *, announced: frozenset[str] = frozenset(),
                       ) -> tuple[list[tuple], datetime | None]:
    """The SLA rows of one ticket, as tuples in ROW_COLUMNS order, and its next deadline.

    The deadline is the earliest due instant of a running target, or the breach
    instant of a target breached and not yet `announced` (see the module's doc).
    Tuples, not model instances: a full rebuild makes millions of them.
    """
    now = max(now, events[-1]["at"]) if events else now
    states = evaluate(compiled.policy, events, now)
    rows = []
    next_due: datetime | None = None
    for name, st in states.items():
        warn_at = None
        pending: datetime | None = None
        if st.state == "running" and st.due is not None:
            warn_at = _warning_instant(compiled.policy, st, now)
            pending = st.due
        elif st.state == "breached" and st.met_at is None and name not in announced:
            pending = st.breached_at or now
        if pending is not None:
            next_due = pending if next_due is None else min(next_due, pending)
        rows.append((ticket_id, name, st.state, int(st.elapsed.total_seconds()),
                     int(st.target.total_seconds()), st.due, warn_at, st.met_at,
                     st.breached_at, compiled.plan_version, compiled.calendar_version, now))
    return rows, next_due


def compute_rows(ticket_id: int, compiled: CompiledPolicy, events: list[dict],
                 now: datetime, *, announced: frozenset[str] = frozenset(),
                 ) -> tuple[list[TicketSLA], datetime | None]:
    """`compute_row_values` as model instances, for the one-ticket path."""
    values, next_due = compute_row_values(ticket_id, compiled, events, now, announced=announced)
    return [TicketSLA(**dict(zip(ROW_COLUMNS, v, strict=True))) for v in values], next_due


_ROW_FIELDS = ["state", "elapsed_seconds", "target_seconds", "due_at", "warn_at", "met_at",
               "breached_at", "plan_version", "calendar_version", "computed_at"]


def save_rows(rows: list[TicketSLA]) -> None:
    if rows:
        TicketSLA.objects.bulk_create(rows, update_conflicts=True,
                                      unique_fields=["ticket", "target"],
                                      update_fields=_ROW_FIELDS)


def refresh_ticket(ticket: Ticket, *, now: datetime, save_next_due: bool = True) -> bool:
    """Recompute the ticket's SLA rows and `next_due_at` from its timeline; whether
    `next_due_at` moved.

    It runs inside every ticket action, so it is written as two to four statements
    prepared once (the rebuild's approach, for one ticket): the events the clock reads,
    with the few payload keys it needs as columns, and the targets the ticket has rows
    for, in one SELECT; one multi-row upsert; the rows of targets the ticket no longer
    has deleted, when there are any; `next_due_at` only when it moved. With
    `save_next_due=False` the new deadline is only set on `ticket`: the actions' `touch`
    writes it with its own UPDATE of the ticket.
    """
    compiled = policy_for(ticket)
    conn = connections[DEFAULT_DB_ALIAS]
    timeline, targets = _timeline_and_targets(conn, ticket.pk)
    values, next_due = compute_row_values(ticket.pk, compiled, engine_events(timeline), now,
                                          announced=announced_breaches(timeline))
    sql = _refresh_sql(conn.vendor, len(values))
    adapt = conn.ops.adapt_datetimefield_value
    if targets.difference(v[1] for v in values):
        run(conn, sql.delete, [ticket.pk, *(v[1] for v in values)])
    if values:
        run(conn, sql.upsert, [adapt(x) if isinstance(x, datetime) else x
                               for v in values for x in v])
    if ticket.next_due_at == next_due:
        return False
    ticket.next_due_at = next_due
    if save_next_due:
        run(conn, sql.next_due, [adapt(next_due), ticket.pk])
    return True


_ROW_ATTNAMES = ("id", *ROW_COLUMNS)


def insert_rows(ticket_id: int, values: list[tuple]) -> list[TicketSLA]:
    """A new ticket's SLA rows (`compute_row_values`' tuples, whatever their ticket id)
    by one INSERT prepared once per row count, as model instances with their keys, in
    the order given (the order `bulk_create` wrote them in)."""
    if not values:
        return []
    conn = connections[DEFAULT_DB_ALIAS]
    adapt = conn.ops.adapt_datetimefield_value
    rows = [(ticket_id, *v[1:]) for v in values]
    found = run(conn, _insert_sql(conn.vendor, len(rows)),
                   [adapt(x) if isinstance(x, datetime) else x for row in rows for x in row],
                   fetch_all=True)[0]
    ids = dict((target, pk) for pk, target in found)
    return [TicketSLA.from_db(conn.alias, _ROW_ATTNAMES, (ids[row[1]], *row)) for row in rows]


@functools.cache
def _insert_sql(vendor: str, n: int) -> str:
    """Identifiers from the model only; every value is a parameter. The key comes back
    with its target: the order of a multi-row RETURNING is not promised."""
    row = "(" + ", ".join(["%s"] * len(ROW_COLUMNS)) + ")"
    return (f"INSERT INTO {connection.ops.quote_name(TicketSLA._meta.db_table)} "  # noqa: S608
            f"({', '.join(ROW_COLUMNS)}) VALUES {', '.join([row] * n)} RETURNING id, target")


# The codes the clock reads (engine_events, announced_breaches): no other event matters.
SLA_CODES = ("created", "status_changed", "resolved", "reopened", "closed", "priority_changed",
             "public_reply", "resolution_plan_posted", "sla_breached")
_PAYLOAD_KEYS = ("to", "priority", "by", "target")


@dataclass(frozen=True)
class _RefreshSQL:
    timeline: str
    delete: str
    upsert: str
    next_due: str


@functools.cache
def _refresh_sql(vendor: str, n: int) -> _RefreshSQL:
    """Identifiers from the models only; every value is a parameter."""
    from tierdesk.tickets.models import Ticket, TicketEvent

    q = connection.ops.quote_name
    if vendor == "postgresql":
        keys = ", ".join(f"payload->>'{k}'" for k in _PAYLOAD_KEYS)
    else:
        keys = ", ".join(f"json_extract(payload, '$.{k}')" for k in _PAYLOAD_KEYS)
    events, sla = q(TicketEvent._meta.db_table), q(TicketSLA._meta.db_table)
    codes = ", ".join(f"'{c}'" for c in SLA_CODES)
    nulls = ", ".join(["NULL"] * len(_PAYLOAD_KEYS))
    cols = ", ".join(ROW_COLUMNS)
    update = ", ".join(f"{c} = excluded.{c}" for c in ROW_COLUMNS[2:])
    row = "(" + ", ".join(["%s"] * len(ROW_COLUMNS)) + ")"
    return _RefreshSQL(
        # The events in order (by at, id); then, with no instant, the targets of the
        # ticket's SLA rows (wherever NULL sorts: they are told apart by it).
        timeline=(f"SELECT code, at, id, {keys} FROM {events} "  # noqa: S608 - our own names
                  f"WHERE ticket_id = %s AND code IN ({codes}) "
                  f"UNION ALL SELECT target, NULL, NULL, {nulls} FROM {sla} "
                  f"WHERE ticket_id = %s ORDER BY 2, 3"),
        delete=(f"DELETE FROM {sla} WHERE ticket_id = %s"  # noqa: S608 - our own names
                + (f" AND target NOT IN ({', '.join(['%s'] * n)})" if n else "")),
        upsert=(f"INSERT INTO {sla} ({cols}) VALUES {', '.join([row] * n)} "  # noqa: S608
                f"ON CONFLICT (ticket_id, target) DO UPDATE SET {update}"),
        next_due=f"UPDATE {q(Ticket._meta.db_table)} SET next_due_at = %s WHERE id = %s",  # noqa: S608
    )


def sla_timeline(ticket_id: int) -> list[tuple[str, datetime, dict]]:
    """The ticket's events the clock reads, in order, as (code, at, payload) with only
    the payload keys it uses: what `engine_events` and `announced_breaches` take."""
    return _timeline_and_targets(connections[DEFAULT_DB_ALIAS], ticket_id)[0]


def _timeline_and_targets(conn: Any, ticket_id: int
                          ) -> tuple[list[tuple[str, datetime, dict]], set[str]]:
    """`sla_timeline`, and the targets the ticket has SLA rows for, by one statement."""
    found = run(conn, _refresh_sql(conn.vendor, 0).timeline, [ticket_id, ticket_id],
                   fetch_all=True)[0]
    out = []
    targets = set()
    for code, at, _id, *keys in found:
        if at is None:  # an SLA row: its target in `code`
            targets.add(code)
            continue
        if isinstance(at, str):  # SQLite without the declared type's converter
            at = datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        out.append((code, at, dict(zip(_PAYLOAD_KEYS, keys, strict=True))))
    return out, targets


def _warning_instant(policy: Policy, state: TargetState, now: datetime) -> datetime:
    """When elapsed reaches the warning share of the target; `now` if that is already past."""
    return instant_at(policy, state, now, warning_share()) or now


def explain_ticket(ticket: Ticket, *, now: datetime):
    """The clock, stretch by stretch, for the agent's page and `tierdesk sla explain`."""
    compiled = policy_for(ticket)
    events = ticket_events(ticket)
    return explain(compiled.policy, events, max(now, events[-1]["at"]) if events else now)


def calendar_of(plan: Plan) -> Calendar:
    return compile_policy(plan).policy.calendar
