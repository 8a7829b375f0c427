"""Escalation by people: the committed time-frame (seed 000) and the customer's escalation (001)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import T0, snapshot

from tests.automation.conftest import sweep
from tierdesk.notifications.models import Notification
from tierdesk.tickets import actions
from tierdesk.tickets.access import timeline_for
from tierdesk.tickets.errors import ActionError, Forbidden

pytestmark = pytest.mark.django_db


def hours(n):
    return T0 + timedelta(hours=n)


# --------------------------------------------------------------------------- time-frames


def test_the_tier_2_engineer_commits_a_time_frame_the_customer_sees(open_ticket, people):
    t = open_ticket()
    actions.change_tier(actor=people.tess.user, ticket=t, tier=2, reason="Needs a specialist",
                        at=hours(1))
    actions.assign(actor=people.tom.user, ticket=t, agent=people.tom, at=hours(1))
    event = actions.commit_timeframe(actor=people.tom.user, ticket=t, due_at=hours(30),
                                     note="We will have the VPN fixed by tomorrow.", at=hours(2))
    assert event.code == "timeframe_committed" and event.is_public
    assert event.payload["due_at"] == hours(30).isoformat()
    seen = [e.code for e in timeline_for(people.alice.user, t)]
    assert "timeframe_committed" in seen


@pytest.mark.parametrize("who,due,message", [
    ("tess", 30, "tier 2"),          # a tier-1 agent on a tier-2 ticket
    ("tom", -1, "future"),            # in the past
])
def test_commitments_are_checked(open_ticket, people, who, due, message):
    t = open_ticket()
    actions.change_tier(actor=people.tess.user, ticket=t, tier=2, reason="x", at=hours(1))
    before = snapshot()
    with pytest.raises(ActionError, match=message):
        actions.commit_timeframe(actor=getattr(people, who).user, ticket=t, due_at=hours(due),
                                 note="", at=hours(2))
    assert snapshot() == before


def test_customers_cannot_commit(open_ticket, people):
    with pytest.raises(Forbidden):
        actions.commit_timeframe(actor=people.alice.user, ticket=open_ticket(),
                                 due_at=hours(30), note="", at=hours(2))


def test_a_missed_commitment_is_escalated_in_turn(open_ticket, people):
    t = open_ticket()
    actions.change_tier(actor=people.tess.user, ticket=t, tier=2, reason="x", at=hours(1))
    actions.commit_timeframe(actor=people.tom.user, ticket=t, due_at=hours(30), note="",
                             at=hours(2))
    sweep(hours(29))
    t.refresh_from_db()
    assert t.tier == 2
    sweep(hours(30))
    t.refresh_from_db()
    assert t.tier == 3
    assert t.events.filter(code="timeframe_missed").count() == 1
    assert Notification.objects.filter(recipient=people.lea.user, kind="timeframe_missed").exists()
    sweep(hours(40))
    assert t.events.filter(code="timeframe_missed").count() == 1


def test_a_kept_commitment_is_not_escalated(open_ticket, people):
    t = open_ticket()
    actions.commit_timeframe(actor=people.tom.user, ticket=t, due_at=hours(30), note="",
                             at=hours(2))
    actions.resolve(actor=people.tom.user, ticket=t, code="fixed", note="Fixed", at=hours(20))
    sweep(hours(31))
    assert not t.events.filter(code="timeframe_missed").exists()


# --------------------------------------------------------------------------- customer escalation


def test_the_customer_escalates_from_the_portal(open_ticket, people, django_capture_on_commit_callbacks):
    t = open_ticket()
    with django_capture_on_commit_callbacks(execute=True):
        event = actions.escalate_by_customer(actor=people.alice.user, ticket=t,
                                             reason="No answer for a day", at=hours(3))
    assert event.code == "escalated" and event.payload["kind"] == "customer"
    assert event.payload["channel"] == "portal" and event.payload["review"] == "priority"
    assert event.is_public and event.body == "No answer for a day"
    assert event in list(timeline_for(people.alice.user, t))
    (note,) = Notification.objects.filter(kind="customer_escalated")
    assert note.recipient == people.lea.user and t.reference in note.title
    assert "review the ticket's priority" in note.body
    from django.core import mail

    assert [m.to for m in mail.outbox] == [["lea@helpful.test"]]


def test_by_phone_an_agent_escalates_on_the_requesters_behalf(open_ticket, people):
    t = open_ticket()
    event = actions.escalate_by_customer(actor=people.tess.user, ticket=t, reason="Called in",
                                         channel="phone", at=hours(3))
    assert event.actor == people.tess.user and event.payload["by"] == "agent"
    assert event.payload["on_behalf_of"] == "Alice Admin"
    assert event.payload["requester"] == people.alice.pk


def test_by_email_the_system_may_escalate(open_ticket, people):
    event = actions.escalate_by_customer(actor=None, ticket=open_ticket(), reason="Please",
                                         channel="email", at=hours(3))
    assert event.payload["channel"] == "email" and event.payload["by"] == "system"


def test_once_per_period(open_ticket, people, settings):
    settings.CUSTOMER_ESCALATION_COOLDOWN_HOURS = 24
    t = open_ticket()
    actions.escalate_by_customer(actor=people.alice.user, ticket=t, reason="1", at=hours(3))
    before = snapshot()
    with pytest.raises(ActionError, match="escalate it again after") as refused:
        actions.escalate_by_customer(actor=people.alice.user, ticket=t, reason="2", at=hours(20))
    assert refused.value.code == "escalation_too_soon"
    assert snapshot() == before
    actions.escalate_by_customer(actor=people.alice.user, ticket=t, reason="3", at=hours(28))


@pytest.mark.parametrize("who,channel,error", [
    ("charlie", "portal", Forbidden),   # another organisation's contact
    ("tess", "portal", ActionError),    # agents use the phone channel
    ("alice", "phone", Forbidden),      # a phone escalation is typed by an agent
    ("alice", "fax", ActionError),
])
def test_who_may_escalate(open_ticket, people, who, channel, error):
    t = open_ticket()
    before = snapshot()
    with pytest.raises(error):
        actions.escalate_by_customer(actor=getattr(people, who).user, ticket=t, reason="x",
                                     channel=channel, at=hours(3))
    assert snapshot() == before


def test_a_reason_is_required_and_resolved_tickets_are_reopened_instead(open_ticket, people):
    t = open_ticket()
    with pytest.raises(ActionError, match="why"):
        actions.escalate_by_customer(actor=people.alice.user, ticket=t, reason="  ", at=hours(3))
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="ok", at=hours(4))
    with pytest.raises(ActionError, match="reopen"):
        actions.escalate_by_customer(actor=people.alice.user, ticket=t, reason="x", at=hours(5))


def test_the_customer_escalation_rule_of_a_policy_file(open_ticket, people):
    """Kidzonet's rule: a customer escalation notifies the support lead — once, with the
    action's own notice to the lead."""
    from tierdesk.automation.models import EscalationRule

    EscalationRule.objects.create(name="Customer escalation", when={"customer_escalated": True},
                                  then={"notify": ["support_lead", "support_manager"]})
    t = open_ticket()
    actions.escalate_by_customer(actor=people.alice.user, ticket=t, reason="x", at=hours(3))
    assert Notification.objects.filter(recipient=people.lea.user).count() == 1
    assert Notification.objects.filter(recipient=people.max.user).count() == 1
    assert t.events.filter(code="auto_escalated", payload__rule="Customer escalation").exists()


