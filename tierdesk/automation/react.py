"""What the automation does when something happens to a ticket.

`on_happened` is a `tickets.hooks` subscriber: it hears the events of every
action, inside that action's transaction, and

1. takes the built-in steps: warnings and breaches are told to the people on
   the ticket; a missed committed time-frame is escalated one tier;
2. applies the rules whose moment this is (new, escalated, customer_escalated,
   reopened, a target's warning or breach, timeframe_missed) and whose filters
   match — each in a savepoint, so a rule that fails is logged against the
   ticket (`automation_failed`) and the others still run;
3. reacts in turn to what those rules did (a tier raised is an escalation),
   a few rounds at most;
4. reschedules the ticket's alarm.

It never lets an exception escape into the action that called it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Team, User
from tierdesk.automation import routing, schedule
from tierdesk.automation.bulk import among
from tierdesk.automation.models import Watcher
from tierdesk.automation.rules import CompiledRule, matches
from tierdesk.lib import clock
from tierdesk.notifications import notifier, recipients
from tierdesk.notifications.notifier import Notice, notify, notify_later, notify_many
from tierdesk.sla.models import TARGET_LABELS
from tierdesk.tickets import actions
from tierdesk.tickets.actions import base as action_base
from tierdesk.tickets.actions import batch as batch_actions
from tierdesk.tickets.actions.escalation import (
    SWEEP_CODES,
    record_automation_failed,
    record_rule_applied,
)
from tierdesk.tickets.hooks import Happened
from tierdesk.tickets.models import EventCode, Priority, Ticket, TicketEvent

log = logging.getLogger(__name__)
MAX_ROUNDS = 3
_REACTIVE = (EventCode.CREATED, EventCode.ESCALATED, EventCode.REOPENED, EventCode.SLA_WARNING,
             EventCode.SLA_BREACHED, EventCode.TIMEFRAME_MISSED)


def moment_of(event: TicketEvent) -> str | None:
    payload = event.payload or {}
    if event.code == EventCode.CREATED:
        return "new"
    if event.code == EventCode.ESCALATED:
        return "customer_escalated" if payload.get("kind") == "customer" else "escalated"
    if event.code == EventCode.REOPENED:
        return "reopened"
    if event.code == EventCode.SLA_WARNING:
        return f"warning:{payload.get('target')}"
    if event.code == EventCode.SLA_BREACHED:
        return f"breached:{payload.get('target')}"
    if event.code == EventCode.TIMEFRAME_MISSED:
        return "timeframe_missed"
    return None


def on_happened(happened: Happened) -> None:
    _on_happened(happened, active=_rules_once())


def on_many(happenings: list[Happened]) -> None:
    """Many tickets at once (a batch of the hooks' deferred work, the sweep's steps): the
    rules read once, the routing pool and counts once; each ticket then as `on_happened`,
    and what they tell people told together at the end (`notifier.gathering`)."""
    active = _rules_once()
    heard = []
    with routing.batch(), notifier.gathering():
        planned = _Planned(active)
        for happened in happenings:
            if planned.take(happened):
                heard.append(happened.ticket)
                continue
            # Written before any other ticket's work, so everything stays in order.
            planned.write()
            if _on_happened(happened, active=active, sync=False):
                heard.append(happened.ticket)
        planned.write()
    try:
        with transaction.atomic():
            schedule.sync_many(heard, active=active)
    except Exception:
        log.exception("could not reschedule %s tickets at once; one by one", len(heard))
        for ticket in heard:
            _sync(ticket, active=active, at=clock.now())


# What the rules of a new ticket may do for it to be planned in memory with the batch's
# other new tickets (`_Planned`); any other action, or a change of tier, goes one by one.
_PLANNABLE = frozenset({"route", "tier", "raise_tier", "notify"})


class _Planned:
    """A batch's new tickets, routed in memory one after another and written together.

    A new ticket whose rules only route, notify, or set the tier it already has, is
    planned as `react` would act on it (the same rules matched in the same order, the same
    choice from the same counts, the same events, notices and records of the rules), and
    written with the other planned tickets before any ticket that is not (`write`): one
    INSERT of events, each ticket's SLA rows and columns, one RoutingState upsert, in
    place of four savepoints and eight statements a ticket. Should the writing fail, the
    planned tickets are rolled back (their savepoint) and heard one by one as before, each
    rule in its own savepoint."""

    def __init__(self, active: Callable[[], list[CompiledRule]]):
        self.active = active
        self.plan = routing.Plan()
        self.taken: list[Happened] = []

    def take(self, happened: Happened) -> bool:
        """Plan the ticket's new-ticket rules; False (nothing planned) when they are not
        plannable or planning them fails (the caller hears it one by one)."""
        ticket = happened.ticket
        events = [e for e in happened.events if e.code in _REACTIVE]
        if len(events) != 1 or events[0].code != EventCode.CREATED:
            return False
        rules = [r for r in self.active() if not r.is_timed and r.moment == "new"]
        for rule in rules:
            for name, value in rule.actions:
                if name not in _PLANNABLE:
                    return False
                tier = min(ticket.tier + 1, 3) if name == "raise_tier" else value
                if name in ("raise_tier", "tier") and int(tier) != ticket.tier:
                    return False
        at = max(e.at for e in happened.events)
        key = f"ev{events[0].pk}"
        plan = routing.Plan()
        state = (ticket.assignee_id, ticket.team_id, ticket.status)
        try:
            for rule in rules:
                if matches(rule, ticket):
                    did = self._apply(rule, ticket, at=at, key=key, plan=plan)
                    plan.events.append(batch_actions.event_for(
                        ticket, EventCode.AUTO_ESCALATED, actor=None, at=at, is_public=False,
                        rule=rule.name, moment="new", did=did))
        except Exception:
            log.info("ticket %s: its rules are heard one by one", ticket.pk, exc_info=True)
            if (ticket.assignee_id, ticket.team_id, ticket.status) != state:
                ticket.refresh_from_db()
            routing.forget()  # the counts may hold this ticket's planned assignment
            return False
        self.plan.events += plan.events
        self.plan.touched += plan.touched
        self.plan.notices += plan.notices
        for pk, served in plan.served.items():
            self.plan.served.pop(pk, None)
            self.plan.served[pk] = served
        self.taken.append(happened)
        return True

    @staticmethod
    def _apply(rule: CompiledRule, ticket: Ticket, *, at: datetime, key: str,
               plan: routing.Plan) -> list[str]:
        """`apply` of a plannable rule, into `plan`."""
        did: list[str] = []
        for name, value in rule.actions:
            if name == "notify":
                notice, done = _rule_notice(rule, value, ticket, key=key, at=at)
                plan.notices.append((None, notice))
                did.append(done)
            elif name == "route" and ticket.assignee_id is None and ticket.is_active:
                routed = routing.plan_route(ticket, at=at, plan=plan)
                did.append(f"routed to {routed}" if routed else "not routed")
        return did

    def write(self) -> None:
        """Write the planned tickets; if that fails, hear them one by one instead."""
        if not self.taken:
            return
        plan, taken = self.plan, self.taken
        self.plan, self.taken = routing.Plan(), []
        mark = notifier.gathered_mark()
        try:
            with transaction.atomic():
                plan.write()
        except Exception:
            log.exception("could not write %s planned tickets at once; one by one", len(taken))
            _rolled_back(mark)
            for happened in taken:
                happened.ticket.refresh_from_db()
                _on_happened(happened, active=self.active, sync=False)


def _rules_once() -> Callable[[], list[CompiledRule]]:
    loaded: dict[str, list[CompiledRule]] = {}

    def active() -> list[CompiledRule]:  # one read of the rules for react and sync together
        if "rules" not in loaded:
            loaded["rules"] = schedule.active_rules()
        return loaded["rules"]

    return active


def _on_happened(happened: Happened, *, active: Callable[[], list[CompiledRule]],
                 sync: bool = True) -> bool:
    """React to one ticket's events; reschedule it too with `sync` (else the caller does).
    False when there was nothing to do (and nothing to reschedule)."""
    # The sweep's own steps are followed up and rescheduled by the sweep, in bulk.
    if happened.codes() <= set(SWEEP_CODES):
        return False
    # A failure logged is not something to react to (and must not fail again, in a loop).
    if happened.codes() <= {EventCode.AUTOMATION_FAILED}:
        return False
    ticket = happened.ticket
    at = max(e.at for e in happened.events)
    events = [e for e in happened.events if e.code in _REACTIVE and e.code not in SWEEP_CODES]

    if events:
        mark = notifier.gathered_mark()
        try:
            with transaction.atomic():
                react(ticket, events, at=at, active=active)
        except Exception as exc:  # never break the action that called us
            log.exception("automation failed on ticket %s", ticket.pk)
            _rolled_back(mark)
            _failed(ticket, "automation", exc, at)
    if sync:
        _sync(ticket, active=active, at=at)
    return True


def _sync(ticket: Ticket, *, active: Callable[[], list[CompiledRule]], at: datetime) -> None:
    try:
        with transaction.atomic():
            schedule.sync(ticket, active=active)
    except Exception as exc:
        log.exception("could not reschedule ticket %s", ticket.pk)
        _failed(ticket, "schedule", exc, at)


def react(ticket: Ticket, events: list[TicketEvent], *, at: datetime, rounds: bool = True,
          active: Callable[[], list[CompiledRule]] = schedule.active_rules) -> None:
    """Built-in steps and the rules of each event's moment. With `rounds`, also react to
    what that did (inside an action, where nested actions are not dispatched to hooks)."""
    rules = None
    for _round in range(MAX_ROUNDS if rounds else 1):
        last_pk = max(e.pk for e in events)
        for event in events:
            moment = moment_of(event)
            if moment is None:
                continue
            builtin(ticket, event, moment, at=at)
            if rules is None:
                rules = [r for r in active() if not r.is_timed]
            for rule in rules:
                if rule.moment == moment and matches(rule, ticket):
                    run_rule(rule, ticket, at=at, key=f"ev{event.pk}", moment=moment)
        if not rounds:
            return
        # What the rules did may itself be a moment (a tier raised is an escalation).
        events = _appended_since(ticket, last_pk)
        if not events:
            return


def _appended_since(ticket: Ticket, last_pk: int) -> list[TicketEvent]:
    """The reactive events the rules' actions appended to the ticket after `last_pk`. Read
    from the timeline only when the running action's (or batch's) own list of appended
    events has one (it may also hold events a failed savepoint rolled back): most rounds
    end without a query."""
    appended = action_base.appended()
    if appended is not None and not any(
            e.ticket_id == ticket.pk and e.pk > last_pk and e.code in _REACTIVE
            for e in appended):
        return []
    return list(ticket.events.filter(pk__gt=last_pk, code__in=_REACTIVE).order_by("pk"))


def run_rule(rule: CompiledRule, ticket: Ticket, *, at: datetime, key: str, moment: str) -> bool:
    """Apply one rule in a savepoint; on failure, log it against the ticket and go on."""
    mark = notifier.gathered_mark()
    try:
        with transaction.atomic():
            did = apply(rule, ticket, at=at, key=key)
            record_rule_applied(ticket=ticket, rule=rule.name, moment=moment, did=did, at=at)
        return True
    except Exception as exc:
        log.warning("rule %r failed on ticket %s: %s", rule.name, ticket.pk, exc)
        _rolled_back(mark)
        ticket.refresh_from_db()
        _failed(ticket, f"rule “{rule.name}”", exc, at, rule=rule.pk)
        return False


def _rolled_back(mark: int) -> None:
    """A savepoint rolled back: the notices it gathered and routing's counts go with it."""
    notifier.forget_since(mark)
    routing.forget()


