"""Fixtures of the email channel's suites: the real messages in fixtures/, and ingesting them.

Messages name the personas of tests/conftest.py (alice and bob of Acme, charlie
of Globex, the agents at helpful.test) and the desk's support address
support@helpful.test. Replies refer to ticket TD-100001 — the first ticket a
test opens — by subject and by our own Message-IDs (<td.100001.…@helpful.test>).
"""

from __future__ import annotations

import pytest

from mail.helpers import eml


@pytest.fixture(autouse=True)
def _mail_settings(settings):
    from tierdesk.mail import conf

    settings.DEFAULT_FROM_EMAIL = "support@helpful.test"
    settings.MAIL_MESSAGE_ID_DOMAIN = "helpful.test"
    settings.MAIL_IMAP_URLS = []
    settings.MAIL_OWN_ADDRESSES = []
    settings.SITE_URL = "https://desk.helpful.test"
    conf.forget_cached()
    yield
    conf.forget_cached()


@pytest.fixture
def ingest(people):
    """ingest("name.eml") or ingest(b"raw ...") -> the InboundMessage, processed."""
    from tierdesk.lib import clock
    from tierdesk.mail import inbound

    def run(message: str | bytes, *, at=None, **replace: str):
        raw = eml(message, **replace) if isinstance(message, str) else message
        return inbound.ingest(raw, source="test", now=at or clock.now())

    return run


@pytest.fixture
def outbox():
    """The mail queued so far, oldest first."""
    from tierdesk.notifications.models import OutboxMessage

    def rows(**filters):
        return list(OutboxMessage.objects.filter(kind="email", **filters).order_by("pk"))

    return rows
