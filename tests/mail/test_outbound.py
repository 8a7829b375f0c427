"""Mail to customers: queued in the action's transaction, threaded, in their language, never to robots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from support import T0

from mail.helpers import eml
from tierdesk.mail import outbound
from tierdesk.tickets import actions

AT = T0 + timedelta(hours=1)


@pytest.fixture
def mails(outbox):
    """Our notices only (other apps queue mail too), as (key prefix, recipient, row)."""
    def rows():
        return [m for m in outbox() if m.key.startswith("mail:")]

    return rows


@pytest.fixture
def vpn(open_ticket, people):
    return open_ticket(cc=[people.bob])


def test_acknowledgement_names_the_reference_and_the_promise(vpn, mails):
    alice, bob = mails()
    assert alice.to == ["alice@acme.test"] and bob.to == ["bob@acme.test"]
    assert alice.subject == "[TD-100001] VPN drops every hour"
    # Premium, 24x7, medium: first response within 8 hours of 09:00 UTC, in Madrid time.
    assert "We have received your request and opened ticket TD-100001." in alice.text
    assert "We will answer by March 2, 2026, 6 p.m. (Europe/Madrid)." in alice.text
    assert "Alice Admin opened ticket TD-100001 and put you in copy." in bob.text
    assert alice.text.startswith("##- Please type your reply above this line -##")
    assert "https://desk.helpful.test/portal/tickets/TD-100001/" in alice.text
    assert "<a href=\"https://desk.helpful.test/portal/tickets/TD-100001/\">" in alice.html
    headers = alice.headers
    assert headers["Message-ID"] == f"<td.100001.{vpn.events.get().pk}.{vpn.requester.user_id}@helpful.test>"
    assert headers["In-Reply-To"] == headers["References"] == "<td.100001.@helpful.test>"
    assert headers["Auto-Submitted"] == "auto-replied"
    assert headers["From"] == headers["Reply-To"] == "Helpful IT <support@helpful.test>"
    assert headers["X-Tierdesk-Ticket"] == "TD-100001"


def test_acknowledgement_in_spanish(people, open_ticket, mails):
    user = people.alice.user
    user.language = "es"
    user.save()
    open_ticket()
    (mail,) = mails()
    assert "Hemos recibido su solicitud y abierto el ticket TD-100001." in mail.text
    assert "Le responderemos antes del 2 de marzo de 2026 a las 18:00 (Europe/Madrid)." in mail.text
    assert mail.text.startswith("##- Escriba su respuesta por encima de esta línea -##")
    assert 'lang="es"' in mail.html


def test_acknowledgement_of_a_mail_answers_that_mail(people, ingest, mails):
    row = ingest("gmail_new_es.eml", at=AT)
    (ack,) = mails()
    assert ack.to == ["bob@acme.test"]
    assert ack.headers["In-Reply-To"] == "<CAK7-gmail-new-es-0002@mail.gmail.com>"
    assert ack.headers["References"] == (
        f"<CAK7-gmail-new-es-0002@mail.gmail.com> <td.{row.ticket.number}.@helpful.test>")


def test_public_updates_go_to_everyone_but_their_author(vpn, people, mails):
    before = len(mails())
    actions.add_reply(actor=people.tess.user, ticket=vpn, body="Please try the new profile.", at=AT)
    new = mails()[before:]
    assert sorted(m.to[0] for m in new) == ["alice@acme.test", "bob@acme.test"]
    assert all(m.subject == "Re: [TD-100001] VPN drops every hour" for m in new)
    assert "Tess Tier1 wrote on TD-100001:" in new[0].text
    assert "Please try the new profile." in new[0].text
    assert new[0].headers["Auto-Submitted"] == "auto-generated"
    before = len(mails())
    actions.add_reply(actor=people.alice.user, ticket=vpn, body="It works.", at=AT)
    (to_bob,) = mails()[before:]
    assert to_bob.to == ["bob@acme.test"] and "Alice Admin wrote on TD-100001:" in to_bob.text


def test_internal_work_sends_nothing(vpn, people, mails):
    before = len(mails())
    actions.add_internal_note(actor=people.tess.user, ticket=vpn, body="Looks like DPD.", at=AT)
    actions.assign(actor=people.tess.user, ticket=vpn, agent=people.tess, at=AT)  # new -> open
    actions.log_time(actor=people.tess.user, ticket=vpn, minutes=10, at=AT)
    assert len(mails()) == before


def test_status_changes_are_told(vpn, people, mails):
    actions.assign(actor=people.tess.user, ticket=vpn, agent=people.tess, at=AT)
    before = len(mails())
    actions.change_status(actor=people.tess.user, ticket=vpn, status="waiting_customer", at=AT)
    new = mails()[before:]
    assert len(new) == 2
    assert "The status of TD-100001 is now: Waiting on customer." in new[0].text
    assert "We are waiting for your answer" in new[0].text


def test_resolution_carries_the_note_the_reopen_link_and_registered_links(vpn, people, mails):
    outbound.add_resolution_link("survey", lambda ticket, user: (
        "How did we do?", f"https://desk.helpful.test/survey/{ticket.number}/{user.pk}"))
    try:
        before = len(mails())
        actions.resolve(actor=people.tess.user, ticket=vpn, code="fixed",
                        note="Replaced the VPN profile.", at=AT)
    finally:
        outbound.remove_resolution_link("survey")
    mail = mails()[before]
    assert "TD-100001 is resolved. Tess Tier1 wrote:" in mail.text
    assert "Replaced the VPN profile." in mail.text
    assert "within 14 days to reopen it" in mail.text
    assert "Not solved? Reopen it: https://desk.helpful.test/portal/tickets/TD-100001/#reopen" in mail.text
    assert f"How did we do?: https://desk.helpful.test/survey/100001/{people.alice.user_id}" in mail.text
    assert 'href="https://desk.helpful.test/portal/tickets/TD-100001/#reopen"' in mail.html


def test_escalation_is_told_without_the_internal_reason(vpn, people, mails):
    before = len(mails())
    actions.change_tier(actor=people.tess.user, ticket=vpn, tier=2, reason="Tess is stuck", at=AT)
    new = mails()[before:]
    assert len(new) == 2
    assert "escalated to our tier 2 engineers" in new[0].text
    assert "stuck" not in new[0].text


def test_reopen_and_close_are_told(vpn, people, mails):
    actions.resolve(actor=people.tess.user, ticket=vpn, code="fixed", note="Done.", at=AT)
    before = len(mails())
    actions.reopen(actor=people.tess.user, ticket=vpn, reason="", at=AT)
    assert "was reopened" in mails()[before].text
    actions.resolve(actor=people.tess.user, ticket=vpn, code="fixed", note="Done.", at=AT)
    before = len(mails())
    actions.close(actor=None, ticket=vpn, at=AT)
    assert "TD-100001 is closed." in mails()[before].text


def test_a_rolled_back_action_queues_nothing(vpn, people, mails):
    before = len(mails())
    with pytest.raises(RuntimeError), transaction.atomic():
        actions.add_reply(actor=people.tess.user, ticket=vpn, body="Draft", at=AT)
        raise RuntimeError("the view failed later")
    assert len(mails()) == before


def test_mail_from_a_machine_is_never_answered(people, ingest, mails):
    row = ingest("monitoring_auto_generated.eml", at=AT)
    assert row.ticket is not None and row.automated
    assert mails() == []


def test_a_customer_reply_to_our_notice_comes_back_to_the_ticket(vpn, people, mails, ingest):
    actions.add_reply(actor=people.tess.user, ticket=vpn, body="Please try the new profile.", at=AT)
    notice = next(m for m in mails() if m.key.startswith("mail:reply") and m.to == ["alice@acme.test"])
    quoted = "\n".join("> " + line for line in notice.text.splitlines())
    reply = (f"From: Alice Admin <alice@acme.test>\nTo: support@helpful.test\n"
             f"Subject: Re: {notice.subject}\nMessage-ID: <round-trip@acme.test>\n"
             f"In-Reply-To: {notice.headers['Message-ID']}\nReferences: {notice.headers['References']} "
             f"{notice.headers['Message-ID']}\nContent-Type: text/plain; charset=utf-8\n\n"
             f"Yes, that fixed it.\n\nOn Mon, 2 Mar 2026 at 10:00, Helpful IT wrote:\n{quoted}\n")
    row = ingest(reply.encode(), at=AT)
    assert row.ticket_id == vpn.pk and row.details["found_by"] == "header"
    assert row.event.body == "Yes, that fixed it."
    # ...and our own notice, should it come back to us, is ignored.
    echo = (f"From: {notice.headers['From']}\nTo: support@helpful.test\nSubject: {notice.subject}\n"
            f"Message-ID: {notice.headers['Message-ID']}\n\n{notice.text}")
    assert ingest(echo.encode(), at=AT).reason == "own_address"


def test_answers_to_unknown_senders_are_in_their_language(desk, people, ingest, mails):
    from tierdesk.accounts.models import Provider

    Provider.objects.update(unknown_sender=Provider.UnknownSender.REFUSE)
    ingest("unknown_sender.eml", at=AT)
    ingest(eml("unknown_sender_es.eml"), at=AT)
    en, es = mails()
    assert "Your address is not registered with the support desk of Helpful IT" in en.text
    assert "Su dirección no está registrada en el servicio de soporte de Helpful IT" in es.text
    assert es.subject == "Re: Consulta sobre soporte"


def test_other_mail_about_a_ticket_is_threaded_and_marked_automatic(vpn, people, ingest, settings):
    """Mail other apps queue about a ticket (the satisfaction survey, agents' notices) joins
    the ticket's thread too, and carries Auto-Submitted; a reply to it finds the ticket."""
    from django.core import mail as django_mail

    from tierdesk.notifications.outbox import deliver, enqueue_email

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    row = enqueue_email(key="survey:test", to=["alice@acme.test"], subject="How did we do?",
                        text="Rate us.", ticket=vpn)
    assert deliver(row.pk)
    sent = django_mail.outbox[-1].message()
    root = f"<td.{vpn.number}.@helpful.test>"
    assert (sent["References"], sent["In-Reply-To"], sent["Auto-Submitted"]) == (
        root, root, "auto-generated")
    reply = (f"From: Alice Admin <alice@acme.test>\nTo: support@helpful.test\n"
             f"Subject: Re: How did we do?\nMessage-ID: <survey-answer@acme.test>\n"
             f"In-Reply-To: {sent['Message-ID']}\nReferences: {root} {sent['Message-ID']}\n"
             f"Content-Type: text/plain; charset=utf-8\n\nVery well, thank you.\n")
    answer = ingest(reply.encode(), at=AT)
    assert answer.ticket_id == vpn.pk and answer.outcome == "replied"
    # Our own notices keep the threading they were given.
    ours = next(m for m in mails_of(vpn) if m.key.startswith("mail:created"))
    assert deliver(ours.pk)
    sent = django_mail.outbox[-1].message()
    assert sent["Message-ID"] == ours.headers["Message-ID"]
    assert sent["References"] == ours.headers["References"]
    assert sent["Auto-Submitted"] == "auto-replied"


def mails_of(ticket):
    from tierdesk.notifications.models import OutboxMessage

    return list(OutboxMessage.objects.filter(ticket=ticket, kind="email").order_by("pk"))


def test_a_batch_of_acknowledgements_is_what_full_renders_give(people, open_ticket, settings,
                                                               monkeypatch):
    """Acknowledgements heard in one batch (rendered once per language, zone and audience,
    then filled in) are exactly the mails each ticket's own full render gives: requester and
    CC, English and Spanish, two zones, HTML-escaped subjects, and a subject the fill-in
    cannot reproduce (rendered in full)."""
    from tierdesk.notifications.models import OutboxMessage
    from tierdesk.tickets import hooks

    monkeypatch.setattr(hooks, "_kick", lambda: None)
    bob = people.bob.user
    bob.language, bob.time_zone = "es", "America/Mexico_City"
    bob.save()
    subjects = ["VPN drops every hour", 'Tom & Jerry <b>"quoted"</b> it\'s', "Two  spaces",
                "Printer", "Ñandú — á <i>"]

    def make_and_collect():
        made = [open_ticket(s, at=AT + timedelta(minutes=i), cc=[people.bob] if i % 2 else [])
                for i, s in enumerate(subjects)]
        assert len(made) == len(subjects)
        return sorted(
            (m.to[0], m.subject, m.text, m.html,
             {k: v for k, v in m.headers.items() if k != "Message-ID"})
            for m in OutboxMessage.objects.filter(key__startswith="mail:created:"))

    settings.TICKET_HOOKS_INLINE = True
    point = transaction.savepoint()
    one_by_one = make_and_collect()
    transaction.savepoint_rollback(point)
    settings.TICKET_HOOKS_INLINE = False
    assert not OutboxMessage.objects.filter(key__startswith="mail:created:").exists()
    tickets_before = hooks.pending()
    make_and_collect()
    assert hooks.pending() == tickets_before + len(subjects)
    full = []
    real_full = outbound._AckFill._full

    def counted(self, ticket, *args, **kwargs):
        full.append(ticket.subject)
        return real_full(self, ticket, *args, **kwargs)

    monkeypatch.setattr(outbound._AckFill, "_full", counted)
    assert hooks.run_batch(limit=len(subjects)) == len(subjects)
    # Rendered in full: the first of each group (to check it) and the odd subject only.
    assert "Two  spaces" in full and len(full) < 7
    batched_rows = sorted(
        (m.to[0], m.subject, m.text, m.html,
         {k: v for k, v in m.headers.items() if k != "Message-ID"})
        for m in OutboxMessage.objects.filter(key__startswith="mail:created:"))
    assert len(one_by_one) == 7  # five requesters, Bob in copy of two
    assert batched_rows == one_by_one
    html = next(r[3] for r in batched_rows if "Tom &amp; Jerry" in r[3])
    assert "&lt;b&gt;&quot;quoted&quot;&lt;/b&gt; it&#x27;s" in html
    assert all('lang="es"' in r[3] and "America/Mexico_City" in r[2]
               for r in batched_rows if r[0] == "bob@acme.test")


def test_the_worker_s_acknowledgements_promise_only_a_running_first_response(
        people, open_ticket, mails, settings, monkeypatch):
    """Deferred mode: the worker acknowledges a batch of new tickets, each with the first
    response it promises, read for the batch at once; a first response no longer running
    promises nothing."""
    from tierdesk.sla.models import TicketSLA
    from tierdesk.tickets import hooks

    settings.TICKET_HOOKS_INLINE = False
    monkeypatch.setattr(hooks, "_kick", lambda: None)  # the test runs the worker's part
    running, paused = open_ticket("VPN drops"), open_ticket("Printer jams")
    TicketSLA.objects.filter(ticket=paused, target="first_response").update(
        state=TicketSLA.State.PAUSED)
    assert mails() == []
    hooks.run_pending()
    texts = {m.subject: m.text for m in mails() if m.to == ["alice@acme.test"]}
    assert "We will answer by March 2, 2026, 6 p.m. (Europe/Madrid)." in texts[
        f"[{running.reference}] VPN drops"]
    assert "We will answer by" not in texts[f"[{paused.reference}] Printer jams"]
    assert "opened ticket " + paused.reference in texts[f"[{paused.reference}] Printer jams"]