# --------------------------------------------------------------------------- by email


def _mail(sender: str, subject: str, body: str, n: int = 1) -> bytes:
    return (f"From: {sender}\r\nTo: support@helpful.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <esc{n}@acme.test>\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


@pytest.mark.parametrize("subject", ["ESCALATE {ref}", "Re: [{ref}] VPN - escalation please",
                                     "Escalar caso {ref}"])
def test_by_email_the_customer_escalates_with_the_case_number_in_the_subject(
        open_ticket, people, subject):
    from tierdesk.mail import inbound

    t = open_ticket()
    row = inbound.ingest(_mail("alice@acme.test", subject.format(ref=t.reference),
                               "Nobody has called us back."), source="test", now=hours(3))
    assert row.ticket_id == t.pk and row.details["escalation"] == "escalated"
    event = t.events.get(code="escalated")
    assert event.payload["kind"] == "customer" and event.payload["channel"] == "email"
    assert event.actor == people.alice.user and event.is_public
    assert event.body == "Nobody has called us back."
    assert Notification.objects.filter(recipient=people.lea.user, kind="customer_escalated",
                                       ticket=t).exists()
    # A second request within the period is refused; staff see why on the ticket.
    row = inbound.ingest(_mail("alice@acme.test", f"ESCALATE {t.reference}", "Again!", n=2),
                         source="test", now=hours(4))
    assert "escalated on" in row.details["escalation"]
    assert t.events.filter(code="escalated").count() == 1
    note = t.events.filter(code="internal_note").latest("pk")
    assert "asked by email to escalate" in note.body and not note.is_public


@pytest.mark.parametrize("sender, subject", [
    ("alice@acme.test", "Re: [{ref}] VPN drops every hour"),  # no escalation asked
    ("tess@helpful.test", "ESCALATE {ref}"),                   # an agent's mail is a reply
    ("charlie@globex.test", "ESCALATE {ref}"),                   # another organisation's contact
])
def test_other_mail_does_not_escalate(open_ticket, people, sender, subject):
    from tierdesk.mail import inbound

    t = open_ticket()
    inbound.ingest(_mail(sender, subject.format(ref=t.reference), "Hello"), source="test",
                   now=hours(3))
    assert not t.events.filter(code="escalated").exists()


def test_escalation_words_in_a_subject():
    from tierdesk.tickets.actions.escalation import asks_to_escalate

    assert asks_to_escalate("Please ESCALATE TD-100001")
    assert asks_to_escalate("escalar: TD-100001")
    assert not asks_to_escalate("[TD-100001] The customer escalated this case")
    assert not asks_to_escalate("[TD-100001] Escalado a usted")
    assert not asks_to_escalate("de-escalate-plan TD-1")
