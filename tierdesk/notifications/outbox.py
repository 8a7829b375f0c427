"""The outbox: everything that leaves the process is a row first, sent after commit.

`enqueue_email` (and `enqueue_webhook`) write a row inside the caller's
transaction and, once that commits, queue a task that sends it. A rolled-back
action therefore sends nothing, and a committed one loses nothing: if the task
never runs, the SMTP server is down or the worker is killed mid-send, the row
stays pending and the periodic `retry_outbox` task sends it later, with an
exponential backoff, until it gives up after `OUTBOX_MAX_ATTEMPTS` (state
"dead", kept with its last error for an admin to read and retry).

Delivery is at least once: a row is claimed with a conditional UPDATE that
leases it for `LEASE` (healthchecks' sendalerts), so two workers never send it
at the same time; a worker killed after the SMTP server accepted a message but
before the row was marked sent makes it go again after the lease. Every mail
carries a Message-ID derived from the row, so a receiver can drop the duplicate.
"""

from __future__ import annotations

import enum
import functools
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import urllib.request
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F, Field, JSONField, Model, Q
from django.db.models.expressions import RawSQL

from tierdesk.lib import clock
from tierdesk.lib.sql import insert_many
from tierdesk.notifications.models import OutboxMessage

if TYPE_CHECKING:
    from tierdesk.tickets.models import Ticket

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
WEBHOOK_TIMEOUT = 10


def max_attempts() -> int:
    return int(getattr(settings, "OUTBOX_MAX_ATTEMPTS", 12))


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 1, 2, 4, 8 ... minutes, at most 6 hours."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def enqueue_email(*, key: str, to: Iterable[str], subject: str, text: str, html: str = "",
                  headers: dict[str, str] | None = None,
                  ticket: Ticket | None = None,
                  attachments: Iterable[tuple[str, bytes, str]] = ()) -> OutboxMessage:
    """Queue one email inside the caller's transaction; sent after it commits.

    `key` names the message for good: queuing the same key again returns the
    row already there (and changes nothing), so a retried action or a sweep run
    twice never mails twice. `attachments` are (filename, content, mimetype),
    kept base64 in the row's JSON `body` (unused by emails) until sent.
    """
    import base64

    recipients = [a for a in to if a]
    if not recipients:
        raise ValueError("an email needs at least one recipient")
    files = [{"filename": name, "content_type": mimetype,
              "content": base64.b64encode(content).decode()} for name, content, mimetype in attachments]
    return _enqueue(key=key, kind=OutboxMessage.Kind.EMAIL, ticket=ticket, to=recipients,
                    subject=subject[:300], text=text, html=html, headers=dict(headers or {}),
                    **({"body": {"attachments": files}} if files else {}))


def enqueue_webhook(*, key: str, url: str, body: Any, headers: dict[str, str] | None = None,
                    ticket: Ticket | None = None, internet_only: bool = False) -> OutboxMessage:
    """Queue one webhook POST (a JSON body) inside the caller's transaction.

    `internet_only` (a customer's receiver): at each attempt the name is resolved
    again, refused if it now points into a private network, and the connection
    goes to the very address checked (a DNS answer that changes after the check
    cannot lead the server into its own network).
    """
    return _enqueue(key=key, kind=OutboxMessage.Kind.WEBHOOK, ticket=ticket, url=url, body=body,
                    headers=dict(headers or {}), internet_only=internet_only)


def _enqueue(*, key: str, kind: str, ticket: Ticket | None, **fields: Any) -> OutboxMessage:
    now = clock.now()
    # get_or_create inserts in its own savepoint and, when a concurrent enqueue of the same
    # key wins, reads that row instead: no outer savepoint is needed around it.
    message, created = OutboxMessage.objects.get_or_create(
        key=key[:200], defaults={"kind": kind, "ticket": ticket, "created_at": now,
                                 "next_attempt_at": now, **fields})
    if created:
        pk = message.pk
        transaction.on_commit(lambda: _schedule(pk))
    return message


def _schedule(pk: int) -> None:
    from tierdesk.notifications.tasks import deliver_message

    try:
        deliver_message(pk)
    except Exception:
        # The queue is down or the immediate send failed: the row is still
        # pending and the periodic retry will pick it up.
        log.exception("could not hand outbox message %s to the queue", pk)


# --------------------------------------------------------------------------- sending


