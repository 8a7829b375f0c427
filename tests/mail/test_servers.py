"""Against real servers from Debian's packages, started by .ci/run (CI=true) or by hand:

    source .ci/services.sh && start_mail     # ... and stop_all afterwards

Postfix takes SMTP on 127.0.0.1:2525 and delivers into Dovecot, which Tierdesk
reads over IMAP (127.0.0.1:1143); Tierdesk's own mail goes out through that
Postfix and is read back from the customer's Dovecot mailbox. Skipped, with the
reason, when the servers are not there — except under CI=true, where it fails.
"""

from __future__ import annotations

import email
import os
import random
import signal
import smtplib
import subprocess
import sys
import time
from email import policy
from pathlib import Path
from urllib.parse import quote

import pytest
from imapclient import IMAPClient

from mail.helpers import eml, mail_servers
from tierdesk.mail import imap, inbound
from tierdesk.mail.conf import Mailbox
from tierdesk.mail.models import InboundMessage
from tierdesk.notifications.models import OutboxMessage
from tierdesk.tickets import actions, hooks
from tierdesk.tickets.models import EventCode, Ticket, TicketEvent

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

SUPPORT = "support@tierdesk.test"
CUSTOMER = "customer@example.test"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def servers():
    return mail_servers()


def client(env, user: str) -> IMAPClient:
    c = IMAPClient(env["TIERDESK_TEST_IMAP_HOST"], port=int(env["TIERDESK_TEST_IMAP_PORT"]),
                   ssl=False, timeout=20)
    c.login(user, env["TIERDESK_TEST_MAIL_PASSWORD"])
    return c


def empty(env, user: str) -> None:
    c = client(env, user)
    for folder in ("Processed",):
        if c.folder_exists(folder):
            c.delete_folder(folder)
    c.select_folder("INBOX")
    uids = c.search(["ALL"])
    if uids:
        c.add_flags(uids, [b"\\Deleted"])
        c.expunge()
    c.logout()


def wait_for(env, user: str, count: int, timeout: float = 20, *,
             header: bytes = b"") -> list[bytes]:
    """The raw messages of a mailbox (those with `header`, if given), once there are `count`."""
    deadline = time.monotonic() + timeout
    while True:
        c = client(env, user)
        c.select_folder("INBOX", readonly=True)
        uids = c.search(["ALL"])
        raws = [d[b"BODY[]"] for _u, d in sorted(c.fetch(uids, ["BODY.PEEK[]"]).items())] if uids else []
        c.logout()
        raws = [r for r in raws if header in r]
        if len(raws) >= count:
            return raws
        if time.monotonic() > deadline:
            pytest.fail(f"{user}: {len(raws)} of {count} messages after {timeout}s")
        time.sleep(0.1)


def send(env, raw: bytes, *, to: str = SUPPORT, sender: str = "alice@acme.test") -> None:
    with smtplib.SMTP(env["TIERDESK_TEST_SMTP_HOST"], int(env["TIERDESK_TEST_SMTP_PORT"]),
                      timeout=20) as smtp:
        smtp.sendmail(sender, [to], raw)


def url(env, user: str = SUPPORT, **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return (f"imap://{quote(user, safe='')}:{env['TIERDESK_TEST_MAIL_PASSWORD']}@"
            f"{env['TIERDESK_TEST_IMAP_HOST']}:{env['TIERDESK_TEST_IMAP_PORT']}/INBOX"
            + (f"?{q}" if q else ""))


@pytest.fixture
def desk_on_servers(servers, people, settings):
    """The desk reads support@tierdesk.test; a Spanish-speaking customer has a real mailbox."""
    from tierdesk.accounts.models import Contact, OrganisationDomain, Provider, User
    from tierdesk.mail import conf

    Provider.objects.update(support_address=SUPPORT)
    settings.MAIL_NEW_TICKETS_PER_SENDER_HOUR = settings.MAIL_MESSAGES_PER_SENDER_HOUR = 1000
    settings.DEFAULT_FROM_EMAIL = SUPPORT
    settings.MAIL_MESSAGE_ID_DOMAIN = "tierdesk.test"
    conf.forget_cached()
    OrganisationDomain.objects.create(organisation=people.acme, domain="example.test")
    user = User.objects.create_user(CUSTOMER, None, full_name="Carmen Cliente", language="es")
    Contact.objects.create(user=user, organisation=people.acme)
    for user in (SUPPORT, CUSTOMER):
        empty(servers, user)
    yield servers
    for user in (SUPPORT, CUSTOMER):
        empty(servers, user)
    conf.forget_cached()


def test_mail_sent_through_postfix_becomes_tickets_once(desk_on_servers):
    env = desk_on_servers
    names = ["gmail_new_en.eml", "thunderbird_new_es_latin1.eml", "gmail_inline_image.eml",
             "outlook_auto_reply.eml"]
    for name in names:
        send(env, eml(name))
    wait_for(env, SUPPORT, len(names))
    result = imap.poll(Mailbox.from_url(url(env)))
    assert (result.fetched, result.stored, result.processed) == (4, 4, 4)
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
        "Error dialog when opening the shared drive", "No funciona el escáner de recepción",
        "Printer on the 3rd floor jams on every job"]
    assert InboundMessage.objects.get(reason="auto_reply").state == "ignored"
    shot = Ticket.objects.get(subject__startswith="Error dialog").attachments.get()
    assert shot.filename == "screenshot.png"
    # Marked \Seen on the server: the next poll finds nothing to do.
    assert imap.poll(Mailbox.from_url(url(env))).fetched == 0
    c = client(env, SUPPORT)
    c.select_folder("INBOX", readonly=True)
    assert len(c.search(["SEEN"])) == 4
    c.logout()