def _failed(ticket: Ticket, what: str, exc: Exception, at: datetime, **payload) -> None:
    try:
        with transaction.atomic():
            record_automation_failed(ticket=ticket, what=what, error=str(exc) or repr(exc), at=at,
                                     **payload)
    except Exception:
        log.exception("could not even record the failure on ticket %s", ticket.pk)


def _rule_notice(rule: CompiledRule, value: Iterable[str], ticket: Ticket, *, key: str,
                 at: datetime) -> tuple[Notice, str]:
    """A rule's `notify`: the notice to the people it names, and what to record it did."""
    people = recipients.resolve(value, ticket)
    return (Notice(key=key, kind="rule", recipients=tuple(people), ticket=ticket, at=at,
                   context={"rule": rule.name}),
            "notified " + ", ".join(str(p) for p in people))


def _reason(rule: CompiledRule) -> str:
    return _("Rule “%(name)s”") % {"name": rule.name}


def apply(rule: CompiledRule, ticket: Ticket, *, at: datetime, key: str) -> list[str]:
    """Do what the rule says, in order. Returns what was done, for the timeline."""
    did: list[str] = []
    for name, value in rule.actions:
        if name in ("raise_tier", "tier"):
            tier = min(ticket.tier + 1, 3) if name == "raise_tier" else int(value)
            if tier != ticket.tier and ticket.is_active:
                routing.forget()  # a tier raised may unassign it: routing recounts
                actions.change_tier(actor=None, ticket=ticket, tier=tier, reason=_reason(rule),
                                    at=at)
                did.append(f"tier {tier}")
        elif name in ("escalate_to", "assign_role"):
            agents = recipients.agents_in_role(value, ticket)
            if not agents:
                raise ValueError(f"nobody holds the role {value!r}")
            agent = agents[0]
            if ticket.assignee_id != agent.pk:
                routing.forget()  # not routing's assignment: routing recounts
                actions.assign(actor=None, ticket=ticket, agent=agent, team=ticket.team,
                               reason=_reason(rule), at=at)
                notify_later(Notice(key=key, kind="escalated", recipients=(agent.user,),
                                    ticket=ticket, at=at, context={"rule": rule.name}))
            did.append(f"assigned to {agent}")
        elif name == "assign_team":
            team = Team.objects.get(name=value)
            keep = ticket.assignee if ticket.assignee and ticket.assignee.teams.filter(
                pk=team.pk).exists() else None
            routing.forget()
            actions.assign(actor=None, ticket=ticket, agent=keep, team=team,
                           reason=_reason(rule), at=at)
            did.append(f"team {team.name}")
        elif name == "notify":
            notice, done = _rule_notice(rule, value, ticket, key=key, at=at)
            notify_later(notice)
            did.append(done)
        elif name in ("raise_priority", "priority"):
            if name == "raise_priority":
                new = (Priority.objects.filter(is_active=True, rank__lt=ticket.priority.rank)
                       .order_by("-rank").first())
            else:
                new = Priority.objects.get(code=value)
            if new is not None and new.rank < ticket.priority.rank:
                actions.change_priority(actor=None, ticket=ticket, priority=new,
                                        reason=_reason(rule), at=at)
                did.append(f"priority {new.code}")
        elif name == "add_watcher":
            for user in recipients.resolve(value, ticket):
                Watcher.objects.get_or_create(ticket=ticket, user=user, defaults={"added_at": at})
                did.append(f"watcher {user}")
        elif name == "route" and ticket.assignee_id is None and ticket.is_active:
            routed = routing.route(ticket, at=at)
            did.append(f"routed to {routed}" if routed else "not routed")
    return did


