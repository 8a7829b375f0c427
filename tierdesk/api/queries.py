"""The API's read side: a page of tickets in two steps, so that a large table stays fast.

1. The page's keys: the filtered, ordered query on the ticket table alone (id and
   created_at), which SQLite and PostgreSQL answer from an index with LIMIT 26.
2. The rows of those ids as plain values (with the names a row shows, joined), and
   their SLA rows: no model objects, which would be most of a list's time.

Asked in one query with its joins, SQLite's planner (once ANALYZE has run) may start
from the contacts and sort every ticket to find the first 26: 100 times slower at
100,000 tickets. Two queries keep the plan, and the count of queries, fixed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from tierdesk.api.compiled import Compiled
from tierdesk.sla.models import TicketSLA
from tierdesk.tickets.models import Ticket

# What a list row shows (serializers.TicketSerializer), as values() paths.
ROW_VALUES = (
    "id", "number", "subject", "status", "channel", "tier", "created_at", "updated_at",
    "first_response_at", "resolved_at", "closed_at", "next_due_at", "resolution_code",
    "escalation_count", "reopen_count", "time_spent_minutes",
    "organisation_id", "organisation__name", "priority__code", "category__code",
    "requester_id", "requester__user__email", "requester__user__full_name",
    "assignee_id", "assignee__tier", "assignee__user__email", "assignee__user__full_name",
    "team_id", "team__name",
)
SLA_VALUES = ("ticket_id", "target", "state", "due_at", "warn_at", "met_at", "breached_at",
              "elapsed_seconds", "target_seconds", "computed_at")


@dataclass(frozen=True, slots=True)
class Row:
    """One ticket as a list row: its values (ROW_VALUES) and its SLA rows (SLA_VALUES)."""

    values: dict[str, Any]
    sla: list[dict[str, Any]]


def page_keys(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """The query a cursor pages through: keys only, no joins."""
    return qs.only("id", "created_at")


def rows_of(keys: Iterable[Ticket]) -> list[Row]:
    """The list rows of a page of keys, in the page's order: two queries."""
    ids = [key.pk for key in keys]
    values = {v["id"]: v for v in Ticket.objects.filter(pk__in=ids).values(*ROW_VALUES)}
    sla: dict[int, list[dict]] = defaultdict(list)
    for v in TicketSLA.objects.filter(ticket_id__in=ids).order_by("target").values(*SLA_VALUES):
        sla[v["ticket_id"]].append(v)
    return [Row(values[pk], sla[pk]) for pk in ids if pk in values]


def _path(obj: Any, path: str) -> Any:
    for part in path.split("__"):
        if obj is None:
            return None
        obj = getattr(obj, part)
    return obj


def row_of(ticket: Ticket, *, sla: list[TicketSLA] | None = None) -> Row:
    """The same row from a ticket already loaded (the detail, webhook payloads); its SLA
    rows are `sla` when given, else `ticket.sla_rows.all()`."""
    rows = ticket.sla_rows.all() if sla is None else sla
    return Row({path: _path(ticket, path) for path in ROW_VALUES},
               [{name: getattr(r, name) for name in SLA_VALUES} for r in rows])


_SLA_ROWS = Compiled(lambda ticket_id: TicketSLA.objects.filter(ticket_id=ticket_id)
                     .order_by("target"))


def sla_rows_of(ticket: Ticket) -> list[TicketSLA]:
    """A ticket's SLA rows by target: those in its prefetch cache (an action that wrote
    them may leave them there), else one query, compiled once per process."""
    cached = getattr(ticket, "_prefetched_objects_cache", {}).get("sla_rows")
    if cached is not None:
        return sorted(cached, key=lambda row: row.target)
    return _SLA_ROWS.objects(ticket.pk, model=TicketSLA)
