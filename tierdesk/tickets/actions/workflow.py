"""Moving a ticket along: status, priority, category, assignment, tier, resolution."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from tierdesk.accounts.models import Agent, Provider, Team, User
from tierdesk.tickets.actions.base import action, now, record, require_agent, require_view, touch
from tierdesk.tickets.errors import ActionError
from tierdesk.tickets.lifecycle import DONE, ResolutionCode, Status, can_move
from tierdesk.tickets.models import Category, EventCode, Priority, Ticket
from tierdesk.tickets.permissions import is_agent


def move(ticket: Ticket, status: str, *, actor: User | None, at: datetime,
         code: str = EventCode.STATUS_CHANGED, body: str = "", **payload) -> list[str]:
    """Change the status through the one transition table, record it, return dirty fields."""
    old = ticket.status
    if not can_move(old, status):
        raise ActionError(
            _("A ticket cannot go from “%(old)s” to “%(new)s”.") % {
                "old": Status(old).label, "new": Status(status).label},
            field="status", code="illegal_transition")
    ticket.status = status
    fields = ["status"]
    if status == Status.RESOLVED:
        ticket.resolved_at = at
        fields.append("resolved_at")
    elif status == Status.CLOSED:
        ticket.closed_at = at
        fields.append("closed_at")
    elif old in DONE:
        ticket.resolved_at = None
        ticket.closed_at = None
        ticket.reopen_count += 1
        fields += ["resolved_at", "closed_at", "reopen_count"]
    record(ticket, code, actor=actor, at=at, is_public=True, body=body,
           change=(old, status), **payload)
    return fields


def check_reopen_window(ticket: Ticket, at: datetime) -> None:
    """Customers may reopen for a while after resolution (seed 004); not for ever."""
    window = Provider.current().reopen_window_days
    done_at = ticket.resolved_at or ticket.closed_at
    if window is not None and done_at is not None and at - done_at > timedelta(days=window):
        raise ActionError(
            _("This ticket was resolved more than %(days)s days ago and can no longer be "
              "reopened. Please open a new ticket and mention %(ref)s.") % {
                "days": window, "ref": ticket.reference},
            field="status", code="reopen_window_passed")


@action
def change_status(*, actor: User | None, ticket: Ticket, status: str,
                  at: datetime | None = None) -> None:
    """Agents move a ticket between working statuses; resolving and reopening have their own
    actions because they need more than a status."""
    require_agent(actor)
    if status not in Status.values:
        raise ActionError(_("Unknown status “%(s)s”.") % {"s": status}, field="status")
    if status == Status.RESOLVED:
        raise ActionError(_("Resolve the ticket with a resolution note and code."),
                          field="status")
    if ticket.status in DONE and status == Status.OPEN:
        reopen(actor=actor, ticket=ticket, reason="", at=at)
        return
    if status == Status.CLOSED:
        close(actor=actor, ticket=ticket, at=at)
        return
    at = at or now()
    if status == ticket.status:
        return
    touch(ticket, at, fields=move(ticket, status, actor=actor, at=at))


@action
def resolve(*, actor: User | None, ticket: Ticket, code: str, note: str,
            at: datetime | None = None) -> None:
    require_agent(actor)
    if code not in ResolutionCode.values:
        raise ActionError(_("Choose a resolution code."), field="code")
    note = note.strip()
    if not note:
        raise ActionError(_("Say how the ticket was resolved: the customer reads this note."),
                          field="note")
    at = at or now()
    # The note is the public message of the resolved event; the ticket caches it too.
    fields = move(ticket, Status.RESOLVED, actor=actor, at=at, code=EventCode.RESOLVED,
                  body=note, resolution_code=code)
    ticket.resolution_code = code
    ticket.resolution_note = note
    touch(ticket, at, fields=[*fields, "resolution_code", "resolution_note"])


@action
def reopen(*, actor: User | None, ticket: Ticket, reason: str,
           at: datetime | None = None) -> None:
    """Reopen a resolved or closed ticket: agents at any time, customers inside the window."""
    require_view(actor, ticket)
    at = at or now()
    if ticket.status not in DONE:
        raise ActionError(_("The ticket is not resolved or closed."), field="status")
    if actor is not None and not is_agent(actor):
        check_reopen_window(ticket, at)
        if not reason.strip():
            raise ActionError(_("Tell us why the problem is not solved."), field="reason")
    fields = move(ticket, Status.OPEN, actor=actor, at=at, code=EventCode.REOPENED,
                  reason=reason.strip())
    ticket.resolution_code = ""
    touch(ticket, at, fields=[*fields, "resolution_code"])


@action
def close(*, actor: User | None, ticket: Ticket, at: datetime | None = None) -> None:
    require_agent(actor)
    at = at or now()
    touch(ticket, at, fields=move(ticket, Status.CLOSED, actor=actor, at=at,
                                  code=EventCode.CLOSED))


@action
def change_priority(*, actor: User | None, ticket: Ticket, priority: Priority,
                    reason: str = "", at: datetime | None = None) -> None:
    require_agent(actor)
    if not priority.is_active:
        raise ActionError(_("That priority is no longer in use."), field="priority")
    if priority.pk == ticket.priority_id:
        return
    at = at or now()
    record(ticket, EventCode.PRIORITY_CHANGED, actor=actor, at=at,
           change=(ticket.priority.code, priority.code), reason=reason)
    ticket.priority = priority
    touch(ticket, at, fields=["priority"])


@action
def change_category(*, actor: User | None, ticket: Ticket, category: Category | None,
                    at: datetime | None = None) -> None:
    require_agent(actor)
    if category is not None and not category.is_active:
        raise ActionError(_("That category is no longer in use."), field="category")
    if (category.pk if category else None) == ticket.category_id:
        return
    at = at or now()
    record(ticket, EventCode.CATEGORY_CHANGED, actor=actor, at=at, is_public=False,
           change=(ticket.category.code if ticket.category else None,
                   category.code if category else None))
    ticket.category = category
    touch(ticket, at, fields=["category"])


def check_assignable(agent: Agent, ticket: Ticket) -> None:
    """Refuse an agent who cannot take the ticket: inactive, or below its tier."""
    if not agent.user.is_active:
        raise ActionError(_("%(a)s is not active.") % {"a": agent}, field="assignee")
    if agent.tier < ticket.tier:
        raise ActionError(_("%(a)s works at tier %(t)s; this ticket is at tier %(n)s.") % {
            "a": agent, "t": agent.tier, "n": ticket.tier}, field="assignee")


@action
def assign(*, actor: User | None, ticket: Ticket, agent: Agent | None = None,
           team: Team | None = None, reason: str = "", at: datetime | None = None) -> None:
    """Give the ticket to an agent and/or a team (None clears it)."""
    require_agent(actor)
    if agent is not None:
        check_assignable(agent, ticket)
    if (agent.pk if agent else None) == ticket.assignee_id and \
            (team.pk if team else None) == ticket.team_id:
        return
    at = at or now()
    record(ticket, EventCode.ASSIGNED, actor=actor, at=at, is_public=False,
           agent=agent.pk if agent else None, agent_name=str(agent) if agent else None,
           team=team.pk if team else None, team_name=team.name if team else None,
           reason=reason)
    ticket.assignee = agent
    ticket.team = team
    fields = ["assignee", "team"]
    if ticket.status == Status.NEW and agent is not None:
        fields += move(ticket, Status.OPEN, actor=actor, at=at)
    touch(ticket, at, fields=fields)


@action
def change_tier(*, actor: User | None, ticket: Ticket, tier: int, reason: str,
                at: datetime | None = None) -> None:
    """Escalate (or hand back) between tiers 1-3; a reason is always required."""
    require_agent(actor)
    if tier not in (1, 2, 3):
        raise ActionError(_("Tiers are 1, 2 and 3."), field="tier")
    if tier == ticket.tier:
        raise ActionError(_("The ticket is already at tier %(t)s.") % {"t": tier}, field="tier")
    if not reason.strip():
        raise ActionError(_("Give the reason for the change of tier."), field="reason")
    if not ticket.is_active:
        raise ActionError(_("The ticket is resolved; reopen it first."), field="status")
    at = at or now()
    code = EventCode.ESCALATED if tier > ticket.tier else EventCode.TIER_CHANGED
    record(ticket, code, actor=actor, at=at, is_public=False,
           change=(ticket.tier, tier), reason=reason.strip(), kind="tier")
    ticket.tier = tier
    fields = ["tier"]
    if tier > 1 and code == EventCode.ESCALATED:
        ticket.escalation_count += 1
        fields.append("escalation_count")
    if ticket.assignee is not None and ticket.assignee.tier < tier:
        ticket.assignee = None
        fields.append("assignee")
    touch(ticket, at, fields=fields)


@action
def merge(*, actor: User | None, source: Ticket, target: Ticket,
          at: datetime | None = None) -> None:
    """Merge a duplicate into the ticket that carries on: resolve and close the source."""
    require_agent(actor)
    if source.pk == target.pk:
        raise ActionError(_("A ticket cannot be merged into itself."), field="target")
    if source.organisation_id != target.organisation_id:
        raise ActionError(_("Only tickets of the same organisation can be merged."),
                          field="target")
    if not target.is_active:
        raise ActionError(_("%(ref)s is resolved; reopen it before merging into it.") % {
            "ref": target.reference}, field="target")
    if source.status == Status.CLOSED:
        raise ActionError(_("%(ref)s is already closed.") % {"ref": source.reference},
                          field="source")
    at = at or now()
    record(source, EventCode.MERGED, actor=actor, at=at, into=target.number,
           into_reference=target.reference)
    record(target, EventCode.MERGED, actor=actor, at=at, is_public=False, source=source.number,
           source_reference=source.reference)
    if source.status != Status.RESOLVED:
        resolve(actor=actor, ticket=source, code=ResolutionCode.DUPLICATE,
                note=_("Merged into %(ref)s, where the work goes on.") % {
                    "ref": target.reference}, at=at)
    close(actor=actor, ticket=source, at=at)
    source.merged_into = target
    source.save(update_fields=["merged_into"])
    target.cc.add(source.requester, *source.cc.all())
    touch(target, at, fields=[])
