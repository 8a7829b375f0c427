"""What agents see of inbound mail in the console: held messages, every original, release."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from support import PASSWORD, T0

from mail.helpers import eml
from tierdesk.mail import inbound
from tierdesk.mail.models import InboundMessage
from tierdesk.tickets.models import Ticket

AT = T0 + timedelta(hours=1)
State = InboundMessage.State


def login(email: str | None) -> Client:
    client = Client()
    if email:
        assert client.login(email=email, password=PASSWORD)
    return client


@pytest.fixture
def held(people, ingest, settings):
    """A message from Alice held because it is too large (no ticket yet)."""
    settings.MAIL_MAX_BYTES = 100_000
    row = ingest("large_attachment.eml", at=AT)
    assert (row.state, row.reason) == (State.HELD, InboundMessage.Reason.OVERSIZED)
    return row


@pytest.mark.parametrize("who", ["tess@helpful.test", "tom@helpful.test"])
def test_every_agent_sees_what_waits_and_the_original(held, who):
    client = login(who)
    listing = client.get(reverse("mail:held"))
    assert listing.status_code == 200
    assert b"Too large" in listing.content and b"alice@acme.test" in listing.content
    page = client.get(reverse("mail:detail", args=[held.pk]))
    assert page.status_code == 200
    assert b"disk.img" in page.content and b"Release" in page.content
    raw = client.get(reverse("mail:raw", args=[held.pk]))
    assert raw["Content-Type"] == "message/rfc822"
    assert raw.content == eml("large_attachment.eml")


@pytest.mark.parametrize("who, status", [("alice@acme.test", 403), ("charlie@globex.test", 403),
                                         (None, 302)])
def test_contacts_and_strangers_see_no_inbound_mail(held, who, status):
    client = login(who)
    for url in (reverse("mail:held"), reverse("mail:detail", args=[held.pk]),
                reverse("mail:raw", args=[held.pk]),
                reverse("mail:attachment", args=[held.pk, 0])):
        response = client.get(url)
        assert response.status_code == status, url
        assert b"disk.img" not in response.content
    response = client.post(reverse("mail:act", args=[held.pk, "release"]))
    assert response.status_code == status
    held.refresh_from_db()
    assert held.state == State.HELD and Ticket.objects.count() == 0


def test_an_agent_releases_an_oversized_message(held):
    client = login("tess@helpful.test")
    response = client.post(reverse("mail:act", args=[held.pk, "release"]))
    assert response.status_code == 302
    held.refresh_from_db()
    assert held.state == State.PROCESSED and held.details["released_by"] == "tess@helpful.test"
    assert [a.filename for a in held.ticket.attachments.all()] == ["disk.img"]
    # Done: no second release, and it left the waiting list.
    assert client.post(reverse("mail:act", args=[held.pk, "release"])).status_code == 302
    assert Ticket.objects.count() == 1
    assert b"alice@acme.test" not in client.get(reverse("mail:held")).content


def test_an_agent_dismisses_a_message_and_only_a_waiting_one(held, ingest):
    client = login("tom@helpful.test")
    client.post(reverse("mail:act", args=[held.pk, "dismiss"]))
    held.refresh_from_db()
    assert (held.state, held.reason) == (State.IGNORED, InboundMessage.Reason.DISMISSED)
    assert held.details["dismissed_by"] == "tom@helpful.test"
    done = ingest("gmail_new_en.eml", at=AT)
    client.post(reverse("mail:act", args=[done.pk, "dismiss"]))
    done.refresh_from_db()
    assert done.state == State.PROCESSED
    assert client.post(reverse("mail:act", args=[done.pk, "burn"])).status_code == 404
    assert client.get(reverse("mail:act", args=[done.pk, "release"])).status_code == 405


def test_the_originals_of_a_ticket_quotes_html_and_withheld_files(people, ingest):
    client = login("tess@helpful.test")
    first = ingest("attachment_exe.eml", at=AT)
    ticket = first.ticket
    page = client.get(reverse("console:ticket", args=[ticket.reference]))
    assert f"?ticket={ticket.reference}".encode() in page.content
    listing = client.get(reverse("mail:held") + f"?ticket={ticket.reference}")
    assert listing.status_code == 200 and first.subject.encode() in listing.content
    detail = client.get(reverse("mail:detail", args=[first.pk]))
    names = [a.decode() for a in (b"manual.pdf", b"setup.exe") if a in detail.content]
    assert names == ["manual.pdf", "setup.exe"]  # withheld from the ticket, kept here
    files = inbound.original(InboundMessage.objects.get(pk=first.pk)).attachments
    index = [a.filename for a in files].index("setup.exe")
    download = client.get(reverse("mail:attachment", args=[first.pk, index]))
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"] == 'attachment; filename="setup.exe"'
    assert client.get(reverse("mail:attachment", args=[first.pk, 99])).status_code == 404

    html = ingest("html_only_es.eml", at=AT)
    detail = client.get(reverse("mail:detail", args=[html.pk]))
    assert b"<b>lectura</b>" in detail.content
    assert b"evil.test" not in detail.content and b"onerror" not in detail.content


def test_the_pages_speak_the_agents_language(held, people):
    people.tess.user.language = "es"
    people.tess.user.save(update_fields=["language"])
    client = login("tess@helpful.test")
    listing = client.get(reverse("mail:held"))
    assert b"Correo entrante" in listing.content
    assert "1 mensaje espera revisión.".encode() in listing.content
    page = client.get(reverse("mail:detail", args=[held.pk]))
    assert b"Liberar: procesarlo ahora" in page.content
