"""The outbox: written in the action's transaction, sent after commit, retried, never lost."""

from __future__ import annotations

from datetime import timedelta
from smtplib import SMTPServerDisconnected
from unittest import mock

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from support import T0

from tierdesk.notifications import outbox
from tierdesk.notifications.models import OutboxMessage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


class _DownSMTP:
    def send_messages(self, messages):
        raise SMTPServerDisconnected("connection refused")


def _queue(key="k1", **kw):
    return outbox.enqueue_email(key=key, to=["lea@helpful.test"], subject="Hello",
                                text="Body", html="<p>Body</p>", **kw)


def test_sent_after_commit_with_html_and_a_stable_message_id(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        message = _queue(headers={"X-Test": "1"})
        assert mail.outbox == []  # nothing leaves before the commit
    message.refresh_from_db()
    assert message.state == "sent" and message.attempts == 1 and message.sent_at
    (sent,) = mail.outbox
    assert sent.to == ["lea@helpful.test"] and sent.alternatives[0][1] == "text/html"
    assert sent.extra_headers["Message-ID"].startswith(f"<outbox-{message.pk}@")
    assert sent.extra_headers["X-Test"] == "1"


def test_a_rolled_back_action_sends_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), \
            transaction.atomic():
        _queue()
        raise RuntimeError("the action failed")
    assert not OutboxMessage.objects.exists() and mail.outbox == []


def test_the_same_key_is_queued_once(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = _queue()
        again = _queue()
    assert first.pk == again.pk and OutboxMessage.objects.count() == 1 and len(mail.outbox) == 1


def test_a_failing_smtp_server_delays_mail_and_never_loses_it(django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False), \
            mock.patch.object(outbox, "get_connection", return_value=_DownSMTP()):
        with django_capture_on_commit_callbacks(execute=True):
            message = _queue()
        message.refresh_from_db()
        assert message.state == "pending" and message.attempts == 1
        assert message.next_attempt_at == T0 + timedelta(minutes=1)
        assert "connection refused" in message.last_error
        # Not due yet: the retry leaves it alone; then a second failure doubles the wait.
        assert outbox.deliver_due(T0 + timedelta(seconds=30)) == 0
        assert outbox.deliver_due(T0 + timedelta(minutes=1)) == 0
        message.refresh_from_db()
        assert message.attempts == 2
        assert message.next_attempt_at == T0 + timedelta(minutes=3)
    # The server is back: the periodic retry sends it, once.
    assert outbox.deliver_due(T0 + timedelta(minutes=3)) == 1
    assert outbox.deliver_due(T0 + timedelta(hours=1)) == 0
    message.refresh_from_db()
    assert message.state == "sent" and len(mail.outbox) == 1


def test_gives_up_after_the_last_attempt_and_keeps_the_error(settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    message = _queue()
    with mock.patch.object(outbox, "get_connection", return_value=_DownSMTP()):
        outbox.deliver_due(message.next_attempt_at + timedelta(days=1))
        outbox.deliver_due(message.next_attempt_at + timedelta(days=2))
    message.refresh_from_db()
    assert message.state == "dead" and message.attempts == 2 and message.last_error


def test_a_claimed_message_is_not_sent_by_a_second_worker():
    message = _queue()
    now = message.next_attempt_at
    assert outbox.claim(message.pk, now) is not None
    assert outbox.claim(message.pk, now) is None  # leased
    assert outbox.claim(message.pk, now + outbox.LEASE) is not None  # the first one died


def test_webhooks_go_through_the_same_outbox():
    message = outbox.enqueue_webhook(key="w1", url="http://127.0.0.1:9/hook", body={"a": 1})
    assert message.kind == "webhook" and message.state == "pending"
    with mock.patch.object(outbox._NO_REDIRECTS, "open") as urlopen:
        urlopen.return_value.__enter__.return_value.status = 204
        assert outbox.deliver_due(message.next_attempt_at) == 1
    request = urlopen.call_args.args[0]
    assert request.data == b'{"a": 1}' and request.get_header("Idempotency-key") == "w1"