def claim(pk: int, now: datetime) -> OutboxMessage | None:
    """Take a due message for LEASE; None if it is not due or another worker has it."""
    claimed = OutboxMessage.objects.filter(
        pk=pk, state=OutboxMessage.State.PENDING, next_attempt_at__lte=now,
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return OutboxMessage.objects.get(pk=pk)


def deliver(pk: int, *, now: datetime | None = None) -> bool:
    """Send one message if it is due and unclaimed. True when it went out now."""
    now = now or clock.now()
    message = claim(pk, now)
    if message is None:
        return False
    try:
        if message.kind == OutboxMessage.Kind.WEBHOOK:
            _post(message)
        else:
            _send_mail(message)
    except Exception as exc:  # any failure: keep the row, try again later
        _failed(message, exc, now)
        return False
    OutboxMessage.objects.filter(pk=pk).update(state=OutboxMessage.State.SENT, sent_at=clock.now(),
                                               last_error="")
    return True


def deliver_due(now: datetime | None = None, *, batch: int = 200) -> int:
    """Send every pending message whose time has come (the periodic retry). Returns how many went."""
    now = now or clock.now()
    ids = list(OutboxMessage.objects.filter(state=OutboxMessage.State.PENDING,
                                            next_attempt_at__lte=now)
               .order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:batch])
    return sum(deliver(pk, now=now) for pk in ids)


def _failed(message: OutboxMessage, exc: Exception, now: datetime) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if message.attempts >= max_attempts():
        log.error("outbox %s (%s): giving up after %d attempts: %s", message.pk, message.key,
                  message.attempts, error)
        OutboxMessage.objects.filter(pk=message.pk).update(state=OutboxMessage.State.DEAD,
                                                           last_error=error)
        return
    wait = backoff(message.attempts)
    log.warning("outbox %s (%s): attempt %d failed, next in %s: %s", message.pk, message.key,
                message.attempts, wait, error)
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=now + wait, last_error=error)


def message_id(pk: int) -> str:
    """The Message-ID of an outbox mail that names none of its own: the staff's
    notifications (a notice to a customer carries its ticket's id, tierdesk.mail.ids)."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].rstrip(">") or "tierdesk.localhost"
    return f"outbox-{pk}@{domain}"


def outbox_pk(mid: str) -> int | None:
    """The outbox row a Message-ID of ours names, if it is one (see `message_id`)."""
    local, _, domain = mid.strip().strip("<>").partition("@")
    number = local.removeprefix("outbox-")
    if local == number or not number.isdigit():
        return None
    return int(number) if message_id(int(number)).lower() == f"{local}@{domain}".lower() else None


def _send_mail(message: OutboxMessage) -> None:
    headers = dict(message.headers or {})
    headers.setdefault("Message-ID", f"<{message_id(message.pk)}>")
    # Every mail of ours tells robots not to answer it (RFC 3834), and every mail about
    # a ticket names the ticket's thread root, so clients group it with the ticket's
    # other mail and a reply finds the ticket (tierdesk.mail.ids, docs/EMAIL.md).
    headers.setdefault("Auto-Submitted", "auto-generated")
    ticket = message.ticket if message.ticket_id is not None else None
    if ticket is not None and "References" not in headers:
        from tierdesk.mail import ids

        root = ids.bracket(ids.root(ticket.number))
        headers.setdefault("In-Reply-To", root)
        headers["References"] = root
    from_email = headers.pop("From", None) or settings.DEFAULT_FROM_EMAIL
    mail = EmailMultiAlternatives(subject=message.subject, body=message.text,
                                  from_email=from_email, to=list(message.to), headers=headers,
                                  connection=get_connection(fail_silently=False))
    if message.html:
        mail.attach_alternative(message.html, "text/html")
    if isinstance(message.body, dict):  # attachments of enqueue_email
        import base64

        for f in message.body.get("attachments", []):
            mail.attach(f["filename"], base64.b64decode(f["content"]), f["content_type"])
    mail.send()


def _post(message: OutboxMessage) -> None:
    if not message.url.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {message.url!r}")
    data = json.dumps(message.body).encode()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        message.url, data=data, method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": message.key,
                 **(message.headers or {})})
    opener = _pinned_opener(message.url) if message.internet_only else _NO_REDIRECTS
    with opener.open(request, timeout=WEBHOOK_TIMEOUT) as response:
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


class NotOnTheInternet(ValueError):
    """A customer's receiver whose name leads into a private network."""


