"""Inbound mail end to end (without servers): stored, routed, acted on once, held when in doubt."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import T0

from mail.helpers import FIXTURES, eml
from tierdesk.mail import inbound
from tierdesk.mail.models import InboundMessage
from tierdesk.tickets.models import Attachment, EventCode, Ticket

State, Reason, Outcome = InboundMessage.State, InboundMessage.Reason, InboundMessage.Outcome
AT = T0 + timedelta(hours=1)


@pytest.fixture
def vpn(open_ticket, people):
    """TD-100001, Alice's ticket with Bob in copy: the ticket the reply fixtures answer."""
    ticket = open_ticket(cc=[people.bob])
    assert ticket.reference == "TD-100001"
    return ticket


def new_raw(n: int, *, sender="alice@acme.test", subject="Printer jams") -> bytes:
    return (f"From: {sender}\nTo: support@helpful.test\nSubject: {subject} {n}\n"
            f"Message-ID: <gen-{n}-{sender}>\nDate: Mon, 2 Mar 2026 10:00:00 +0000\n\n"
            f"Message number {n}.\n").encode()


def test_every_fixture_is_taken_in_without_a_failure(vpn, ingest):
    for path in sorted(FIXTURES.glob("*.eml")):
        row = ingest(path.name, at=AT)
        assert row.state != State.FAILED, (path.name, row.error)
        assert row.state != State.RECEIVED, path.name
    assert InboundMessage.objects.count() == len(list(FIXTURES.glob("*.eml")))


# fixture -> (state, reason, outcome, ticket: "vpn" | "new" | None)
ROUTES = {
    "gmail_new_en.eml": (State.PROCESSED, "", Outcome.CREATED, "new"),
    "gmail_reply_en.eml": (State.PROCESSED, "", Outcome.REPLIED, "vpn"),
    "gmail_reply_es.eml": (State.PROCESSED, "", Outcome.REPLIED, "vpn"),
    "outlook_reply_es.eml": (State.PROCESSED, "", Outcome.REPLIED, "vpn"),
    "outlook_reply_en_html_only.eml": (State.PROCESSED, "", Outcome.REPLIED, "vpn"),
    "apple_reply_es.eml": (State.PROCESSED, "", Outcome.REPLIED, "vpn"),
    "thunderbird_reply_en.eml": (State.PROCESSED, "", Outcome.REPLIED, "vpn"),
    "bottom_post_reply.eml": (State.PROCESSED, "", Outcome.REPLIED, "vpn"),
    "reply_with_attachment_es.eml": (State.PROCESSED, "", Outcome.REPLIED, "vpn"),
    "agent_reply.eml": (State.PROCESSED, "", Outcome.REPLIED, "vpn"),
    "outsider_reply.eml": (State.PROCESSED, "", Outcome.CREATED, "new"),
    "outlook_auto_reply.eml": (State.IGNORED, Reason.AUTO_REPLY, "", None),
    "outlook_auto_reply_es.eml": (State.IGNORED, Reason.AUTO_REPLY, "", None),
    "outlook_read_receipt.eml": (State.IGNORED, Reason.AUTO_REPLY, "", None),
    "bounce_postfix.eml": (State.IGNORED, Reason.BOUNCE, Outcome.NOTED, "vpn"),
    "bounce_exchange_ndr.eml": (State.IGNORED, Reason.BOUNCE, Outcome.NOTED, "vpn"),
    "bounce_gmail_dsn.eml": (State.IGNORED, Reason.BOUNCE, "", None),
    "own_address_loop.eml": (State.IGNORED, Reason.OWN_ADDRESS, "", None),
    "own_message_id_loop.eml": (State.IGNORED, Reason.OWN_ADDRESS, "", None),
    "monitoring_auto_generated.eml": (State.PROCESSED, "", Outcome.CREATED, "new"),
    "precedence_junk_unknown.eml": (State.HELD, Reason.UNKNOWN_SENDER, "", None),
    "unknown_sender.eml": (State.HELD, Reason.UNKNOWN_SENDER, "", None),
    "domain_new_contact.eml": (State.PROCESSED, "", Outcome.CREATED, "new"),
    "subdomain_contact.eml": (State.PROCESSED, "", Outcome.CREATED, "new"),
    "broken_no_from.eml": (State.HELD, Reason.NO_SENDER, "", None),
    "thunderbird_pgp_encrypted.eml": (State.PROCESSED, "", Outcome.CREATED, "new"),
    "broken_missing_boundary.eml": (State.PROCESSED, "", Outcome.CREATED, "new"),
}


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_route(vpn, ingest, name):
    state, reason, outcome, where = ROUTES[name]
    row = ingest(name, at=AT)
    assert (row.state, row.reason, row.outcome) == (state, reason, outcome), row.error
    if where == "vpn":
        assert row.ticket_id == vpn.pk
    elif where == "new":
        assert row.ticket is not None and row.ticket.pk != vpn.pk
        assert row.ticket.channel == "email"
    else:
        assert row.ticket_id is None


