"""The subscribers' batch paths give what their one-ticket paths give (tickets.hooks)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import T0

from tierdesk.automation import schedule
from tierdesk.automation.models import Alarm
from tierdesk.tickets import actions, hooks
from tierdesk.tickets.actions import batch as batch_actions
from tierdesk.tickets.models import EventCode, TicketEvent

pytestmark = pytest.mark.django_db


def hours(n: float):
    return T0 + timedelta(hours=n)


@pytest.fixture
def routed(people):
    """The shipped rules (new tickets routed), and Tia, a second tier-1 agent."""
    from tierdesk.accounts.models import Agent, User
    from tierdesk.automation.install import install_rules
    from tierdesk.automation.schedule import _compiled
    from tierdesk.sla.policyfile import load_preset

    class _Report:
        created: list[str] = []
        changed: list[str] = []

    install_rules(load_preset("default"), _Report())
    _compiled.clear()
    people.tia = Agent.objects.create(user=User.objects.create_user(
        "tia@helpful.test", "x", full_name="Tia Tier1"), tier=1)
    people.tia.teams.add(people.team)
    return people


def test_sync_many_stores_the_alarms_sync_stores(open_ticket, routed):
    people = routed
    plain = open_ticket("plain")
    committed = open_ticket("committed")
    actions.change_tier(actor=people.tess.user, ticket=committed, tier=2, reason="x", at=hours(1))
    actions.commit_timeframe(actor=people.tom.user, ticket=committed, due_at=hours(3), note="n",
                             at=hours(2))
    resolved = open_ticket("resolved")
    actions.resolve(actor=people.tess.user, ticket=resolved, code="fixed", note="Done",
                    at=hours(1))
    tickets = [plain, committed, resolved]
    for t in tickets:
        t.refresh_from_db()
    expected = {t.pk: schedule.next_alarm(t) for t in tickets}
    assert expected[committed.pk] is not None and expected[resolved.pk] is None
    Alarm.objects.all().delete()
    schedule.sync_many(tickets)
    stored = dict(Alarm.objects.values_list("ticket_id", "at"))
    assert {pk: stored.get(pk) for pk in expected} == expected
    assert resolved.pk not in stored  # no alarm and no row: nothing written, as `sync`


def test_a_batch_routes_each_ticket_by_the_work_the_batch_gave_out(open_ticket, routed,
                                                                   settings, monkeypatch):
    """Four new tickets heard in one batch go two to Tess and two to Tia (least work,
    then round-robin), as four separate actions would."""
    people = routed
    settings.TICKET_HOOKS_INLINE = False
    monkeypatch.setattr(hooks, "_kick", lambda: None)
    tickets = [open_ticket(f"t{i}") for i in range(4)]
    assert hooks.run_batch() == 4
    assignees = []
    for t in tickets:
        t.refresh_from_db()
        assignees.append(t.assignee_id)
    assert sorted(assignees) == sorted([people.tess.pk, people.tia.pk] * 2)
    assert TicketEvent.objects.filter(code=EventCode.AUTO_ESCALATED).count() == 4
    assert set(Alarm.objects.values_list("ticket_id", flat=True)) == {t.pk for t in tickets}


def _routing_outcome(tickets):
    """Per ticket, in order: who got it (or why nobody), and what people were told of it."""
    from tierdesk.notifications.models import Notification, OutboxMessage

    out = []
    for t in tickets:
        t.refresh_from_db()
        events = [(e.code, e.payload.get("agent"), e.payload.get("reason"))
                  for e in t.events.filter(code__in=[EventCode.ASSIGNED, EventCode.NOT_ROUTED])]
        notes = sorted(Notification.objects.filter(ticket=t).values_list(
            "recipient_id", "kind", "title", "body", "digested_at"))
        mails = sorted((m.to[0], m.subject, m.text, m.html)
                       for m in OutboxMessage.objects.filter(ticket=t))
        out.append((t.subject, t.assignee_id, t.status, events, notes, mails))
    return out


def test_a_batch_routes_and_tells_exactly_as_one_action_at_a_time(open_ticket, routed, settings,
                                                                  monkeypatch):
    """A batch of new tickets (skilled and not, open work already given out) gets the same
    engineers, in the same order, the same reasons and the same notices as the tickets
    heard one by one: the batch's in-memory counts answer as the queries would."""
    from django.db import transaction

    people = routed
    tech, net, billing, hardware, tim = _skilled_desk(people)
    monkeypatch.setattr(hooks, "_kick", lambda: None)
    settings.TICKET_HOOKS_INLINE = True
    open_ticket("already Tess's", category=tech, at=hours(0))  # Tess has open work
    plan = [("n1 <b>Tom & Jerry's</b> \"VPN\"", net), ("n2  two spaces", net),
            ("b1", billing), ("t1", tech), ("x1", None),
            ("h1", hardware), ("n3", net), ("t2", tech), ("x2", None), ("n4", net),
            ("b2", billing), ("x3", None)]

    def make():
        return [open_ticket(s, category=c, at=hours(1 + i / 10)) for i, (s, c) in
                enumerate(plan)]

    point = transaction.savepoint()
    one_by_one = _routing_outcome(make())
    transaction.savepoint_rollback(point)
    settings.TICKET_HOOKS_INLINE = False
    tickets = make()
    assert hooks.run_batch(limit=len(plan)) == len(plan)
    batched = _routing_outcome(tickets)
    assert batched == one_by_one
    assignees = [a for _s, a, *_rest in batched]
    assert {people.tess.pk, people.tia.pk, tim.pk} <= set(assignees)  # all three answers
    assert None in assignees  # and nobody, for hardware: not routed, the lead told


