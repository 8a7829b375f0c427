"""What every action shares: recording an event and refreshing the caches it feeds."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.models import F, Field, Model, Sum

from tierdesk.accounts.models import Organisation, User
from tierdesk.lib import clock
from tierdesk.lib.sql import insert_statement
from tierdesk.lib.sql import run as run_sql
from tierdesk.sla import adapter as sla_adapter
from tierdesk.sla.models import TicketSLA
from tierdesk.tickets import hooks
from tierdesk.tickets.attachments import CheckedFile
from tierdesk.tickets.errors import Forbidden
from tierdesk.tickets.models import Attachment, EventCode, Ticket, TicketCounter, TicketEvent
from tierdesk.tickets.permissions import can_view, is_agent

_stored_files: ContextVar[list[str] | None] = ContextVar("stored_files", default=None)
_appended: ContextVar[list[TicketEvent] | None] = ContextVar("appended", default=None)

P = ParamSpec("P")
R = TypeVar("R")


def action(fn: Callable[P, R]) -> Callable[P, R]:
    """Run an action in one transaction; on failure, nothing stays: rows nor files.

    Storage is not transactional, so files saved during the action are listed
    and deleted when the outermost action raises. The events the action appended
    are handed to `tickets.hooks` before the commit: recorded for the worker
    (deferred mode), or heard by the subscribers there and then (inline mode).
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        outermost = _stored_files.get() is None
        tokens = (_stored_files.set([]), _appended.set([])) if outermost else None
        try:
            with transaction.atomic():
                result = fn(*args, **kwargs)
                if outermost:
                    hooks.dispatch(_appended.get() or [])
                return result
        except BaseException:
            if outermost:
                for name in _stored_files.get() or []:
                    default_storage.delete(name)
            raise
        finally:
            if tokens is not None:
                _stored_files.reset(tokens[0])
                _appended.reset(tokens[1])

    return wrapper


def appended() -> list[TicketEvent] | None:
    """The events the running action (or the worker's batch) has appended so far; None
    outside one. May hold events a rolled-back savepoint wrote: a hint, not the truth."""
    return _appended.get()


@contextmanager
def hearing() -> Iterator[None]:
    """Subscribers at work (the worker's batch): the actions they call are nested, as they
    are when subscribers run inside an action. Their events are heard by no one else, and
    files they stored are removed if the batch fails."""
    tokens = (_stored_files.set([]), _appended.set([]))
    try:
        yield
    except BaseException:
        for name in _stored_files.get() or []:
            default_storage.delete(name)
        raise
    finally:
        _stored_files.reset(tokens[0])
        _appended.reset(tokens[1])


def actor_kind(user: User | None) -> str:
    if user is None:
        return "system"
    return "agent" if is_agent(user) else "contact"


def require_view(user: User | None, ticket: Ticket) -> None:
    if user is not None and not can_view(user, ticket):
        raise Forbidden()


def require_agent(user: User | None) -> None:
    """System actions (user None) are allowed; people must be agents."""
    if user is not None and not is_agent(user):
        raise Forbidden()


def next_number() -> int:
    """A new case number: a conditional UPDATE serialises concurrent creators (one query,
    UPDATE ... RETURNING; the counter's row is made the first time)."""
    table = TicketCounter._meta.db_table
    sql = f"UPDATE {table} SET last = last + 1 WHERE id = 1 RETURNING last"  # noqa: S608
    row = run_sql(connections[DEFAULT_DB_ALIAS], sql, [])[0]
    if row is not None:
        return int(row[0])
    TicketCounter.objects.get_or_create(pk=1)
    TicketCounter.objects.filter(pk=1).update(last=F("last") + 1)
    return TicketCounter.objects.values_list("last", flat=True).get(pk=1)


def event_for(ticket: Ticket, code: EventCode | str, *, actor: User | None, at: datetime,
              is_public: bool = True, body: str = "", change: tuple[Any, Any] | None = None,
              **payload: Any) -> TicketEvent:
    """The event `record` appends, unsaved (the worker's batches write many at once)."""
    payload.setdefault("by", actor_kind(actor))
    if change is not None:
        payload["from"], payload["to"] = change
    return TicketEvent(ticket=ticket, code=code, actor=actor, at=at, is_public=is_public,
                       body=body, payload=payload)


def record(ticket: Ticket, code: EventCode | str, *, actor: User | None, at: datetime,
           is_public: bool = True, body: str = "", change: tuple[Any, Any] | None = None,
           **payload: Any) -> TicketEvent:
    """Append one event. `change` is the (from, to) of what moved, kept as two keys."""
    event = event_for(ticket, code, actor=actor, at=at, is_public=is_public, body=body,
                      change=change, **payload)
    insert(event)
    appended = _appended.get()
    if appended is not None:
        appended.append(event)
    return event


