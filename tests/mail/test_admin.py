"""What staff see of inbound mail: held messages, the full original, release; and the worker's task."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from support import PASSWORD, T0

from mail.helpers import eml
from mail.test_exactly_once import MemoryIMAP, messages
from tierdesk.mail.models import InboundMessage
from tierdesk.tickets.models import Ticket

AT = T0 + timedelta(hours=1)


@pytest.fixture
def admin_client(people):
    from tierdesk.accounts.models import User

    User.objects.create_superuser("root@helpful.test", PASSWORD)
    client = Client()
    assert client.login(email="root@helpful.test", password=PASSWORD)
    return client


def test_staff_see_held_mail_its_original_and_can_release_it(admin_client, ingest, settings):
    settings.MAIL_NEW_TICKETS_PER_SENDER_HOUR = 0
    row = ingest("gmail_reply_es.eml", at=AT)  # no TD-100001 here: it would open a ticket
    assert (row.state, row.reason) == ("held", "rate_limited")
    listing = admin_client.get(reverse("admin:mail_inboundmessage_changelist") + "?state=held")
    assert listing.status_code == 200
    assert b"Too many messages from this sender" in listing.content
    page = admin_client.get(reverse("admin:mail_inboundmessage_change", args=[row.pk]))
    assert page.status_code == 200
    assert "escribió:".encode() in page.content  # the full original, quotes and all
    raw = admin_client.get(reverse("admin:mail_inboundmessage_raw", args=[row.pk]))
    assert raw["Content-Type"] == "message/rfc822" and raw.content == eml("gmail_reply_es.eml")
    done = admin_client.post(reverse("admin:mail_inboundmessage_changelist"), {
        "action": "release", "_selected_action": [row.pk]})
    assert done.status_code == 302
    row.refresh_from_db()
    assert row.state == "processed" and Ticket.objects.count() == 1


def test_html_of_the_original_is_shown_sanitised(admin_client, ingest):
    row = ingest("html_only_es.eml", at=AT)
    page = admin_client.get(reverse("admin:mail_inboundmessage_change", args=[row.pk]))
    assert b"<b>lectura</b>" in page.content
    assert b"evil.test" not in page.content and b"onerror" not in page.content


def test_contacts_and_agents_without_admin_rights_cannot_read_raw_mail(people, ingest):
    row = ingest("gmail_new_en.eml", at=AT)
    client = Client()
    client.login(email="alice@acme.test", password=PASSWORD)
    response = client.get(reverse("admin:mail_inboundmessage_raw", args=[row.pk]))
    assert response.status_code == 302  # to the admin's login
    assert b"HP printer" not in response.content


def test_the_worker_task_polls_retries_and_releases(people, monkeypatch, settings):
    from tierdesk.mail import imap, tasks

    server = MemoryIMAP(messages(2))
    monkeypatch.setattr(imap, "connect", lambda mailbox: server)
    settings.MAIL_IMAP_URLS = ["imap://support%40helpful.test:x@imap.test/INBOX"]
    assert tasks.poll_mailboxes.call_local() == 2
    assert Ticket.objects.count() == 2 and server.search(["UNSEEN"]) == []


def test_the_poll_command(people, monkeypatch, capsys):
    from django.core.management import call_command

    from tierdesk.mail import imap

    server = MemoryIMAP(messages(3))
    monkeypatch.setattr(imap, "connect", lambda mailbox: server)
    call_command("mail", "poll", "--url", "imaps://support%40helpful.test:x@imap.test/INBOX")
    assert "3 fetched, 3 new, 0 already known, 3 processed" in capsys.readouterr().out
    assert InboundMessage.objects.filter(state="processed").count() == 3


def test_mailbox_urls():
    from tierdesk.mail.conf import Mailbox

    box = Mailbox.from_url("imaps://support%40desk.example:s%3Acret@mail.example/Support/In"
                           "?after=move&move_to=Done")
    assert (box.host, box.port, box.ssl, box.username, box.password, box.folder, box.after,
            box.move_to) == ("mail.example", 993, True, "support@desk.example", "s:cret",
                             "Support/In", "move", "Done")
    assert "s:cret" not in box.label
    assert Mailbox.from_url("imap://u:p@h/?starttls=1").starttls
    with pytest.raises(ValueError):
        Mailbox.from_url("pop3://u:p@h/")
    with pytest.raises(ValueError):
        Mailbox.from_url("imap://u:p@h/INBOX?after=burn")