def test_a_rule_rolled_back_in_a_batch_leaves_no_assignment_count_nor_notice(
        open_ticket, routed, settings, monkeypatch):
    """A rule that routes a ticket and then fails is rolled back (its savepoint): in a
    batch, the notice it gathered is dropped and routing's counts forget the assignment,
    so the next ticket is routed as if it never happened."""
    from tierdesk.automation import react
    from tierdesk.notifications.models import Notification

    people = routed
    settings.TICKET_HOOKS_INLINE = False
    monkeypatch.setattr(hooks, "_kick", lambda: None)
    real = react.record_rule_applied

    def failing(*, ticket, **kwargs):
        if ticket.subject == "boom":
            raise RuntimeError("the rule's record failed")
        return real(ticket=ticket, **kwargs)

    monkeypatch.setattr(react, "record_rule_applied", failing)
    # The same failure where the batch plans the new tickets' rules in memory (`_Planned`):
    # that ticket is then heard on its own, where the rule fails as above.
    event_for = batch_actions.event_for

    def failing_plan(ticket, code, **kwargs):
        if ticket.subject == "boom" and code == EventCode.AUTO_ESCALATED:
            raise RuntimeError("the rule's record failed")
        return event_for(ticket, code, **kwargs)

    monkeypatch.setattr(batch_actions, "event_for", failing_plan)
    first, boom, third = (open_ticket(s, at=hours(i)) for i, s in
                          enumerate(["first", "boom", "third"]))
    assert hooks.run_batch() == 3
    for t in (first, boom, third):
        t.refresh_from_db()
    assert boom.assignee_id is None and boom.status == "new"
    assert boom.events.filter(code=EventCode.AUTOMATION_FAILED).count() == 1
    assert not Notification.objects.filter(ticket=boom).exists()
    # Tess first (no work, lowest id); Tia next: Boom's rolled-back assignment not counted.
    assert (first.assignee_id, third.assignee_id) == (people.tess.pk, people.tia.pk)
    assert Notification.objects.filter(ticket__in=[first, third], kind="assigned").count() == 2


def _everything(tickets):
    """Per ticket: its columns, its whole timeline, its SLA rows, its alarm, in-app notices
    and mails; and routing's state (what a batch writes in place of the actions)."""
    from tierdesk.automation.models import RoutingState
    from tierdesk.notifications.models import Notification, OutboxMessage
    from tierdesk.sla.models import TicketSLA

    out = []
    for t in tickets:
        t.refresh_from_db()
        events = list(t.events.order_by("pk").values_list(
            "code", "at", "actor_id", "is_public", "body", "payload"))
        sla = sorted(TicketSLA.objects.filter(ticket=t).values_list(
            *[f.attname for f in TicketSLA._meta.concrete_fields if f.attname not in ("id", "ticket_id")]))
        notes = sorted(Notification.objects.filter(ticket=t).values_list(
            "recipient_id", "kind", "title", "body", "digested_at"))
        mails = sorted((m.to[0], m.subject, m.text) for m in OutboxMessage.objects.filter(ticket=t))
        alarm = list(Alarm.objects.filter(ticket=t).values_list("at", flat=True))
        out.append((t.subject, t.assignee_id, t.team_id, t.status, t.updated_at, t.next_due_at,
                    events, sla, notes, mails, alarm))
    routing = sorted(RoutingState.objects.values_list("agent_id", "last_assigned_at"))
    return out, routing


@pytest.fixture
def more_rules(routed):
    """Beside the shipped rules: a new ticket's lead told while it is still new (after
    routing: only those nobody took), and a rule for critical ones that keeps tier 1."""
    from tierdesk.automation.models import EscalationRule
    from tierdesk.automation.schedule import _compiled

    EscalationRule.objects.create(name="Still new: tell the lead", position=50,
                                  when={"new": True, "status": "new"},
                                  then={"notify": ["team_lead"]})
    EscalationRule.objects.create(name="Critical stays at tier 1", position=60,
                                  when={"new": True, "priority": "critical"},
                                  then={"tier": 1, "notify": ["team_lead"]})
    _compiled.clear()
    return routed