def internet_address(host: str, port: int) -> str:
    """The address to connect to for `host`, if every address it resolves to is public."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)  # OSError: retried
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses or not all(a.is_global for a in addresses):
        raise NotOnTheInternet(f"{host} is not an address on the internet")
    return str(addresses[0])


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to `host` (certificate and SNI checked against the name) over a TCP
    connection to the one address already checked."""

    def __init__(self, host: str, *, address: str, context: ssl.SSLContext,
                 **kwargs: Any) -> None:
        super().__init__(host, context=context, **kwargs)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, address: str) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(context=self._tls)
        self._pinned = address

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_PinnedHTTPSConnection, address=self._pinned)
        return self.do_open(connection, req, context=self._tls)


def _pinned_opener(url: str) -> urllib.request.OpenerDirector:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise NotOnTheInternet(f"not an https URL: {url!r}")
    address = internet_address(parts.hostname, parts.port or 443)
    return urllib.request.build_opener(_RefuseRedirects, _PinnedHTTPSHandler(address))


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A receiver answers; it does not send us elsewhere. Followed, a redirect would let
    a customer's https URL lead the server into its own network (a 3xx is a failure)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_RefuseRedirects)


def enqueue_emails(mails: Iterable[dict[str, Any]]) -> list[int]:
    """`enqueue_email` for many mails (dicts of its keyword arguments, no attachments) in
    one read of the keys already queued and one bulk INSERT; their delivery is queued as
    one task after the commit. Returns the ids of the rows written now."""
    now = clock.now()
    mails = [m for m in mails if any(m.get("to") or ())]
    keys = [m["key"][:200] for m in mails]
    queued = set(OutboxMessage.objects.filter(among("key", keys))
                 .values_list("key", flat=True)) if keys else set()
    rows: dict[str, dict[str, Any]] = {}
    for mail, key in zip(mails, keys, strict=True):
        if key in queued or key in rows:
            continue
        ticket = mail.get("ticket")
        rows[key] = {"key": key, "kind": OutboxMessage.Kind.EMAIL.value,
                     "ticket_id": ticket.pk if ticket is not None else None,
                     "to": [a for a in mail["to"] if a], "subject": mail["subject"][:300],
                     "text": mail["text"], "html": mail.get("html", ""),
                     "headers": dict(mail.get("headers") or {}),
                     "created_at": now, "next_attempt_at": now}
    ids = insert_rows(OutboxMessage, list(rows.values()))
    if ids:
        transaction.on_commit(lambda: _schedule_many(ids))
    return ids


def among(field: str, values: list[str]) -> Q:
    """`field IN values`, for text values. On PostgreSQL they travel as one array parameter:
    a thousand placeholders cost the driver more to lay out than the query costs the server."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__in": RawSQL("SELECT unnest(%s::text[])", [list(values)])})
    return Q(**{f"{field}__in": list(values)})


def insert_rows(model: type[Model], rows: list[dict[str, Any]]) -> list[int]:
    """INSERT rows given as {attname: value}, every row the same fields (a field not given
    gets its default), in bulk, in the caller's transaction; returns their ids, in order.
    On PostgreSQL: ids from the sequence and one COPY — no model instances, no parameters
    laid out one by one."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        created = [model(**row) for row in rows]
        insert_many(created)
        return [m.pk for m in created]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    table = model._meta.db_table
    with connection.cursor() as cur:
        cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) "
                    "FROM generate_series(1, %s)", [table, len(rows)])
        ids = [row[0] for row in cur.fetchall()]
        columns = ", ".join(connection.ops.quote_name(c)
                            for c in ("id", *(str(f.column) for f in fields)))
        # Per column: the row's value, or the field's default (the same for every row).
        cells = [(f, f.attname, f.attname not in rows[0], _copy_value(f, f.get_default()))
                 for f in fields]
        with cur.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for pk, row in zip(ids, rows, strict=True):
                copy.write_row((pk, *(default if missing else _copy_value(f, row[name])
                                      for f, name, missing, default in cells)))
    return ids


def _copy_value(field: Field, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, JSONField):
        return json.dumps(value, cls=field.encoder)
    if isinstance(value, enum.Enum):  # a TextChoices member: its value, not its name
        return value.value
    return value


def _schedule_many(ids: list[int]) -> None:
    from tierdesk.notifications.tasks import deliver_messages

    try:
        deliver_messages(ids)
    except Exception:  # as in _schedule: the periodic retry sends them
        log.exception("could not hand %d outbox messages to the queue", len(ids))
