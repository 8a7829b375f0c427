"""Escalation by people, and what the automation writes on a ticket's timeline.

- `commit_timeframe`: the engineer who takes an escalated ticket promises the
  customer a new resolution time-frame (seed 000); the customer sees it, and a
  missed one is escalated in turn by tierdesk.automation.
- `escalate_by_customer`: the customer escalates a case, from the portal, by
  phone (an agent types the case number they give and acts on their behalf) or
  by email (seed 001). The team lead hears of it and is asked to review the
  priority; it may happen once per `CUSTOMER_ESCALATION_COOLDOWN_HOURS`.
- `record_*`: the automation's own steps (SLA warnings and breaches, rules
  applied, routing that found nobody, failures), written as system actions so
  that hooks hear them like any other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import formats
from django.utils.translation import gettext as _

from tierdesk.accounts.models import User
from tierdesk.notifications import recipients
from tierdesk.notifications.notifier import notify
from tierdesk.tickets import hooks
from tierdesk.tickets.actions.base import action, now, record, require_view, touch
from tierdesk.tickets.errors import ActionError, Forbidden
from tierdesk.tickets.models import EventCode, Ticket, TicketEvent
from tierdesk.tickets.permissions import is_agent

CHANNELS = ("portal", "phone", "email")
# By email, a customer escalates by putting one of these words in the subject of a message
# about the case (a reply, or a new message naming the case number): "ESCALATE TD-100042".
ESCALATE_WORDS = ("escalate", "escalation", "escalar", "escalamiento")
_ESCALATE_SUBJECT = re.compile(r"(?<![\w-])(" + "|".join(ESCALATE_WORDS) + r")(?![\w-])",
                               re.IGNORECASE)


def asks_to_escalate(subject: str) -> bool:
    """Does an email's subject ask to escalate the case (English or Spanish)?"""
    return bool(_ESCALATE_SUBJECT.search(subject or ""))


def cooldown() -> timedelta:
    return timedelta(hours=float(getattr(settings, "CUSTOMER_ESCALATION_COOLDOWN_HOURS", 24)))


@action
def commit_timeframe(*, actor: User | None, ticket: Ticket, due_at: datetime, note: str,
                     at: datetime | None = None) -> TicketEvent:
    """An engineer commits to resolving the ticket by `due_at`; the customer sees it.

    Only agents working at the ticket's tier or above may commit (the tier-2
    technician who takes an escalated ticket, or a lead). A new commitment
    replaces the previous one; the automation escalates a missed one.
    """
    if actor is None or not is_agent(actor):
        raise Forbidden(_("Only the engineer working on the ticket can commit a time-frame."))
    at = at or now()
    if not ticket.is_active:
        raise ActionError(_("The ticket is resolved; reopen it first."), field="status")
    if actor.agent.tier < ticket.tier:
        raise ActionError(_("The ticket is at tier %(t)s; an engineer at that tier commits "
                            "its time-frame.") % {"t": ticket.tier}, field="due_at")
    if due_at is None or due_at.tzinfo is None:
        raise ActionError(_("Give the date and time by which it will be resolved."),
                          field="due_at")
    if due_at <= at:
        raise ActionError(_("The new time-frame must end in the future."), field="due_at")
    previous = ticket.events.filter(code=EventCode.TIMEFRAME_COMMITTED).order_by(
        "-at", "-id").values_list("payload", flat=True).first()
    event = record(ticket, EventCode.TIMEFRAME_COMMITTED, actor=actor, at=at, is_public=True,
                   body=note.strip(), due_at=due_at.isoformat(),
                   previous_due_at=(previous or {}).get("due_at"), tier=ticket.tier)
    touch(ticket, at, fields=[])
    return event


@action
def escalate_by_customer(*, actor: User | None, ticket: Ticket, reason: str,
                         channel: str = "portal", at: datetime | None = None) -> TicketEvent:
    """The customer escalates their case (seed 001).

    portal: the actor is a contact who can see the ticket. phone: the actor is
    the agent who took the call and typed the case number; the escalation is
    the requester's, recorded on their behalf. email: a contact, or the system
    (None) when inbound mail asks for it.
    """
    if channel not in CHANNELS:
        raise ActionError(_("Unknown channel “%(c)s”.") % {"c": channel}, field="channel")
    if channel == "phone":
        if actor is None or not is_agent(actor):
            raise Forbidden(_("A phone escalation is entered by an agent."))
    elif actor is not None:
        if is_agent(actor):
            raise ActionError(_("Agents escalate a customer's case on their behalf with the "
                                "phone channel."), field="channel")
        require_view(actor, ticket)
    reason = reason.strip()
    if not reason:
        raise ActionError(_("Tell us why you are escalating the case."), field="reason")
    if not ticket.is_active:
        raise ActionError(_("%(ref)s is resolved. If the problem is back, reopen it instead.")
                          % {"ref": ticket.reference}, field="status")
    at = at or now()
    last = (ticket.events.filter(code=EventCode.ESCALATED, payload__kind="customer",
                                 at__gt=at - cooldown())
            .order_by("-at").values_list("at", flat=True).first())
    if last is not None:
        raise ActionError(
            _("%(ref)s was escalated on %(when)s and is being reviewed. You can escalate it "
              "again after %(next)s.") % {
                "ref": ticket.reference,
                "when": formats.date_format(last, "DATETIME_FORMAT"),
                "next": formats.date_format(last + cooldown(), "DATETIME_FORMAT")},
            field="reason", code="escalation_too_soon")
    requester = ticket.requester
    event = record(ticket, EventCode.ESCALATED, actor=actor, at=at, is_public=True, body=reason,
                   kind="customer", channel=channel, review="priority",
                   on_behalf_of=requester.user.get_full_name() if channel == "phone" else None,
                   requester=requester.pk)
    notify(key=f"ev{event.pk}", kind="customer_escalated",
           recipients=recipients.resolve(["team_lead"], ticket), ticket=ticket, at=at,
           context={"reason": reason, "channel": channel,
                    "requester": requester.user.get_full_name()})
    touch(ticket, at, fields=[])
    return event