def _skilled_desk(people):
    """Tess knows technical matters, Tia the network, a new tier-1 Tim billing; nobody
    knows hardware. (technical, network, billing, hardware, Tim)"""
    from tierdesk.accounts.models import Agent, User
    from tierdesk.tickets.models import Category

    tech = Category.objects.get(code="technical")
    net = Category.objects.get(code="technical-network")
    billing = Category.objects.get(code="billing")
    people.tess.skills.add(tech)
    people.tia.skills.add(net)
    tim = Agent.objects.create(user=User.objects.create_user(
        "tim@helpful.test", "x", full_name="Tim Tier1"), tier=1)
    tim.teams.add(people.team)
    tim.skills.add(billing)
    hardware = Category.objects.create(code="hardware", name="Hardware")  # nobody's skill
    return tech, net, billing, hardware, tim


def _plan(people):
    from tierdesk.tickets.models import Priority

    tech, net, _billing, hardware, _tim = _skilled_desk(people)
    critical = Priority.objects.get(code="critical")
    return [("n1", {"category": net}), ("h1", {"category": hardware}),
            ("c1", {"priority": critical}), ("t1", {"category": tech}), ("x1", {}),
            ("n2", {"category": net}), ("h2", {"category": hardware, "priority": critical}),
            ("x2", {}), ("t2", {"category": tech})]


def _one_by_one_then_batched(open_ticket, plan, settings, limit):
    from django.db import transaction

    def make():
        return [open_ticket(s, at=hours(1 + i / 10), **kw) for i, (s, kw) in enumerate(plan)]

    settings.TICKET_HOOKS_INLINE = True
    point = transaction.savepoint()
    one_by_one = _everything(make())
    transaction.savepoint_rollback(point)
    settings.TICKET_HOOKS_INLINE = False
    tickets = make()
    assert hooks.run_batch(limit=limit) == len(plan)
    return one_by_one, _everything(tickets)


def test_a_planned_batch_writes_what_the_actions_write_one_at_a_time(
        open_ticket, more_rules, settings, monkeypatch):
    """New tickets whose rules only route, notify or keep the tier are planned in memory
    and written together: every column, event (code, instant, payload, order), SLA row,
    alarm, notice, mail and routing's state equal to the tickets heard one at a time."""
    from tierdesk.automation import react

    monkeypatch.setattr(hooks, "_kick", lambda: None)
    planned = []
    real_take = react._Planned.take

    def take(self, happened):
        taken = real_take(self, happened)
        planned.append(taken)
        return taken

    monkeypatch.setattr(react._Planned, "take", take)
    plan = _plan(more_rules)
    one_by_one, batched = _one_by_one_then_batched(open_ticket, plan, settings, len(plan))
    assert batched == one_by_one
    assert planned == [True] * len(plan)  # the batch path, not one by one
    outcomes, _routing = batched
    assert None in [o[1] for o in outcomes] and len({o[1] for o in outcomes}) == 4
    still_new = [o for o in outcomes if o[3] == "new"]
    assert still_new and all(any(e[0] == EventCode.AUTO_ESCALATED and e[5]["rule"] ==
                                 "Still new: tell the lead" for e in o[6]) for o in still_new)