def insert(instance: Model, *, unique: str | None = None) -> bool:
    """INSERT a new row as save() would (each field's pre_save and prepared value), by a
    statement written once per model: an action's ticket and events, on every message
    and request, skip the ORM's query compilation. No model signal is sent (none is
    connected to these models). With `unique`, a row holding the same value of that
    unique column wins (ON CONFLICT DO NOTHING: no exception, no savepoint) and nothing
    is written. True, with the primary key set, when the row was written."""
    # The connection itself, not django.db.connection: the proxy's look-up on every
    # attribute the fields' conversions read costs more than the conversions.
    conn = connections[DEFAULT_DB_ALIAS]
    sql, fields = insert_statement(type(instance), conn.vendor, 1, unique)
    values = [f.get_db_prep_save(f.pre_save(instance, True), conn) for f in fields]
    row = run_sql(conn, sql, values)[0]
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    instance._state.db = conn.alias
    return True


@functools.cache
def _update_sql(model: type[Model], names: tuple[str, ...], vendor: str
                ) -> tuple[str, tuple[Field, ...]]:
    q = connection.ops.quote_name
    fields: list[Field] = []
    for name in names:
        f = model._meta.get_field(name)
        if not isinstance(f, Field) or not f.concrete or f.many_to_many:
            raise ValueError(f"{name} is not a column of {model.__name__}")
        fields.append(f)
    sets = ", ".join(f"{q(str(f.column))} = %s" for f in fields)
    return (f"UPDATE {q(model._meta.db_table)} SET {sets} "  # noqa: S608 - identifiers only
            f"WHERE {q(str(model._meta.pk.column))} = %s"), tuple(fields)


def update(instance: Model, names: list[str]) -> None:
    """save(update_fields=names), by a statement written once per model and set of
    columns (what every action's `touch` runs)."""
    conn = connections[DEFAULT_DB_ALIAS]
    sql, fields = _update_sql(type(instance), tuple(dict.fromkeys(names)), conn.vendor)
    values = [f.get_db_prep_save(f.pre_save(instance, False), conn) for f in fields]
    if run_sql(conn, sql, [*values, instance.pk])[1] == 0:
        raise DatabaseError("Save with update_fields did not affect any rows.")


def last_recorded(ticket: Ticket, code: EventCode | str) -> TicketEvent:
    """The ticket's latest event of `code`: the one this action appended when it did (no
    query), else read from the timeline."""
    for event in reversed(_appended.get() or []):
        if event.ticket_id == ticket.pk and event.code == code:
            return event
    return ticket.events.filter(code=code).latest("pk")


def store_attachments(ticket: Ticket, event: TicketEvent, files: list[CheckedFile], *,
                      actor: User | None, at: datetime, is_public: bool) -> list[Attachment]:
    """Save files to storage and record them; `action` removes them if the action fails."""
    stored = []
    for f in files:
        att = Attachment(ticket=ticket, event=event, token=secrets.token_hex(16),
                         filename=f.filename, content_type=f.content_type, size=f.size,
                         is_public=is_public, uploaded_by=actor, created_at=at)
        att.file.save(f.filename, f.upload, save=False)
        pending = _stored_files.get()
        if pending is not None and att.file.name:
            pending.append(att.file.name)
        att.save()
        stored.append(att)
    if stored:
        record(ticket, EventCode.ATTACHMENT_ADDED, actor=actor, at=at, is_public=is_public,
               files=[{"name": a.filename, "token": a.token, "size": a.size} for a in stored])
    return stored


def attachments_bytes(ticket: Ticket) -> int:
    return ticket.attachments.aggregate(total=Sum("size"))["total"] or 0


def touch(ticket: Ticket, at: datetime, *, fields: list[str]) -> None:
    """Recompute the SLA rows and save the cached columns, in the action's transaction:
    the rows first, so that a `next_due_at` that moved is written by the same UPDATE."""
    ticket.updated_at = at
    with_plan(ticket)
    moved = sla_adapter.refresh_ticket(ticket, now=at, save_next_due=False)
    update(ticket, [*fields, "updated_at", *(["next_due_at"] if moved else [])])
    # Rows read or kept before are stale now.
    ticket.__dict__.get("_prefetched_objects_cache", {}).pop("sla_rows", None)


def keep_sla_rows(ticket: Ticket, rows: list[TicketSLA]) -> None:
    """Hand the SLA rows an action wrote to its caller: `ticket.sla_rows.all()` answers
    them, in target order, without a query (as a prefetch would have read them)."""
    cache: dict[str, Any] = ticket.__dict__.setdefault("_prefetched_objects_cache", {})
    cache.pop("sla_rows", None)
    # As prefetch_related stores it: the relation's queryset (one that filters or
    # orders still asks the database), its result the rows, each knowing its ticket.
    cached = ticket.sla_rows.get_queryset()
    for row in rows:
        TicketSLA.ticket.field.set_cached_value(row, ticket)
    cached._result_cache = sorted(rows, key=lambda r: r.target)
    cached._prefetch_done = True  # type: ignore[attr-defined]
    cache["sla_rows"] = cached


def with_plan(ticket: Ticket) -> None:
    """The ticket's organisation and plan (what its SLA needs) in one query, unless loaded."""
    if not Ticket.organisation.is_cached(ticket):
        ticket.organisation = Organisation.objects.select_related("plan").get(
            pk=ticket.organisation_id)


def now() -> datetime:
    return clock.now()