# --------------------------------------------------------------------------- built-in steps


def people_on(ticket: Ticket) -> list[User]:
    """The assignee and watchers; the team lead when nobody is assigned."""
    return people_on_many([ticket])[ticket.pk]


def people_on_many(tickets: list[Ticket]) -> dict[int, list[User]]:
    """`people_on` of many tickets (the sweep's follow-up of a wave): watchers in one
    query, each team's lead once."""
    out: dict[int, list[User]] = {t.pk: [] for t in tickets}
    if not out:
        return out
    for watcher in Watcher.objects.select_related("user").filter(
            among("ticket_id", list(out))).order_by("pk"):
        out[watcher.ticket_id].append(watcher.user)
    leads: dict[int | None, list[User]] = {}
    for ticket in tickets:
        if ticket.assignee_id:
            out[ticket.pk].insert(0, ticket.assignee.user)  # type: ignore[union-attr]
        else:
            if ticket.team_id not in leads:
                leads[ticket.team_id] = recipients.resolve(["team_lead"], ticket)
            out[ticket.pk] += leads[ticket.team_id]
    return out


def sla_step_notice(ticket: Ticket, event: TicketEvent, people: list[User]) -> Notice:
    """What the people on a ticket are told of an SLA warning or breach step."""
    payload = event.payload or {}
    target = payload.get("target", "")
    due = payload.get("due_at")
    return Notice(
        key=f"ev{event.pk}",
        kind="sla_warning" if event.code == EventCode.SLA_WARNING else "sla_breached",
        recipients=tuple(people), ticket=ticket,
        context={"target_label": TARGET_LABELS.get(target, target),
                 "due_at": datetime.fromisoformat(due) if due else None,
                 "share": round(100 * _share())})


