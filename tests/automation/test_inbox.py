"""The agent's inbox of in-app notifications: the owner, a colleague and an outsider."""

from __future__ import annotations

import pytest
from support import T0

from tierdesk.notifications import notify
from tierdesk.notifications.models import Notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def told(open_ticket, people):
    t = open_ticket(subject="Printer <script>alert(1)</script> on fire")
    notify(key="k1", kind="sla_breached", recipients=[people.lea.user], ticket=t, at=T0,
           context={"target_label": "First response", "due_at": T0})
    notify(key="k2", kind="rule", recipients=[people.lea.user], ticket=t, at=T0,
           context={"rule": "Unresolved after five days"})
    return t


def test_the_owner_reads_and_marks_read(client, people, told):
    client.force_login(people.lea.user)
    page = client.get("/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "First response target breached" in html and told.reference in html
    assert "<script>alert(1)" not in html  # escaped
    assert "2 unread" in html
    one = Notification.objects.filter(recipient=people.lea.user).order_by("pk").first()
    assert client.post("/notifications/read/", {"id": one.pk}).status_code == 302
    assert Notification.objects.filter(recipient=people.lea.user, read_at__isnull=True).count() == 1
    assert "1 unread" in client.get("/notifications/").content.decode()
    assert told.reference in client.get("/notifications/?show=all").content.decode()
    client.post("/notifications/read/")
    assert not Notification.objects.filter(recipient=people.lea.user, read_at__isnull=True).exists()
    assert "Nothing unread." in client.get("/notifications/").content.decode()


def test_a_colleague_sees_and_marks_only_their_own(client, people, told):
    client.force_login(people.tom.user)
    html = client.get("/notifications/").content.decode()
    assert told.reference not in html and "Nothing unread." in html
    theirs = Notification.objects.filter(recipient=people.lea.user).first()
    client.post("/notifications/read/", {"id": theirs.pk})
    client.post("/notifications/read/")
    assert Notification.objects.filter(recipient=people.lea.user, read_at__isnull=True).count() == 2


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_contacts_have_no_inbox(client, people, told, who):
    client.force_login(getattr(people, who).user)
    assert client.get("/notifications/").status_code == 403
    assert client.post("/notifications/read/").status_code == 403
    assert Notification.objects.filter(read_at__isnull=True).count() == 2


def test_anonymous_is_sent_to_sign_in(client, told):
    assert client.get("/notifications/").status_code == 302
    assert client.post("/notifications/read/").status_code == 302


def test_marking_read_takes_a_post(client, people, told):
    client.force_login(people.lea.user)
    assert client.get("/notifications/read/").status_code == 405
    assert client.post("/notifications/read/", {"id": "x"}).status_code == 302
    assert Notification.objects.filter(read_at__isnull=True).count() == 2


def test_in_spanish(client, people, told):
    from django.utils import translation

    people.lea.user.language = "es"
    people.lea.user.save()
    client.force_login(people.lea.user)
    try:
        html = client.get("/notifications/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    finally:
        translation.activate("en")
    assert "2 sin leer" in html and "Marcar todas como leídas" in html