def test_move_mode_moves_what_is_done(desk_on_servers):
    env = desk_on_servers
    send(env, eml("apple_new_en.eml"))
    wait_for(env, SUPPORT, 1)
    imap.poll(Mailbox.from_url(url(env, after="move", move_to="Processed")))
    c = client(env, SUPPORT)
    assert c.select_folder("INBOX")[b"EXISTS"] == 0
    assert c.select_folder("Processed")[b"EXISTS"] == 1
    c.logout()
    assert Ticket.objects.count() == 1


def _smtp(env, settings) -> None:
    """Django's SMTP backend, pointed at the test Postfix (the outbox sends through it)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = env["TIERDESK_TEST_SMTP_HOST"]
    settings.EMAIL_PORT = int(env["TIERDESK_TEST_SMTP_PORT"])
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""


def test_our_notices_reach_the_customer_threaded_and_in_spanish_and_the_reply_comes_back(
        desk_on_servers, people, settings):
    from tierdesk.accounts.models import Contact
    from tierdesk.notifications import outbox

    env = desk_on_servers
    _smtp(env, settings)
    carmen = Contact.objects.get(user__email=CUSTOMER)
    ticket = actions.create_ticket(actor=carmen.user, new=actions.NewTicket(
        requester=carmen, subject="La VPN se corta", description="Cada hora."))
    actions.add_reply(actor=people.tess.user, ticket=ticket, body="Pruebe el perfil nuevo.")
    outbox.deliver_due()  # sent after each commit already, unless the queue was not immediate
    assert set(OutboxMessage.objects.filter(key__startswith="mail:").values_list(
        "state", flat=True)) == {"sent"}
    # Our notices carry X-Tierdesk-Ticket (other apps mail the customer too: an invitation).
    ack_raw, reply_raw = wait_for(env, CUSTOMER, 2, header=b"X-Tierdesk-Ticket:")
    ack = email.message_from_bytes(ack_raw, policy=policy.default)
    notice = email.message_from_bytes(reply_raw, policy=policy.default)
    ref = ticket.reference
    assert ack["Subject"] == f"[{ref}] La VPN se corta"
    assert notice["Subject"] == f"Re: [{ref}] La VPN se corta"
    root = f"<td.{ticket.number}.@tierdesk.test>"
    assert ack["References"] == notice["References"] == root
    assert notice["In-Reply-To"] == root
    assert ack["Message-ID"] != notice["Message-ID"]
    assert notice["Message-ID"].startswith(f"<td.{ticket.number}.")
    assert ack["Auto-Submitted"] == "auto-replied" and notice["Auto-Submitted"] == "auto-generated"
    assert ack.get_content_type() == "multipart/alternative"
    text = ack.get_body(("plain",)).get_content()
    assert f"Hemos recibido su solicitud y abierto el ticket {ref}." in text
    assert "Le responderemos antes del" in text
    assert "Abrir el ticket" in ack.get_body(("html",)).get_content()
    assert "Pruebe el perfil nuevo." in notice.get_body(("plain",)).get_content()

    # Carmen answers from her mail client, quoting our notice; it comes back to the ticket.
    quoted = "\n".join("> " + line for line in notice.get_body(("plain",)).get_content().splitlines())
    answer = (f"From: Carmen Cliente <{CUSTOMER}>\nTo: {SUPPORT}\nSubject: Re: {notice['Subject']}\n"
              f"Message-ID: <carmen-answer@example.test>\nIn-Reply-To: {notice['Message-ID']}\n"
              f"References: {notice['References']} {notice['Message-ID']}\n"
              f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
              f"Funciona, gracias.\n\nEl lun, 2 mar 2026 a las 10:15, Helpful IT escribió:\n{quoted}\n")
    send(env, answer.encode(), sender=CUSTOMER)
    wait_for(env, SUPPORT, 1)
    imap.poll(Mailbox.from_url(url(env)))
    event = ticket.events.filter(code=EventCode.PUBLIC_REPLY).order_by("pk").last()
    assert event.body == "Funciona, gracias." and event.actor == carmen.user


def _load(env, n: int) -> None:
    """n distinct messages straight into the support INBOX (IMAP APPEND)."""
    base = eml("gmail_new_en.eml")
    c = client(env, SUPPORT)
    for i in range(n):
        c.append("INBOX", base.replace(b"gmail-new-en-0001", f"kill-{i:04}".encode())
                 .replace(b"jams on every job", f"jams on job {i}".encode()))
    c.logout()


@pytest.fixture
def child(desk_on_servers, tmp_path) -> dict[str, str]:
    """The environment of a poller process of its own, on the test database."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        database_url = f"sqlite:///{db['NAME']}"
    else:
        database_url = (f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'])}@{db['HOST']}:"
                        f"{db['PORT']}/{db['NAME']}")
    var = tmp_path / "var"
    var.mkdir()
    return {**os.environ, "DATABASE_URL": database_url, "TIERDESK_VAR_DIR": str(var),
            "DEFAULT_FROM_EMAIL": SUPPORT, "MAIL_MESSAGE_ID_DOMAIN": "tierdesk.test",
            "MAIL_NEW_TICKETS_PER_SENDER_HOUR": "1000", "MAIL_MESSAGES_PER_SENDER_HOUR": "1000",
            "PYTHONPATH": str(ROOT), "LOG_LEVEL": "ERROR"}


