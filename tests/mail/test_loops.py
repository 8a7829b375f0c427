"""Loop rules, one header at a time: what a machine sent is never answered automatically."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import T0

from tierdesk.mail.models import InboundMessage

AT = T0 + timedelta(hours=1)
State = InboundMessage.State


def message(sender: str, *headers: str, n: int = 1) -> bytes:
    head = "\n".join(headers)
    return (f"From: {sender}\nTo: support@helpful.test\nSubject: Disk almost full {n}\n"
            f"Message-ID: <loop-{n}-{abs(hash(head))}@machines.test>\n"
            f"Date: Mon, 2 Mar 2026 10:00:00 +0100\n{head}\n"
            "Content-Type: text/plain; charset=utf-8\n\n"
            "The backup disk of the file server is almost full. Please have a look.\n").encode()


# header -> what becomes of mail from a known contact: a ticket, but no answer; or ignored.
MACHINES = [
    ("Auto-Submitted: auto-generated", "automated"),
    ("Auto-Submitted: auto-notified", "automated"),
    ("Auto-Submitted: auto-replied", "auto_reply"),
    ("Precedence: bulk", "automated"),
    ("Precedence: junk", "automated"),
    ("Precedence: list", "automated"),
    ("List-Id: <staff.acme.test>", "automated"),
    ("X-Autoreply: yes", "auto_reply"),
    ("X-Autorespond: Out of office", "auto_reply"),
    ("Return-Path: <>", "automated"),
]


@pytest.mark.parametrize("header, kind", MACHINES)
def test_a_machine_of_a_known_contact_is_never_answered(people, ingest, outbox, header, kind):
    row = ingest(message("Alice Admin <alice@acme.test>", header), at=AT)
    assert row.automated
    if kind == "auto_reply":
        assert (row.state, row.reason, row.ticket_id) == (State.IGNORED, "auto_reply", None)
    else:
        assert row.state == State.PROCESSED and row.ticket is not None
    assert [m for m in outbox() if "alice@acme.test" in m.to] == []


@pytest.mark.parametrize("header, _kind", MACHINES)
def test_a_machine_we_do_not_know_is_never_told_it_is_not_registered(people, ingest, outbox,
                                                                     header, _kind):
    from tierdesk.accounts.models import Provider

    Provider.objects.update(unknown_sender=Provider.UnknownSender.REFUSE)
    row = ingest(message("robot@machines.test", header), at=AT)
    assert row.ticket_id is None
    assert outbox() == []


def test_auto_submitted_no_is_a_person(people, ingest, outbox):
    row = ingest(message("Alice Admin <alice@acme.test>", "Auto-Submitted: no"), at=AT)
    assert not row.automated and row.ticket is not None
    assert [m.to for m in outbox() if m.key.startswith("mail:created")] == [["alice@acme.test"]]


@pytest.mark.parametrize("sender", ["MAILER-DAEMON@relay.acme.test", "postmaster@acme.test"])
def test_delivery_daemons_are_bounces(people, ingest, outbox, sender):
    row = ingest(message(sender), at=AT)
    assert (row.state, row.reason) == (State.IGNORED, "bounce")
    assert outbox() == []


@pytest.mark.parametrize("sender", ["support@helpful.test", "Desk <SUPPORT@helpful.test>",
                                    "other-inbox@helpful.test"])
def test_mail_from_our_own_addresses_is_ignored(people, ingest, outbox, settings, sender):
    from tierdesk.mail import conf

    settings.MAIL_OWN_ADDRESSES = ["other-inbox@helpful.test"]
    conf.forget_cached()
    row = ingest(message(sender), at=AT)
    assert (row.state, row.reason) == (State.IGNORED, "own_address")
    assert outbox() == []


def test_a_robot_writing_in_a_loop_is_held_after_the_limit_not_dropped(people, ingest, outbox,
                                                                      settings):
    settings.MAIL_NEW_TICKETS_PER_SENDER_HOUR = 3
    rows = [ingest(message("Alice Admin <alice@acme.test>", "Auto-Submitted: auto-generated",
                           n=n), at=AT + timedelta(minutes=n)) for n in range(5)]
    assert [r.state for r in rows] == [State.PROCESSED] * 3 + [State.HELD] * 2
    assert {r.reason for r in rows[3:]} == {"rate_limited"}
    assert all(bytes(InboundMessage.objects.get(pk=r.pk).raw) for r in rows[3:])
    # An hour later the sender may open tickets again.
    later = ingest(message("Alice Admin <alice@acme.test>", n=9), at=AT + timedelta(hours=2))
    assert later.state == State.PROCESSED