def test_a_full_batch_of_the_default_size_writes_what_one_at_a_time_writes(
        open_ticket, more_rules, settings, monkeypatch):
    """The worker's batch as it claims it (`hooks.BATCH` tickets: multi-row statements and
    `IN` lists of that size): everything equal to the tickets heard one at a time."""
    monkeypatch.setattr(hooks, "_kick", lambda: None)
    base = _plan(more_rules)
    plan = [(f"{subject}-{i}", kw) for i in range(-(-hooks.BATCH // len(base)))
            for subject, kw in base][:hooks.BATCH]
    assert len(plan) == hooks.BATCH >= 100
    one_by_one, batched = _one_by_one_then_batched(open_ticket, plan, settings,
                                                   hooks.BATCH)
    assert batched == one_by_one


def test_the_worker_claims_batch_tickets_at_once(open_ticket, routed, settings, monkeypatch):
    """`run_batch` without a limit (the worker's task) claims `hooks.BATCH` rows, no more."""
    from tierdesk.tickets.models import HookWork

    monkeypatch.setattr(hooks, "_kick", lambda: None)
    settings.TICKET_HOOKS_INLINE = False
    for i in range(hooks.BATCH + 1):
        open_ticket(f"t{i}", at=hours(1 + i / 1000))
    assert hooks.run_batch() == hooks.BATCH
    assert HookWork.objects.count() == 1
    assert hooks.run_batch() == 1


def test_a_batch_that_cannot_write_its_plan_hears_the_tickets_one_by_one(
        open_ticket, more_rules, settings, monkeypatch):
    """Writing the planned tickets fails: their savepoint is rolled back, routing's counts
    forgotten, and each is heard on its own, with the same result as one at a time."""
    from tierdesk.tickets.models import Ticket

    monkeypatch.setattr(hooks, "_kick", lambda: None)
    real = batch_actions.write_planned
    failed = []

    def write_planned(*, events, touched):
        real(events=events, touched=touched)  # written, then rolled back
        if not failed:
            failed.append(len(events))
            raise RuntimeError("the disk is full")

    monkeypatch.setattr(batch_actions, "write_planned", write_planned)
    plan = _plan(more_rules)
    one_by_one, batched = _one_by_one_then_batched(open_ticket, plan, settings, len(plan))
    assert failed and failed[0] > len(plan)
    assert batched == one_by_one
    # Nothing of the rolled-back write is left beside what one by one wrote.
    assert Ticket.objects.filter(events__code=EventCode.ASSIGNED).count() == sum(
        1 for o in batched[0] if o[1] is not None)


def test_a_ticket_whose_plan_fails_is_heard_on_its_own_as_one_at_a_time(
        open_ticket, more_rules, settings, monkeypatch):
    """Planning a ticket's rules fails after routing planned it (its counts already taken):
    the plan is dropped, routing's counts forgotten, and the ticket heard on its own gets
    the engineer, events and notices it gets one at a time; the others stay planned."""
    monkeypatch.setattr(hooks, "_kick", lambda: None)
    event_for = batch_actions.event_for
    failed = []

    def failing_plan(ticket, code, **kwargs):
        if ticket.subject == "t1" and code == EventCode.AUTO_ESCALATED and not failed:
            failed.append(ticket.pk)
            raise RuntimeError("a passing failure")
        return event_for(ticket, code, **kwargs)

    monkeypatch.setattr(batch_actions, "event_for", failing_plan)
    plan = _plan(more_rules)
    one_by_one, batched = _one_by_one_then_batched(open_ticket, plan, settings, len(plan))
    assert len(failed) == 1
    assert batched == one_by_one


def test_write_planned_touches_many_tickets_as_touch_does_one_by_one(open_ticket, people):
    """`write_planned` (events in one INSERT, `touch_many`) leaves the tickets, their
    timelines and SLA rows as `record` and `touch` one ticket at a time do, also when the
    deadline moves (waiting on the customer pauses the clock) or a row must go."""
    from django.db import transaction

    from tierdesk.sla.models import TicketSLA
    from tierdesk.tickets.actions.base import record, touch
    from tierdesk.tickets.models import Ticket

    def state(tickets):
        out = []
        for t in Ticket.objects.filter(pk__in=[t.pk for t in tickets]).order_by("pk"):
            out.append((t.status, t.updated_at, t.next_due_at,
                        list(t.events.order_by("pk").values_list(
                            "code", "at", "is_public", "body", "payload")),
                        sorted(TicketSLA.objects.filter(ticket=t).values_list(
                            *[f.attname for f in TicketSLA._meta.concrete_fields
                              if f.attname != "id"]))))
        return out

    tickets = [open_ticket(f"s{i}", at=hours(i)) for i in range(3)]
    stray = TicketSLA.objects.filter(ticket=tickets[2]).first()
    TicketSLA.objects.create(**{f.attname: getattr(stray, f.attname) for f in
                                TicketSLA._meta.concrete_fields if f.attname != "id"} |
                             {"target": "stray"})
    moves = [(tickets[0], "waiting_customer", hours(3)), (tickets[1], "open", hours(4)),
             (tickets[2], "waiting_third_party", hours(5))]
    point = transaction.savepoint()
    for ticket, status, at in moves:
        record(ticket, EventCode.STATUS_CHANGED, actor=None, at=at, change=(ticket.status, status))
        ticket.status = status
        touch(ticket, at, fields=["status"])
    one_by_one = state(tickets)
    transaction.savepoint_rollback(point)
    tickets = [Ticket.objects.get(pk=t.pk) for t in tickets]
    events, touched = [], []
    for ticket, (_t, status, at) in zip(tickets, moves, strict=True):
        events.append(batch_actions.event_for(ticket, EventCode.STATUS_CHANGED, actor=None,
                                                  at=at, change=(ticket.status, status)))
        ticket.status = status
        touched.append((ticket, at, ["status"]))
    batch_actions.write_planned(events=events, touched=touched)
    assert state(tickets) == one_by_one
    assert one_by_one[0][2] is None  # paused: its deadline moved (to none)
    assert not TicketSLA.objects.filter(target="stray").exists()
