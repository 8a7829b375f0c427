"""Seed 000: the tier-2 technician gives the customer a new time-frame — owed within N
business hours of being given the ticket, reminded, escalated to the team lead when missed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import T0

from tests.automation.conftest import sweep
from tierdesk.automation import schedule
from tierdesk.automation.models import CommitmentPolicy, Firing, Watcher
from tierdesk.notifications.models import Notification, OutboxMessage
from tierdesk.tickets import actions
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def hours(n):
    return T0 + timedelta(hours=n)


def given_to_tom(open_ticket, people, at=1):
    """Escalated to tier 2 and given to Tom (tier 2) at `at` hours (the 24x7 plan: business
    hours are all hours, so the default 4 business hours end at at + 4)."""
    t = open_ticket()
    actions.change_tier(actor=people.tess.user, ticket=t, tier=2, reason="Needs a specialist",
                        at=hours(at))
    actions.assign(actor=people.lea.user, ticket=t, agent=people.tom, at=hours(at))
    t.refresh_from_db()
    return t


def told(user, kind):
    return list(Notification.objects.filter(recipient=user, kind=kind)
                .values_list("ticket_id", flat=True))


# --------------------------------------------------------------------------- unit


def test_who_owes_a_time_frame_and_since_when():
    t = Ticket(tier=2, assignee_id=7, status="open")
    a, b = hours(1), hours(2)
    assigned = (10, "assigned", a, {"agent": 7})
    assert schedule.owed_since(t, [assigned]) == (10, a)
    # A commitment clears it; a later reassignment or escalation owes a new one.
    committed = (11, "timeframe_committed", b, {})
    assert schedule.owed_since(t, [assigned, committed]) is None
    assert schedule.owed_since(t, [assigned, committed, (12, "assigned", b, {"agent": 8})]) \
        == (12, b)
    assert schedule.owed_since(t, [assigned, committed,
                                   (12, "escalated", b, {"kind": "tier"})]) == (12, b)
    # A customer's escalation, or taking a ticket off someone, starts nothing.
    assert schedule.owed_since(t, [assigned, committed,
                                   (12, "escalated", b, {"kind": "customer"}),
                                   (13, "assigned", b, {"agent": None})]) is None
    # Tier 1, nobody assigned, or resolved: nothing owed.
    for other in (Ticket(tier=1, assignee_id=7, status="open"),
                  Ticket(tier=2, assignee_id=None, status="open"),
                  Ticket(tier=2, assignee_id=7, status="resolved")):
        assert schedule.owed_since(other, [assigned]) is None


def test_the_instants_are_business_time_on_the_plans_calendar(desk):
    from datetime import UTC, datetime

    from tierdesk.sla import adapter
    from tierdesk.sla.models import Plan

    # Office hours 09:00-18:00 in Madrid (UTC+1 in March), Monday to Friday.
    calendar = adapter.compile_policy(Plan.objects.get(code="standard")).policy.calendar
    policy = CommitmentPolicy(due_within_minutes=240, remind_share=0.75)
    monday_4pm = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    remind, due = schedule.owed_instants(policy, calendar, monday_4pm)
    assert due == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)  # 2 h on Monday, 2 on Tuesday
    assert remind == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- the sweep


def test_reminded_then_escalated_to_the_lead_each_once(open_ticket, people):
    t = given_to_tom(open_ticket, people)
    sweep(hours(3.9))
    assert not Firing.objects.filter(ticket=t, target="commitment").exists()
    report = sweep(hours(4))  # 3 of the 4 business hours
    assert report.steps.get("reminder") == 1
    assert told(people.tom.user, "commitment_reminder") == [t.pk]
    mail = [m for m in OutboxMessage.objects.filter(ticket=t)
            if m.headers.get("X-Tierdesk-Kind") == "commitment_reminder"]
    assert len(mail) == 1 and mail[0].to == [people.tom.user.email]
    note = t.events.get(code="internal_note", payload__rule="commitment")
    assert not note.is_public and "Tom Tier2" in note.body
    sweep(hours(4.5))
    assert told(people.tom.user, "commitment_reminder") == [t.pk]
    report = sweep(hours(5))
    assert report.steps.get("overdue") == 1
    assert told(people.lea.user, "commitment_overdue") == [t.pk]
    assert Watcher.objects.filter(ticket=t, user=people.lea.user).exists()
    escalated = t.events.get(code="auto_escalated", payload__moment="commitment_overdue")
    assert not escalated.is_public and "Lea Lead" in escalated.body
    for later in (6, 30, 200):
        sweep(hours(later))
    assert Firing.objects.filter(ticket=t, target="commitment").count() == 2
    assert told(people.lea.user, "commitment_overdue") == [t.pk]
    assert told(people.tom.user, "commitment_reminder") == [t.pk]
    # The customer sees none of it.
    from tierdesk.tickets.access import timeline_for

    seen = {e.code for e in timeline_for(people.alice.user, t)}
    assert "auto_escalated" not in seen and "internal_note" not in seen


def test_a_commitment_made_in_time_clears_it(open_ticket, people):
    t = given_to_tom(open_ticket, people)
    actions.commit_timeframe(actor=people.tom.user, ticket=t, due_at=hours(30), note="Tomorrow",
                             at=hours(2))
    for at in (4, 5, 10):
        sweep(hours(at))
    assert not Firing.objects.filter(ticket=t, target="commitment").exists()
    assert not Notification.objects.filter(kind__startswith="commitment_").exists()


def test_a_commitment_after_the_reminder_stops_the_escalation(open_ticket, people):
    t = given_to_tom(open_ticket, people)
    sweep(hours(4))
    actions.commit_timeframe(actor=people.tom.user, ticket=t, due_at=hours(30), note="Tomorrow",
                             at=hours(4.5))
    sweep(hours(5))
    assert not told(people.lea.user, "commitment_overdue")


def test_resolved_or_reassigned_clears_it_and_a_reassignment_owes_anew(open_ticket, people):
    resolved = given_to_tom(open_ticket, people)
    actions.resolve(actor=people.tom.user, ticket=resolved, code="fixed", note="Done",
                    at=hours(2))
    moved = given_to_tom(open_ticket, people)
    sweep(hours(4))  # Tom reminded about `moved`
    actions.assign(actor=people.lea.user, ticket=moved, agent=people.lea, at=hours(4.5))
    sweep(hours(5))  # Tom's time-frame would have been due: it no longer is
    assert not Notification.objects.filter(kind="commitment_overdue").exists()
    assert not Firing.objects.filter(ticket=resolved).filter(target="commitment").exists()
    sweep(hours(7.5))  # Lea, given it at 4.5, is reminded at 7.5
    assert told(people.lea.user, "commitment_reminder") == [moved.pk]
    sweep(hours(8.5))
    # Lea is the team lead: her missed time-frame goes above her, to the support manager.
    assert told(people.max.user, "commitment_overdue") == [moved.pk]
    assert not told(people.lea.user, "commitment_overdue")


def test_the_policy_is_configurable_and_can_be_switched_off(open_ticket, people):
    CommitmentPolicy.objects.create(due_within_minutes=60, remind_share=0.5,
                                    escalate_to=["support_manager"])
    t = given_to_tom(open_ticket, people)
    sweep(hours(1.5))
    assert told(people.tom.user, "commitment_reminder") == [t.pk]
    sweep(hours(2))
    assert told(people.max.user, "commitment_overdue") == [t.pk]
    assert not told(people.lea.user, "commitment_overdue")
    CommitmentPolicy.objects.update(is_active=False)
    other = given_to_tom(open_ticket, people, at=3)
    sweep(hours(10))
    assert not Firing.objects.filter(ticket=other, target="commitment").exists()


def test_the_manager_page_lists_the_time_frames_owed(open_ticket, people):
    from django.test import Client
    from django.urls import reverse

    from tierdesk.console.queues import commitments_owed

    reminded = given_to_tom(open_ticket, people)
    overdue = given_to_tom(open_ticket, people, at=0.5)
    sweep(hours(4.5))
    owed = {o.ticket.pk: o for o in commitments_owed()}
    assert set(owed) == {reminded.pk, overdue.pk}
    assert owed[overdue.pk].overdue and not owed[reminded.pk].overdue
    assert owed[reminded.pk].due_at == hours(5)
    client = Client()
    client.force_login(people.lea.user)
    html = client.get(reverse("console:manager")).content.decode()
    section = html.split("Time-frames owed")[1]
    assert reminded.reference in section and overdue.reference in section
    actions.commit_timeframe(actor=people.tom.user, ticket=reminded, due_at=hours(30),
                             note="Tomorrow", at=hours(4.6))
    assert [o.ticket.pk for o in commitments_owed()] == [overdue.pk]


# --------------------------------------------------------------------------- configuration


def test_the_policy_file_sets_it_and_bad_values_are_refused(people):
    from tierdesk.automation.install import install_rules
    from tierdesk.sla.policyfile import PolicyFileError, load_policy_file, load_preset

    class _Report:
        created: list[str] = []
        changed: list[str] = []

    pf = load_preset("default")
    assert pf.commitment is None
    install_rules(pf, _Report())
    assert not CommitmentPolicy.objects.exists()  # the defaults stand
    from pathlib import Path

    from tierdesk.sla import policyfile

    raw = (Path(policyfile.__file__).with_name("presets") / "default.toml").read_text()
    good = load_policy_file(raw + '\n[commitment]\ndue_within = "2h"\nremind_at = 0.5\n'
                                  'escalate_to = ["support_manager"]\n')
    assert good.commitment is not None and good.commitment.due_within == 120
    install_rules(good, _Report())
    policy = CommitmentPolicy.current()
    assert (policy.due_within_minutes, policy.remind_share, policy.roles()) == (
        120, 0.5, ["support_manager"])
    with pytest.raises(PolicyFileError) as bad:
        load_policy_file(raw + '\n[commitment]\ndue_within = "2d"\nremind_at = 2\n')
    message = str(bad.value)
    assert "commitment.due_within" in message and "commitment.remind_at" in message
    unknown = load_policy_file(raw + '\n[commitment]\nescalate_to = ["nobody_role"]\n')
    with pytest.raises(PolicyFileError, match="nobody_role"):
        install_rules(unknown, _Report())
    assert CommitmentPolicy.current().due_within_minutes == 120  # unchanged


def test_the_admin_refuses_a_policy_that_cannot_act(people):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as bad:
        CommitmentPolicy(due_within_minutes=0, remind_share=1.5,
                         escalate_to=["nobody_role"]).full_clean()
    assert set(bad.value.message_dict) == {"due_within_minutes", "remind_share", "escalate_to"}


def test_the_notices_are_written_in_the_engineers_language(open_ticket, people):
    people.tom.user.language = "es"
    people.tom.user.save()
    people.lea.user.language = "es"
    people.lea.user.save()
    t = given_to_tom(open_ticket, people)
    sweep(hours(4))
    sweep(hours(5))
    reminder = Notification.objects.get(recipient=people.tom.user, kind="commitment_reminder")
    assert reminder.title == f"[{t.reference}] Comprometa un plazo de resolución"
    assert "comprometa con el cliente un nuevo plazo" in reminder.body
    overdue = Notification.objects.get(recipient=people.lea.user, kind="commitment_overdue")
    assert "Ningún plazo de resolución comprometido" in overdue.title
    assert "Tom Tier2" in overdue.body and "Ahora usted sigue el ticket" in overdue.body
