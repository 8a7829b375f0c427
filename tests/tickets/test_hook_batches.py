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
