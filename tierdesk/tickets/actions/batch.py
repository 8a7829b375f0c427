"""Actions planned in memory for many tickets and written together (the worker's batches).

The automation routes a batch's new tickets one after another, in memory (`plan_assign`
is `assign` for the system, without its writes, and `base.event_for` is the event `record`
appends), then writes what it planned with `write_planned`: every event in one
INSERT, in the order planned (so each ticket's timeline is what one action at a time
gives), then the touched tickets' SLA rows and cached columns as `touch` writes them,
for all of them at once (`touch_many`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Agent, Team
from tierdesk.lib.sql import insert_many, run
from tierdesk.sla import adapter as sla_adapter
from tierdesk.sla.models import TicketSLA
from tierdesk.tickets.actions import base
from tierdesk.tickets.actions.base import action, event_for, touch
from tierdesk.tickets.actions.workflow import check_assignable
from tierdesk.tickets.errors import ActionError
from tierdesk.tickets.lifecycle import Status, can_move
from tierdesk.tickets.models import EventCode, Ticket, TicketEvent


@dataclass
class Planned:
    """What `plan_assign` planned: the events, in order, and the columns `touch` writes."""

    events: list[TicketEvent]
    fields: list[str]


def plan_assign(*, ticket: Ticket, agent: Agent, team: Team | None, reason: str,
                at: datetime) -> Planned | None:
    """`assign(actor=None, ...)` in memory: the same checks, the same events and the same
    changes to `ticket`; None when it would do nothing. Written by `write_planned`."""
    check_assignable(agent, ticket)
    if agent.pk == ticket.assignee_id and (team.pk if team else None) == ticket.team_id:
        return None
    events = [event_for(ticket, EventCode.ASSIGNED, actor=None, at=at, is_public=False,
                            agent=agent.pk, agent_name=str(agent), team=team.pk if team else None,
                            team_name=team.name if team else None, reason=reason)]
    ticket.assignee = agent
    ticket.team = team
    fields = ["assignee", "team"]
    if ticket.status == Status.NEW:  # as `move(ticket, Status.OPEN, ...)`
        if not can_move(ticket.status, Status.OPEN):
            raise ActionError(_("A ticket cannot go from “%(old)s” to “%(new)s”.") % {
                "old": Status(ticket.status).label, "new": Status.OPEN.label},
                field="status", code="illegal_transition")
        events.append(event_for(ticket, EventCode.STATUS_CHANGED, actor=None, at=at,
                                    is_public=True, change=(ticket.status, Status.OPEN)))
        ticket.status = Status.OPEN
        fields.append("status")
    return Planned(events, fields)


@action
def write_planned(*, events: list[TicketEvent],
                  touched: list[tuple[Ticket, datetime, list[str]]]) -> None:
    """Append the planned events (one INSERT, in order), then refresh and save each touched
    ticket as `touch` does (its SLA rows read the timeline these events are part of)."""
    if events:
        insert_many(events)
        appended = base.appended()
        if appended is not None:
            appended.extend(events)
    if len({t.pk for t, _at, _fields in touched}) < len(touched):  # one ticket twice: in turn
        for ticket, at, fields in touched:
            touch(ticket, at, fields=fields)
        return
    touch_many(touched)


_CHUNK = 400  # SLA rows an upsert (12 parameters each: well under SQLite's limit)


def touch_many(touched: list[tuple[Ticket, datetime, list[str]]]) -> None:
    """`touch` of many tickets (each once), as it writes them one by one: each ticket's
    SLA rows recomputed from its timeline at its own instant, and its columns saved with
    `next_due_at` when it moved; the timelines and rows' targets read in one statement,
    the rows upserted in a few, the tickets updated by one statement per set of columns."""
    if not touched:
        return
    conn = connections[DEFAULT_DB_ALIAS]
    timelines, targets = _timelines(conn, [t.pk for t, _at, _fields in touched])
    adapt = conn.ops.adapt_datetimefield_value
    rows: list[tuple] = []
    by_names: dict[tuple[str, ...], list[Ticket]] = {}
    for ticket, at, fields in touched:
        ticket.updated_at = at
        base.with_plan(ticket)
        timeline = timelines.get(ticket.pk, [])
        values, next_due = sla_adapter.compute_row_values(
            ticket.pk, sla_adapter.policy_for(ticket), sla_adapter.engine_events(timeline), at,
            announced=sla_adapter.announced_breaches(timeline))
        kept = [v[1] for v in values]
        if targets.get(ticket.pk, set()).difference(kept):
            run(conn, sla_adapter._refresh_sql(conn.vendor, len(kept)).delete,
                [ticket.pk, *kept])
        rows += values
        moved = ticket.next_due_at != next_due
        ticket.next_due_at = next_due
        names = tuple(dict.fromkeys([*fields, "updated_at", *(["next_due_at"] if moved else [])]))
        by_names.setdefault(names, []).append(ticket)
        # Rows read or kept before are stale now.
        ticket.__dict__.get("_prefetched_objects_cache", {}).pop("sla_rows", None)
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start:start + _CHUNK]
        run(conn, sla_adapter._refresh_sql(conn.vendor, len(chunk)).upsert,
            [adapt(x) if isinstance(x, datetime) else x for v in chunk for x in v])
    for names, tickets in by_names.items():
        sql, columns = base._update_sql(Ticket, names, conn.vendor)
        with conn.cursor() as cur:
            cur.executemany(sql, [[*(f.get_db_prep_save(f.pre_save(t, False), conn)
                                     for f in columns), t.pk] for t in tickets])
            if cur.rowcount != len(tickets):
                raise DatabaseError("Save with update_fields did not affect every row.")


def _timelines(conn: Any, ids: list[int]
               ) -> tuple[dict[int, list[tuple[str, datetime, dict]]], dict[int, set[str]]]:
    """`sla_adapter.sla_timeline` of many tickets, and the targets of their SLA rows, by
    one statement (the refresh's, for a list of tickets)."""
    keys = sla_adapter._PAYLOAD_KEYS
    found = run(conn, _timelines_sql(conn.vendor, len(ids)), [*ids, *ids], fetch_all=True)[0]
    timelines: dict[int, list[tuple[str, datetime, dict]]] = {}
    targets: dict[int, set[str]] = {}
    for ticket_id, code, at, _id, *values in found:
        if at is None:  # an SLA row: its target in `code`
            targets.setdefault(ticket_id, set()).add(code)
            continue
        if isinstance(at, str):  # SQLite without the declared type's converter
            at = datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        timelines.setdefault(ticket_id, []).append(
            (code, at, dict(zip(keys, values, strict=True))))
    return timelines, targets


@functools.cache
def _timelines_sql(vendor: str, n: int) -> str:
    """Identifiers from the models only; every value is a parameter."""
    q = connection.ops.quote_name
    keys = sla_adapter._PAYLOAD_KEYS
    if vendor == "postgresql":
        extract = ", ".join(f"payload->>'{k}'" for k in keys)
    else:
        extract = ", ".join(f"json_extract(payload, '$.{k}')" for k in keys)
    events, sla = q(TicketEvent._meta.db_table), q(TicketSLA._meta.db_table)
    codes = ", ".join(f"'{c}'" for c in sla_adapter.SLA_CODES)
    nulls = ", ".join(["NULL"] * len(keys))
    marks = ", ".join(["%s"] * n)
    # Each ticket's events in order (by at, id); its SLA rows' targets have no instant.
    return (f"SELECT ticket_id, code, at, id, {extract} FROM {events} "  # noqa: S608
            f"WHERE ticket_id IN ({marks}) AND code IN ({codes}) "
            f"UNION ALL SELECT ticket_id, target, NULL, NULL, {nulls} FROM {sla} "
            f"WHERE ticket_id IN ({marks}) ORDER BY 1, 3, 4")
