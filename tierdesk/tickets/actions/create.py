"""Opening a ticket."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import connection
from django.db.models import Model
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Contact, Organisation, User
from tierdesk.lib.sql import run as run_sql
from tierdesk.sla import adapter as sla_adapter
from tierdesk.sla.models import TicketSLA
from tierdesk.tickets import hooks
from tierdesk.tickets.actions.base import (
    action,
    insert,
    keep_sla_rows,
    next_number,
    now,
    record,
    store_attachments,
)
from tierdesk.tickets.attachments import CheckedFile, check_uploads
from tierdesk.tickets.errors import ActionError, Forbidden
from tierdesk.tickets.lifecycle import Status
from tierdesk.tickets.models import (
    Category,
    Channel,
    EventCode,
    ImpactUrgency,
    Location,
    Priority,
    Ticket,
)
from tierdesk.tickets.permissions import is_agent


@dataclass
class Intake:
    """The facts seeds 003 and 004 ask for when a ticket is opened. All optional here;
    which ones are mandatory is the provider's choice, checked by the forms."""

    started_at: datetime | None = None
    users_affected: int | None = None
    machines_affected: int | None = None
    location: str = ""
    troubleshooting_done: str = ""
    business_impact: str = ""
    business_stopped: bool = False
    affected_accounts: str = ""
    environment: str = ""
    product_build: str = ""
    callback_phone: str = ""

    def as_columns(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class NewTicket:
    requester: Contact
    subject: str
    description: str
    channel: str = Channel.PORTAL
    category: Category | None = None
    priority: Priority | None = None
    impact: str = ""
    urgency: str = ""
    intake: Intake = field(default_factory=Intake)
    cc: list[Contact] = field(default_factory=list)
    attachments: list[UploadedFile] = field(default_factory=list)


def derive_priority(*, impact: str, urgency: str) -> Priority | None:
    """Impact × urgency -> priority, from the configured matrix (seed 003).

    An exact cell first; then the impact-only row of a matrix without urgency. The
    priority is answered whether active or not (the caller refuses an inactive one).
    Every create that says its impact asks (the API, the portal's form): one statement
    prepared once, the cell picked by the database, one instance built."""
    if not impact:
        return None
    row = run_sql(connection, _derive_priority_sql(connection.vendor),
                             [impact, urgency, "", urgency])[0]
    return None if row is None else _priority(row)


def default_priority() -> Priority:
    """The middle of the active scale: what a ticket gets when nobody says.

    Every create without a priority asks (mail, most API calls): one statement prepared
    once, the middle row picked by the database, one instance built."""
    row = run_sql(connection, _default_priority_sql(connection.vendor), [True, True])[0]
    if row is None:
        raise ActionError(_("No priorities are configured."), field="priority")
    return _priority(row)


def _priority(row: tuple) -> Priority:
    """A Priority from its columns in model order, converted as the ORM would (SQLite's
    integer booleans)."""
    attnames, converters = _priority_plan(connection.vendor)
    values = list(row)
    for i, col, found in converters:
        if values[i] is not None:
            for fn in found:
                values[i] = fn(values[i], col, connection)
    return Priority.from_db(connection.alias, attnames, values)


@functools.cache
def _priority_plan(vendor: str) -> tuple[list[str], list[tuple[int, Any, list]]]:
    fields = Priority._meta.concrete_fields
    converters = []
    for i, f in enumerate(fields):
        col = f.get_col(Priority._meta.db_table)
        found = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
        if found:
            converters.append((i, col, found))
    return [f.attname for f in fields], converters


@functools.cache
def _default_priority_sql(vendor: str) -> str:
    """Identifiers from the model only. The active rows by rank, the one at index count // 2."""
    q = connection.ops.quote_name
    table = q(Priority._meta.db_table)
    column = {f.name: f.column for f in Priority._meta.concrete_fields if f.column is not None}
    cols = ", ".join(q(c) for c in column.values())
    active = f"{q(column['is_active'])} = %s"
    rank = q(column["rank"])
    return (f"SELECT {cols} FROM {table} WHERE {active} ORDER BY {rank} "  # noqa: S608
            f"LIMIT 1 OFFSET (SELECT COUNT(*) / 2 FROM {table} WHERE {active})")


@functools.cache
def _derive_priority_sql(vendor: str) -> str:
    """Identifiers from the model only. The cells of the impact for the urgency and for
    none (at most two: one cell per impact and urgency), the exact one first."""
    q = connection.ops.quote_name

    def col(model: type[Model], name: str) -> str:
        return q(str(model._meta.get_field(name).column))  # type: ignore[union-attr]

    cols = ", ".join(f"p.{q(str(f.column))}" for f in Priority._meta.concrete_fields)
    cell = f"c.{col(ImpactUrgency, 'urgency')}"
    return (f"SELECT {cols} FROM {q(ImpactUrgency._meta.db_table)} c "  # noqa: S608
            f"JOIN {q(Priority._meta.db_table)} p "
            f"ON p.{col(Priority, 'id')} = c.{col(ImpactUrgency, 'priority')} "
            f"WHERE c.{col(ImpactUrgency, 'impact')} = %s AND {cell} IN (%s, %s) "
            f"ORDER BY CASE WHEN {cell} = %s THEN 0 ELSE 1 END LIMIT 1")


def _validate(new: NewTicket) -> Priority:
    subject = new.subject.strip()
    if not subject:
        raise ActionError(_("Please give the ticket a subject."), field="subject")
    if len(subject) > 200:
        raise ActionError(_("The subject is limited to 200 characters."), field="subject")
    if not new.description.strip():
        raise ActionError(_("Please describe the problem."), field="description")
    if new.channel not in Channel.values:
        raise ActionError(_("Unknown channel “%(c)s”.") % {"c": new.channel}, field="channel")
    if new.category is not None and not new.category.is_active:
        raise ActionError(_("That category is no longer in use."), field="category")
    if new.impact and new.impact not in ImpactUrgency.Impact.values:
        raise ActionError(_("Unknown impact “%(v)s”.") % {"v": new.impact}, field="impact")
    if new.urgency and new.urgency not in ImpactUrgency.Urgency.values:
        raise ActionError(_("Unknown urgency “%(v)s”.") % {"v": new.urgency}, field="urgency")
    if new.intake.location and new.intake.location not in Location.values:
        raise ActionError(_("Say remote or on site."), field="location")
    if new.requester.held_for_review:
        raise ActionError(_("This contact is waiting to be confirmed by the support team."),
                          field="requester")
    for contact in new.cc:
        if contact.organisation_id != new.requester.organisation_id:
            raise ActionError(_("CC contacts must belong to the requester's organisation."),
                              field="cc")
    priority = new.priority or derive_priority(impact=new.impact, urgency=new.urgency)
    if priority is None:
        priority = default_priority()
    if not priority.is_active:
        raise ActionError(_("That priority is no longer in use."), field="priority")
    return priority


def create_ticket(*, actor: User | None, new: NewTicket, at: datetime | None = None) -> Ticket:
    """Open a ticket for `new.requester`.

    1. Check the actor may open it: the requester themself, an agent on their
       behalf (phone desk), or the system (mail, API).
    2. Validate everything, files included, and compute the SLA rows (they follow
       from the one `created` event), before the write transaction: these only read,
       and on SQLite the write transaction holds the one write lock of the database.
    3. Write (`_open`, one transaction): the ticket, its `created` event and
       attachments, the SLA rows. The returned ticket carries the rows written as its
       `sla_rows` (no query to read them back), unless the hooks run inline, whose
       subscribers may have rewritten them since.
    """
    if actor is not None and not is_agent(actor):
        contact = getattr(actor, "contact", None)
        if contact is None or contact.pk != new.requester.pk:
            raise Forbidden(_("You can only open tickets for yourself."))
        if not new.requester.organisation.is_active:
            raise Forbidden(_("Your organisation's support contract is not active."))
    priority = _validate(new)
    files = check_uploads(new.attachments)
    at = at or now()
    organisation = _organisation_with_plan(new.requester)
    compiled = sla_adapter.compile_policy(organisation.plan, organisation.contract_targets)
    sla_values, next_due = sla_adapter.compute_row_values(
        0, compiled, [{"at": at, "type": "created", "priority": priority.code}], at)
    ticket = Ticket(
        organisation=organisation,
        requester=new.requester,
        subject=new.subject.strip(),
        description=new.description.strip(),
        category=new.category,
        priority=priority,
        impact=new.impact,
        urgency=new.urgency,
        status=Status.NEW,
        channel=new.channel,
        created_at=at,
        updated_at=at,
        next_due_at=next_due,
        **new.intake.as_columns(),
    )
    rows = _open(ticket, new=new, actor=actor, at=at, files=files, sla_values=sla_values)
    if not hooks.inline_mode():
        # What `ticket.sla_rows.all()` would read (in target order, as the API shows
        # them). Inline subscribers, run as the action ended, may have changed them.
        keep_sla_rows(ticket, rows)
    return ticket


@action
def _open(ticket: Ticket, *, new: NewTicket, actor: User | None, at: datetime,
          files: list[CheckedFile], sla_values: list[tuple]) -> list[TicketSLA]:
    """The writes of `create_ticket`, in one transaction; the SLA rows written."""
    ticket.number = next_number()
    insert(ticket)
    if new.cc:
        ticket.cc.set(new.cc)
    event = record(ticket, EventCode.CREATED, actor=actor, at=at, body=ticket.description,
                   priority=ticket.priority.code, channel=new.channel,
                   category=new.category.code if new.category else None)
    store_attachments(ticket, event, files, actor=actor, at=at, is_public=True)
    return sla_adapter.insert_rows(ticket.pk, sla_values)


def _organisation_with_plan(requester: Contact) -> Organisation:
    """The requester's organisation and its plan: what the caller loaded, else one query."""
    if Contact.organisation.is_cached(requester):
        return requester.organisation
    organisation = Organisation.objects.select_related("plan").get(pk=requester.organisation_id)
    requester.organisation = organisation
    return organisation