def test_a_reply_shows_only_what_is_new_and_keeps_the_original(vpn, ingest):
    row = ingest("gmail_reply_en.eml", at=AT)
    assert row.event.code == EventCode.PUBLIC_REPLY
    assert row.event.body == "Thanks Tess, the new profile works: no drop since 9:00."
    assert row.event.payload["via"] == "email"
    assert row.event.actor.email == "alice@acme.test"
    assert bytes(row.raw) == eml("gmail_reply_en.eml")
    assert "Please import the attached VPN profile" in inbound.original(row).text


def test_a_new_ticket_keeps_the_whole_text(people, ingest):
    row = ingest("gmail_forward_inline.eml", at=AT)
    ticket = row.ticket
    assert ticket.subject == "Your Microsoft 365 subscription will expire"
    assert "Update your payment details" in ticket.description
    assert ticket.requester == people.bob


def test_a_new_ticket_by_mail_gets_the_middle_of_the_active_scale(people, ingest):
    """Mail never says a priority: the middle of the active ranks (one statement)."""
    from tierdesk.tickets.models import Priority

    assert ingest(new_raw(1), at=AT).ticket.priority.code == "medium"  # of five
    Priority.objects.filter(code="critical").update(is_active=False)
    assert ingest(new_raw(2), at=AT).ticket.priority.code == "low"  # high medium LOW request
    Priority.objects.filter(code="request").update(is_active=False)
    assert ingest(new_raw(3), at=AT).ticket.priority.code == "medium"  # high MEDIUM low
    Priority.objects.update(is_active=False)
    Priority.objects.filter(code="high").update(is_active=True)
    assert ingest(new_raw(4), at=AT).ticket.priority.code == "high"


def test_same_message_twice_acts_once(people, ingest):
    first = ingest("gmail_new_en.eml", at=AT)
    second = ingest("gmail_new_en.eml", at=AT)
    assert second.pk == first.pk
    assert Ticket.objects.count() == 1
    no_id = ingest("broken_no_message_id.eml", at=AT)
    again = ingest(b"Received: by relay.test; Thu, 5 Mar 2026 11:41:00 +0100\n"
                   + eml("broken_no_message_id.eml"), at=AT)
    assert again.pk == no_id.pk
    assert Ticket.objects.count() == 2


def test_a_failure_leaves_nothing_and_the_sweep_finishes_it(people, ingest, monkeypatch):
    from tierdesk.tickets import actions

    real = actions.create_ticket
    calls = []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real(**kwargs)

    monkeypatch.setattr(actions, "create_ticket", flaky)
    row = ingest("gmail_new_en.eml", at=AT)
    assert row.state == State.FAILED and "database went away" in row.error
    assert Ticket.objects.count() == 0 and not Attachment.objects.exists()
    assert inbound.process_pending(now=AT) == 1
    row.refresh_from_db()
    assert row.state == State.PROCESSED and Ticket.objects.count() == 1
    assert inbound.process_pending(now=AT) == 0


