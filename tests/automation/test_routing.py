"""Routing to the best engineer (seed 003): skills, tier, least work, working hours, round-robin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import CAL_OFFICE, T0

from tierdesk.automation.routing import best_engineer
from tierdesk.notifications.models import Notification
from tierdesk.sla.models import BusinessCalendar
from tierdesk.tickets import actions
from tierdesk.tickets.models import Category

pytestmark = pytest.mark.django_db


@pytest.fixture
def crew(rules):
    """Tess and a second tier-1 agent, Tia; network skills for both."""
    from tierdesk.accounts.models import Agent, User

    tia = Agent.objects.create(user=User.objects.create_user("tia@helpful.test", "x",
                                                             full_name="Tia Tier1"), tier=1)
    tia.teams.add(rules.team)
    tech = Category.objects.get(code="technical")
    for agent in (rules.tess, tia):
        agent.skills.add(tech)
    rules.tia = tia
    return rules


def net():
    return Category.objects.get(code="technical-network")


def test_new_tickets_go_to_a_skilled_tier_1_engineer_with_the_reason(open_ticket, crew):
    t = open_ticket(category=net())
    t.refresh_from_db()
    assert t.assignee in (crew.tess, crew.tia) and t.status == "open"
    assigned = t.events.get(code="assigned")
    assert "tier 1" in assigned.payload["reason"] and "Network" in assigned.payload["reason"]
    (note,) = Notification.objects.filter(recipient=t.assignee.user, ticket=t)
    assert note.kind == "assigned" and not note.is_read


def test_least_open_work_then_round_robin(open_ticket, crew):
    first = open_ticket("a", category=net())
    second = open_ticket("b", category=net())
    assert {first.assignee, second.assignee} == {crew.tess, crew.tia}
    # Both have one open ticket: ties go to whoever was served longest ago.
    third = open_ticket("c", category=net())
    assert third.assignee == first.assignee
    actions.resolve(actor=crew.lea.user, ticket=first, code="fixed", note="ok",
                    at=T0 + timedelta(minutes=5))
    actions.resolve(actor=crew.lea.user, ticket=third, code="fixed", note="ok",
                    at=T0 + timedelta(minutes=5))
    fourth = open_ticket("d", category=net(), at=T0 + timedelta(minutes=6))
    assert fourth.assignee == first.assignee  # now the one with the least open work


def test_nobody_skilled_leaves_it_unassigned_with_the_reason(open_ticket, crew):
    t = open_ticket(category=Category.objects.get(code="billing"))
    t.refresh_from_db()
    assert t.assignee is None and t.status == "new"
    reason = t.events.get(code="not_routed").payload["reason"]
    assert "skill" in reason and "Billing" in reason
    # The team lead is told, with the reason, in-app and by mail.
    note = Notification.objects.get(recipient=crew.lea.user, kind="not_routed", ticket=t)
    assert reason in note.body and "No engineer could be assigned" in note.title


def test_outside_working_hours_nobody_fits(open_ticket, crew):
    office = BusinessCalendar.objects.create(code="office-2", name="Office", spec=CAL_OFFICE)
    for agent in (crew.tess, crew.tia):
        agent.calendar = office
        agent.save()
    sunday = T0 - timedelta(days=1)
    t = open_ticket(category=net(), at=sunday)
    t.refresh_from_db()
    assert t.assignee is None
    assert "working hours" in t.events.get(code="not_routed").payload["reason"]
    monday_10 = T0 + timedelta(hours=1)  # 10:00 in Madrid
    assert best_engineer(t, at=monday_10).agent in (crew.tess, crew.tia)


def test_an_escalated_ticket_goes_to_the_next_tier(open_ticket, crew):
    t = open_ticket(category=net())
    crew.tom.skills.add(Category.objects.get(code="technical"))
    actions.change_tier(actor=t.assignee.user, ticket=t, tier=2, reason="Specialist needed",
                        at=T0 + timedelta(minutes=30))
    t.refresh_from_db()
    assert t.assignee == crew.tom
    # Seed 000: the tier-2 engineer is asked to commit a new time-frame.
    note = Notification.objects.get(recipient=crew.tom.user, kind="assigned", ticket=t)
    assert "commit a new resolution time-frame" in note.body


def test_agents_and_leads_override(open_ticket, crew):
    t = open_ticket(category=net())
    other = crew.tia if t.assignee == crew.tess else crew.tess
    actions.assign(actor=crew.lea.user, ticket=t, agent=other, reason="I know this customer")
    t.refresh_from_db()
    assert t.assignee == other


def test_without_rules_nothing_is_routed(open_ticket, people):
    t = open_ticket()
    assert t.assignee is None and not t.events.filter(code="not_routed").exists()