def _run_child(env, child_env, crash_at: str = "", timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own script, our own arguments
        [sys.executable, str(Path(__file__).parent / "crashing_poll.py"), url(env)],
        env={**child_env, "CRASH_AT": crash_at, "BATCH": "3"}, capture_output=True, text=True,
        timeout=timeout, cwd=ROOT)


def _assert_each_once(env, n: int) -> None:
    assert InboundMessage.objects.count() == n
    assert set(InboundMessage.objects.values_list("state", flat=True)) == {"processed"}
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == sorted(
        f"Printer on the 3rd floor jams on job {i}" for i in range(n))
    assert TicketEvent.objects.filter(code=EventCode.CREATED).count() == n
    hooks.run_pending()  # the worker's part (no worker beside the pollers): the acknowledgements
    assert OutboxMessage.objects.filter(key__startswith="mail:created:").count() == n
    c = client(env, SUPPORT)
    c.select_folder("INBOX", readonly=True)
    assert c.search(["UNSEEN"]) == [] and len(c.search(["ALL"])) == n
    c.logout()


CRASH_POINTS = [
    "inbound:receive_many:2:before",   # fetched, not stored
    "inbound:receive_many:2",          # stored and committed, not processed
    "actions:create_ticket:4",         # inside the transaction, before its commit
    "inbound:process:4",               # committed, not marked on the server
    "imap:_mark_done:1",               # a batch marked, the rest not fetched yet
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_a_poller_killed_anywhere_and_started_again_takes_each_message_once(desk_on_servers,
                                                                             child, crash_at):
    env = desk_on_servers
    _load(env, 8)
    died = _run_child(env, child, crash_at)
    assert died.returncode == -signal.SIGKILL, died.stderr[-2000:]
    done = _run_child(env, child)
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_each_once(env, 8)


def test_a_poller_killed_at_random_moments_takes_each_message_once(desk_on_servers, child):
    env = desk_on_servers
    n = 24
    _load(env, n)
    rng = random.Random(7)
    kills = 0
    for _ in range(12):
        proc = subprocess.Popen(  # noqa: S603 - our own script, our own arguments
            [sys.executable, str(Path(__file__).parent / "crashing_poll.py"), url(env)],
            env={**child, "BATCH": "4"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        try:
            proc.wait(timeout=rng.uniform(1.0, 4.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        finally:
            proc.stdout.close()
            proc.stderr.close()
        if proc.returncode == 0 and InboundMessage.objects.filter(state="processed").count() == n:
            break
    else:
        assert _run_child(env, child).returncode == 0
    inbound.process_pending()
    _assert_each_once(env, n)


def test_two_pollers_of_one_mailbox_at_once_take_each_message_once(desk_on_servers, child):
    """Two consumers at once (two worker machines, or a poller per core): both fetch the
    same unseen messages; each is stored once (its Message-ID), acted on once (the claim),
    and marked on the server by whichever finished it."""
    env = desk_on_servers
    n = 12
    _load(env, n)
    procs = [subprocess.Popen(  # noqa: S603 - our own script, our own arguments
        [sys.executable, str(Path(__file__).parent / "crashing_poll.py"), url(env)],
        env={**child, "BATCH": str(batch)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT) for batch in (3, 4)]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err[-2000:]
        done.append(out.strip())
    print(done)  # fetched/stored/processed by each: how the work was shared
    _assert_each_once(env, n)