def test_a_failing_message_is_retried_a_few_times_then_left_for_an_admin(people, ingest,
                                                                          monkeypatch, settings):
    from tierdesk.tickets import actions

    settings.MAIL_MAX_ATTEMPTS = 3

    def broken(**kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(actions, "create_ticket", broken)
    row = ingest("gmail_new_en.eml", at=AT)
    for _ in range(5):
        inbound.process_pending(now=AT)
    row.refresh_from_db()
    assert row.state == State.FAILED and row.attempts == 3


def test_cc_contacts_of_the_organisation_become_watchers(people, ingest):
    row = ingest("cc_watchers.eml", at=AT)
    assert list(row.ticket.cc.all()) == [people.bob]


def test_a_sender_of_an_organisation_domain_becomes_its_contact(people, ingest):
    from tierdesk.accounts.models import Contact

    row = ingest("domain_new_contact.eml", at=AT)
    contact = Contact.objects.get(user__email="dave.newhire@acme.test")
    assert contact.organisation == people.acme and not contact.held_for_review
    assert contact.user.full_name == "Dave Newhire" and contact.user.language == "en"
    assert row.ticket.requester == contact
    erin = ingest("subdomain_contact.eml", at=AT)
    assert erin.ticket.organisation == people.acme


def test_unknown_sender_held_then_confirmed(people, ingest):
    from tierdesk.accounts.models import Contact

    row = ingest("unknown_sender.eml", at=AT)
    dana = Contact.objects.get(user__email="dana@example.test")
    assert dana.held_for_review and not dana.organisation.is_active
    assert row.state == State.HELD and Ticket.objects.count() == 0
    assert inbound.release_confirmed(now=AT) == 0
    # An agent confirms her and puts her in Acme: her message goes through.
    dana.organisation, dana.held_for_review = people.acme, False
    dana.save()
    assert inbound.release_confirmed(now=AT) == 1
    row.refresh_from_db()
    assert row.state == State.PROCESSED and row.ticket.requester == dana


def test_unknown_sender_refused_politely_once_a_day(desk, people, ingest, outbox):
    from tierdesk.accounts.models import Provider

    Provider.objects.update(unknown_sender=Provider.UnknownSender.REFUSE)
    row = ingest("unknown_sender_es.eml", at=AT)
    assert (row.state, row.reason) == (State.REFUSED, Reason.UNKNOWN_SENDER)
    (answer,) = outbox()
    assert answer.to == ["dario@example.test"]
    assert "no está registrada" in answer.text
    assert answer.headers["In-Reply-To"] == "<unknown-es-0036@example.test>"
    assert answer.headers["Auto-Submitted"] == "auto-replied"
    again = ingest(eml("unknown_sender_es.eml").replace(b"unknown-es-0036", b"unknown-es-0037"),
                   at=AT + timedelta(hours=2))
    assert again.state == State.REFUSED and len(outbox()) == 1
    junk = ingest("precedence_junk_unknown.eml", at=AT)
    assert junk.state == State.REFUSED and len(outbox()) == 1


def test_too_many_new_tickets_from_one_sender_are_held_not_dropped(people, ingest, settings):
    settings.MAIL_NEW_TICKETS_PER_SENDER_HOUR = 3
    rows = [ingest(new_raw(n), at=AT + timedelta(minutes=n)) for n in range(5)]
    assert [r.state for r in rows] == [State.PROCESSED] * 3 + [State.HELD] * 2
    assert rows[4].reason == Reason.RATE_LIMITED
    assert Ticket.objects.count() == 3
    later = ingest(new_raw(9), at=AT + timedelta(minutes=70))
    assert later.state == State.PROCESSED
    released = inbound.process(rows[3].pk, now=AT, release=True)
    assert released.state == State.PROCESSED and Ticket.objects.count() == 5


def test_too_many_messages_from_one_sender_are_held(vpn, people, ingest, settings):
    settings.MAIL_MESSAGES_PER_SENDER_HOUR = 2
    rows = [ingest(new_raw(n, subject="Re: [TD-100001] more"), at=AT + timedelta(minutes=n))
            for n in range(3)]
    assert [r.state for r in rows] == [State.PROCESSED, State.PROCESSED, State.HELD]
    assert rows[2].reason == Reason.RATE_LIMITED


def test_oversized_mail_is_held_answered_and_can_be_released(people, ingest, settings, outbox):
    settings.MAIL_MAX_BYTES = 100_000
    row = ingest("large_attachment.eml", at=AT)
    assert (row.state, row.reason) == (State.HELD, Reason.OVERSIZED)
    assert Ticket.objects.count() == 0
    (answer,) = outbox()
    assert answer.to == ["alice@acme.test"] and "100 MB" not in answer.text
    assert "0 MB" not in answer.subject
    released = inbound.process(row.pk, now=AT, release=True)
    assert released.state == State.PROCESSED
    assert [a.filename for a in released.ticket.attachments.all()] == ["disk.img"]


def test_an_oversized_reply_is_noted_on_its_ticket(vpn, ingest, settings):
    settings.MAIL_MAX_BYTES = 100
    row = ingest("gmail_reply_en.eml", at=AT)
    assert (row.state, row.reason, row.ticket_id) == (State.HELD, Reason.OVERSIZED, vpn.pk)
    note = vpn.events.get(code=EventCode.INTERNAL_NOTE)
    assert "was held because it is larger than" in note.body


def test_refused_attachments_are_withheld_and_noted(people, ingest):
    row = ingest("attachment_exe.eml", at=AT)
    assert row.state == State.PROCESSED
    assert [a.filename for a in row.ticket.attachments.all()] == ["manual.pdf"]
    note = row.ticket.events.get(code=EventCode.INTERNAL_NOTE)
    assert "setup.exe" in note.body and not note.is_public
    assert row.details["withheld"][0]["name"] == "setup.exe"


def test_inline_images_and_files_become_attachments(vpn, ingest):
    image = ingest("gmail_inline_image.eml", at=AT)
    assert [(a.filename, a.content_type) for a in image.ticket.attachments.all()] == [
        ("screenshot.png", "image/png")]
    log = ingest("reply_with_attachment_es.eml", at=AT)
    assert [a.filename for a in vpn.attachments.all()] == ["vpn-client.log"]
    assert log.event.attachments.count() == 1


def test_encrypted_mail_opens_a_ticket_with_the_original_attached(people, ingest):
    row = ingest("thunderbird_pgp_encrypted.eml", at=AT)
    assert "encrypted" in row.ticket.description
    assert [a.filename for a in row.ticket.attachments.all()] == ["encrypted.asc"]


def test_bounces_are_noted_on_the_ticket_and_never_answered(vpn, ingest, outbox):
    before = len(outbox())
    row = ingest("bounce_postfix.eml", at=AT)
    note = vpn.events.get(code=EventCode.INTERNAL_NOTE)
    assert "bob@acme.test" in note.body and "User unknown" in note.body
    assert row.event == note and len(outbox()) == before


def test_a_reply_reopens_a_resolved_ticket(vpn, people, ingest):
    from tierdesk.tickets import actions

    actions.resolve(actor=people.tess.user, ticket=vpn, code="fixed", note="New profile.", at=AT)
    row = ingest("thunderbird_reply_en.eml", at=AT + timedelta(days=1))
    vpn.refresh_from_db()
    assert row.outcome == Outcome.REPLIED and vpn.status == "open" and vpn.reopen_count == 1


def test_a_reply_after_the_reopen_window_opens_a_follow_up(vpn, people, ingest):
    from tierdesk.tickets import actions

    actions.resolve(actor=people.tess.user, ticket=vpn, code="fixed", note="New profile.", at=AT)
    row = ingest("thunderbird_reply_en.eml", at=AT + timedelta(days=30))
    vpn.refresh_from_db()
    assert vpn.status == "resolved"
    assert row.outcome == Outcome.CREATED and row.ticket.pk != vpn.pk
    assert row.details["follow_up_of"] == "TD-100001"
    assert row.ticket.description.startswith("It dropped again at 16:00.")
    assert "TD-100001" in row.ticket.events.get(code=EventCode.INTERNAL_NOTE).body


def test_a_reply_to_a_merged_ticket_joins_the_one_that_carries_on(vpn, people, open_ticket, ingest):
    from tierdesk.tickets import actions

    target = open_ticket("VPN (main ticket)", cc=[people.bob])
    actions.merge(actor=people.tess.user, source=vpn, target=target, at=AT)
    row = ingest("gmail_reply_en.eml", at=AT)
    assert row.ticket_id == target.pk


def test_a_reply_to_the_customers_own_first_mail_finds_the_ticket(people, ingest):
    first = ingest("gmail_new_en.eml", at=AT)
    reply_all = (b"From: Bob Member <bob@acme.test>\nTo: support@helpful.test, alice@acme.test\n"
                 b"Subject: Re: Printer on the 3rd floor jams on every job\n"
                 b"Message-ID: <bob-reply-all@acme.test>\n"
                 b"In-Reply-To: <CAJx8pQ1=gmail-new-en-0001@mail.gmail.com>\n\nMine too.\n")
    people.acme.members_see_all = True
    people.acme.save()
    row = ingest(reply_all, at=AT)
    assert (row.outcome, row.ticket_id, row.details["found_by"]) == (
        Outcome.REPLIED, first.ticket_id, "known_message")


@pytest.mark.parametrize("who,reason", [("held", Reason.HELD_CONTACT),
                                        ("inactive_org", Reason.INACTIVE_SENDER),
                                        ("agent", Reason.AGENT_WITHOUT_TICKET)])
def test_senders_that_may_not_open_tickets_are_held(people, ingest, who, reason):
    sender = "bob@acme.test"
    if who == "held":
        people.bob.held_for_review = True
        people.bob.save()
    elif who == "inactive_org":
        people.acme.is_active = False
        people.acme.save()
    else:
        sender = "tess@helpful.test"
    row = ingest(new_raw(1, sender=sender), at=AT)
    assert (row.state, row.reason) == (State.HELD, reason)


def test_a_contact_of_another_organisation_cannot_join_by_naming_the_ticket(vpn, people, ingest):
    row = ingest("outsider_reply.eml", at=AT)
    assert row.ticket.organisation == people.globex
    assert vpn.events.filter(code=EventCode.PUBLIC_REPLY).count() == 0


def test_new_contacts_get_the_language_they_wrote_in(people, ingest):
    raw = eml("unknown_sender_es.eml").replace(b"dario@example.test", b"dario@acme.test")
    row = ingest(raw, at=AT)
    assert row.ticket.requester.user.language == "es"


def test_the_command_reads_one_message_on_standard_input(people, monkeypatch, capsys):
    import io
    import sys

    from django.core.management import call_command

    stdin = io.TextIOWrapper(io.BytesIO(eml("gmail_new_es.eml")))
    monkeypatch.setattr(sys, "stdin", stdin)
    call_command("mail", "ingest")
    assert "stored: message" in capsys.readouterr().out
    assert Ticket.objects.get().subject == "Impresora atascada en la 3ª planta"


def test_the_command_asks_the_mta_to_retry_when_it_cannot_store(people, monkeypatch):
    import io
    import sys

    from django.core.management import call_command

    def down(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(inbound, "receive", down)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(eml("gmail_new_es.eml"))))
    with pytest.raises(SystemExit) as exc:
        call_command("mail", "ingest")
    assert exc.value.code == 75


