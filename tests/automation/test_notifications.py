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


@pytest.mark.parametrize("kind", ["sla_warning", "sla_breached"])
def test_a_wave_told_at_once_has_the_texts_of_one_render_each(open_ticket, people, kind,
                                                               monkeypatch):
    """`notify_many` renders a wave's warnings and breaches once per group and fills in
    each ticket's values: every subject, text and HTML part must be what a render of its
    own gives — in both languages, several zones, for agents and contacts, with subjects
    that HTML must escape, and with subjects the fill cannot reproduce (rendered apart)."""
    from datetime import timedelta

    from tierdesk.notifications import notifier
    from tierdesk.notifications.notifier import Notice, language_of, notify_many, render
    from tierdesk.tickets.models import Ticket

    renders = []
    real = notifier._render_one
    monkeypatch.setattr(notifier, "_render_one", lambda *a: renders.append(1) or real(*a))

    people.tom.user.language, people.tom.user.time_zone = "es", "America/Bogota"
    people.tom.user.save()
    people.alice.user.language, people.alice.user.time_zone = "es", "Europe/Madrid"
    people.alice.user.save()
    subjects = ["VPN drops", "Tom & Jerry <script>alert('x')</script> \"quoted\"",
                "100% down {{ ticket }} {% now %}", "ñandú ✓ “curly”",
                "two  spaces", " leading space", "a line\nbreak", "tab\there",
                *(f"plain {n}" for n in range(12))]
    apart = 4 * 3  # the four subjects the fill cannot reproduce, for three people
    notices = []
    for i, subject in enumerate(subjects):
        ticket = open_ticket(f"t{i}")
        Ticket.objects.filter(pk=ticket.pk).update(subject=subject)
        ticket.subject = subject
        due = (None if i == 3 else T0 + timedelta(hours=i, minutes=7 * i, seconds=13 * i)
               if i < 8 else T0 + timedelta(minutes=3, seconds=5 * (i - 8)))  # one minute
        notices.append(Notice(key=f"wave{i}", kind=kind, ticket=ticket,
                              recipients=(people.lea.user, people.tom.user, people.alice.user),
                              context={"target_label": "First response" if i % 2 else "Resolution",
                                       "due_at": due, "share": 75}))
    assert notify_many(notices, at=T0) == 3 * len(subjects)
    # Filled in, not rendered one by one: the subjects apart, then one check a group.
    assert apart < len(renders) <= apart + 12, len(renders)
    for notice in notices:
        for user in notice.recipients:
            is_agent = user != people.alice.user
            ctx = {**notice.context, "ticket": notice.ticket, "recipient": user,
                   "url": notifier_url(notice.ticket, agent=is_agent)}
            subject, text, html = render(kind, ctx, language_of(user))
            mail = OutboxMessage.objects.get(key=f"{notice.key}:u{user.pk}")
            assert (mail.subject, mail.text, mail.html) == (subject, text, html)
            if is_agent:
                note = Notification.objects.get(recipient=user, key=notice.key)
                assert (note.title, note.body) == (subject, text)
    assert "&lt;script&gt;" in OutboxMessage.objects.get(key=f"wave1:u{people.lea.user.pk}").html


def notifier_url(ticket, *, agent):
    from tierdesk.notifications.notifier import ticket_url

    return ticket_url(ticket, agent=agent)