def builtin(ticket: Ticket, event: TicketEvent, moment: str, *, at: datetime) -> None:
    if event.code in (EventCode.SLA_WARNING, EventCode.SLA_BREACHED) and ticket.is_active:
        notify_many([sla_step_notice(ticket, event, people_on(ticket))], at=at)
    elif event.code == EventCode.TIMEFRAME_MISSED and ticket.is_active:
        _escalate_missed_commitment(ticket, event, at=at)


def _share() -> float:
    from tierdesk.sla.adapter import warning_share

    return warning_share()


def _escalate_missed_commitment(ticket: Ticket, event: TicketEvent, *, at: datetime) -> None:
    """Seed 000: the tier-2 technician's time-frame passed; it goes up in turn."""
    payload = event.payload or {}
    new_tier = None
    if ticket.tier < 3:
        new_tier = ticket.tier + 1
        routing.forget()  # a tier raised may unassign it
        actions.change_tier(actor=None, ticket=ticket, tier=new_tier,
                            reason=_("The committed resolution time-frame was missed."), at=at)
        people = recipients.resolve(["team_lead"], ticket)
    else:
        people = recipients.resolve(["team_lead", "support_manager"], ticket)
    due = payload.get("due_at")
    notify(key=f"ev{event.pk}", kind="timeframe_missed", recipients=people, ticket=ticket, at=at,
           context={"due_at": datetime.fromisoformat(due) if due else None,
                    "committed_by": payload.get("committed_by") or "", "new_tier": new_tier})

