"""The subscribers' batch paths give what their one-ticket paths give (tickets.hooks)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import T0

from tierdesk.automation import schedule
from tierdesk.automation.models import Alarm
from tierdesk.tickets import actions, hooks
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

    from tierdesk.accounts.models import Agent, User
    from tierdesk.tickets.models import Category

    people = routed
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