def agent_answer(people, *, in_reply_to: str, body: str) -> bytes:
    return (f"From: {people.tess.user.email}\nTo: support@helpful.test\n"
            f"Subject: Re: [TD-100001] VPN drops every hour\n"
            f"Message-ID: <agent-answer-{in_reply_to.strip('<>')}>\n"
            f"In-Reply-To: {in_reply_to}\nReferences: <td.100001.@helpful.test> {in_reply_to}\n"
            f"Date: Mon, 2 Mar 2026 10:50:00 +0100\n\n{body}\n").encode()


def test_an_agents_answer_to_a_staff_notification_stays_internal(vpn, people, ingest, outbox):
    from tierdesk.notifications.outbox import message_id

    before = len(outbox())
    row = ingest(agent_answer(people, in_reply_to=f"<{message_id(41)}>",
                              body="The customer's firewall drops UDP 500: not us."), at=AT)
    assert (row.state, row.outcome, row.ticket_id) == (State.PROCESSED, Outcome.NOTED, vpn.pk)
    assert row.event.code == EventCode.INTERNAL_NOTE and not row.event.is_public
    assert row.event.actor == people.tess.user
    assert row.event.body == "The customer's firewall drops UDP 500: not us."
    # The customer hears nothing of it.
    assert all("firewall" not in m.text for m in outbox()[before:])


def test_an_agents_answer_to_a_customer_notice_is_a_public_reply(vpn, people, ingest):
    row = ingest(agent_answer(people, in_reply_to="<td.100001.7.3@helpful.test>",
                              body="Fixed on our side: please try again."), at=AT)
    assert (row.state, row.outcome) == (State.PROCESSED, Outcome.REPLIED)
    assert row.event.code == EventCode.PUBLIC_REPLY and row.event.is_public


def test_a_lookalike_of_a_staff_notification_id_is_not_one():
    from tierdesk.notifications.outbox import message_id, outbox_pk

    assert outbox_pk(f"<{message_id(41)}>") == 41
    assert outbox_pk("<outbox-41@elsewhere.test>") is None
    assert outbox_pk("<outbox-x41@helpful.test>") is None
    assert outbox_pk("<td.100001.7.3@helpful.test>") is None
