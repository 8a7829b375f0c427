"""One way to tell people: in-app for agents, mail in their language, preferences, digests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support import T0

from tierdesk.notifications import notify
from tierdesk.notifications.digest import send_digests
from tierdesk.notifications.models import Notification, OutboxMessage, Preference
from tierdesk.notifications.notifier import mark_read, unread

pytestmark = pytest.mark.django_db


def staff_mail():
    """Our mails (the customer's acknowledgement of a new ticket is the mail app's)."""
    return OutboxMessage.objects.filter(to__in=[["lea@helpful.test"], ["tom@helpful.test"]])


def _tell(ticket, users, key="k"):
    return notify(key=key, kind="sla_breached", recipients=users, ticket=ticket, at=T0,
                  context={"target_label": "First response", "due_at": T0})


def test_agents_get_in_app_and_mail_in_their_language(open_ticket, people):
    people.tom.user.language = "es"
    people.tom.user.save()
    t = open_ticket()
    _tell(t, [people.lea.user, people.tom.user])
    english = OutboxMessage.objects.get(to=["lea@helpful.test"])
    spanish = OutboxMessage.objects.get(to=["tom@helpful.test"])
    assert "target breached" in english.subject and t.reference in english.subject
    assert "incumplido" in spanish.subject, spanish.subject
    assert "<a href=" in spanish.html and "/console/tickets/" in spanish.text
    assert Notification.objects.filter(recipient=people.tom.user).count() == 1


def test_the_same_occasion_is_told_once(open_ticket, people):
    t = open_ticket()
    _tell(t, [people.lea.user, people.lea.user])
    _tell(t, [people.lea.user])
    assert Notification.objects.count() == 1 and staff_mail().count() == 1


def test_preferences_mute_and_switch_off_mail(open_ticket, people):
    Preference.objects.create(user=people.lea.user, email=False)
    Preference.objects.create(user=people.tom.user, muted_kinds=["sla_breached"])
    t = open_ticket()
    _tell(t, [people.lea.user, people.tom.user])
    assert Notification.objects.filter(recipient=people.lea.user).count() == 1
    assert not staff_mail().exists()
    assert not Notification.objects.filter(recipient=people.tom.user).exists()


def test_read_and_unread(open_ticket, people):
    t = open_ticket()
    _tell(t, [people.lea.user], key="a")
    _tell(t, [people.lea.user], key="b")
    assert unread(people.lea.user).count() == 2
    assert mark_read(people.tom.user) == 0  # only one's own
    assert mark_read(people.lea.user, [unread(people.lea.user).first().pk]) == 1
    assert unread(people.lea.user).count() == 1


def test_digest_gathers_notifications_into_one_mail_once(open_ticket, people):
    Preference.objects.create(user=people.lea.user, digest=Preference.Digest.HOURLY)
    t = open_ticket()
    _tell(t, [people.lea.user], key="a")
    _tell(t, [people.lea.user], key="b")
    assert not staff_mail().exists()  # waiting for the digest
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    assert send_digests(now=now) == 1
    assert send_digests(now=now) == 0
    (mail,) = staff_mail()
    assert "2 notifications" in mail.subject and mail.text.count(t.reference) == 2


def test_daily_digests_go_out_at_eight_local(open_ticket, people):
    Preference.objects.create(user=people.lea.user, digest=Preference.Digest.DAILY)
    _tell(open_ticket(), [people.lea.user])
    assert send_digests(now=datetime(2026, 3, 2, 12, 0, tzinfo=UTC)) == 0
    assert send_digests(now=datetime(2026, 3, 3, 7, 0, tzinfo=UTC)) == 1  # 08:00 in Madrid