# --------------------------------------------------------------------------- the automation's steps


@dataclass(frozen=True)
class SweepStep:
    """One step the SLA sweep claimed: a warning, a breach or a missed commitment."""

    ticket: Ticket
    code: str  # EventCode.SLA_WARNING, SLA_BREACHED or TIMEFRAME_MISSED
    payload: dict[str, Any]


SWEEP_CODES = (EventCode.SLA_WARNING, EventCode.SLA_BREACHED, EventCode.TIMEFRAME_MISSED)


@action
def record_sweep_steps(*, steps: list[SweepStep], at: datetime) -> list[TicketEvent]:
    """Record the steps of one sweep batch on their tickets' timelines (internal events).

    One INSERT for the batch; the subscribers of `tickets.hooks` hear the events
    as they hear every action's: deferred (one `HookWork` row per ticket, heard by
    the worker after the commit, batch handlers where they have one). The sweep
    refreshes the tickets' cached columns itself, in bulk; the consequences (who
    is told, which rules run) follow in tierdesk.automation, step by step.
    """
    for step in steps:
        if step.code not in SWEEP_CODES:
            raise ValueError(f"not a sweep step: {step.code}")
    payloads = [{**step.payload, "by": "system"} for step in steps]
    if connection.vendor == "postgresql":
        ids = _copy_events(steps, payloads, at)
        events = [TicketEvent(pk=pk, ticket=step.ticket, code=step.code, actor=None, at=at,
                              is_public=False, body="", payload=payload)
                  for pk, step, payload in zip(ids, steps, payloads, strict=True)]
    else:
        events = TicketEvent.objects.bulk_create(
            [TicketEvent(ticket=step.ticket, code=step.code, actor=None, at=at, is_public=False,
                         payload=payload) for step, payload in zip(steps, payloads, strict=True)],
            batch_size=1000)
    # Deferred like every action's: what the subscribers derive from the steps (report
    # measures, webhooks) is not the sweep's to wait for (docs/ARCHITECTURE.md).
    hooks.dispatch(events)
    return events


def _copy_events(steps: list[SweepStep], payloads: list[dict], at: datetime) -> list[int]:
    """PostgreSQL: ids from the sequence, then one COPY (a sweep may record thousands)."""
    table = TicketEvent._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                    "FROM generate_series(1, %s)", [table, len(steps)])
        ids = [row[0] for row in cur.fetchall()]
        columns = "id, ticket_id, code, at, actor_id, is_public, body, payload"
        with cur.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for pk, step, payload in zip(ids, steps, payloads, strict=True):
                copy.write_row((pk, step.ticket.pk, step.code, at, None, False, "",
                                json.dumps(payload)))
    return ids


@action
def record_rule_applied(*, ticket: Ticket, rule: str, moment: str, did: list[str],
                        at: datetime | None = None) -> TicketEvent:
    """An escalation rule acted on the ticket: which, why and what it did (internal)."""
    return record(ticket, EventCode.AUTO_ESCALATED, actor=None, at=at or now(), is_public=False,
                  rule=rule, moment=moment, did=did)


@action
def record_not_routed(*, ticket: Ticket, reason: str, at: datetime | None = None) -> TicketEvent:
    """Routing found nobody; the reason is shown to agents on the ticket."""
    return record(ticket, EventCode.NOT_ROUTED, actor=None, at=at or now(), is_public=False,
                  body=reason, reason=reason)


@action
def record_automation_failed(*, ticket: Ticket, what: str, error: str,
                             at: datetime | None = None, **payload: Any) -> TicketEvent:
    """A rule or step failed at run time: logged against the ticket, the sweep goes on."""
    return record(ticket, EventCode.AUTOMATION_FAILED, actor=None, at=at or now(),
                  is_public=False, body=f"{what}: {error}", what=what, error=error[:1000],
                  **payload)


@action
def record_commitment_owed(*, ticket: Ticket, overdue: bool, body: str, told: list[str],
                           due_at: datetime, at: datetime | None = None) -> TicketEvent:
    """Seed 000: the engineer given the ticket at tier 2 or 3 has not committed a new
    time-frame. Internal: a reminder is a note by Tierdesk; a missed one, an escalation
    (`auto_escalated`, the built-in commitment rule) naming who was told."""
    code = EventCode.AUTO_ESCALATED if overdue else EventCode.INTERNAL_NOTE
    return record(ticket, code, actor=None, at=at or now(), is_public=False, body=body,
                  rule="commitment", moment="commitment_overdue" if overdue
                  else "commitment_reminder", did=told, due_at=due_at.isoformat())
