"""The one path every inbound message takes, from either door (IMAP or standard input).

1. `receive`: the raw bytes are written and committed first, keyed by
   Message-ID (or a content hash): nothing is lost, and a copy already known
   is found instead of stored twice.
2. `process`: the bytes are parsed (pure work, outside any transaction); then in
   ONE transaction the row is claimed with a conditional UPDATE (only a row still
   `received` or `failed` is taken), routed, acted on through the ticket actions,
   and given its final state. Outbound mail the actions cause is queued in that
   same transaction. A process killed anywhere leaves either nothing of it (the
   row is still `received`; the next run takes it) or all of it (the row is
   final; the next run skips it).
3. A failure rolls everything back; the row is marked `failed` with the error
   and retried by the sweep until `MAIL_MAX_ATTEMPTS`, then left for an admin.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from datetime import datetime
from email.message import Message

from django.contrib.auth.models import BaseUserManager
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import transaction
from django.db.models import F
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Contact, User
from tierdesk.lib import clock
from tierdesk.mail import conf, outbound, parse, route, rows
from tierdesk.mail.models import InboundMessage
from tierdesk.mail.quotes import strip_quotes
from tierdesk.tickets import actions
from tierdesk.tickets.actions import base, escalation
from tierdesk.tickets.actions.conversation import MAX_BODY
from tierdesk.tickets.attachments import check_uploads
from tierdesk.tickets.errors import ActionError
from tierdesk.tickets.models import Channel, Ticket, TicketEvent
from tierdesk.tickets.permissions import is_agent

log = logging.getLogger(__name__)

State = InboundMessage.State
Reason = InboundMessage.Reason
Outcome = InboundMessage.Outcome

_REPLY_PREFIX = r"^\s*((re|fwd?|rv|aw|wg|tr|r|sv|vs|antw|resp|rif|enc)\s*(\[\d+\])?\s*:\s*)+"


# ---------------------------------------------------------------------------- receive


# A message up to this size is parsed once, before it is stored: the dedupe key reads
# its headers from that parse and processing goes on with it. Larger ones keep the
# cheap header read first (a duplicate or an oversized one is never parsed whole).
_PARSE_FIRST_BYTES = 256 * 1024
# Where a row keeps the parsed message it was stored with (not a column), for process().
_PARSED = "_td_message"


def _read(raw: bytes) -> Message | None:
    return parse.read(raw) if len(raw) <= min(_PARSE_FIRST_BYTES, conf.max_bytes()) else None


def receive(raw: bytes, *, source: str, now: datetime | None = None, size: int | None = None,
            truncated: bool = False) -> tuple[InboundMessage, bool]:
    """Store one raw message (committed on return). (row, False) when it was already known.

    `truncated`: only the headers of a message too large to download (IMAP); `size`
    is then the size of the whole, which stays on the server."""
    message = None if truncated else _read(raw)
    key, message_id = parse.dedupe_key(raw, message)
    row = InboundMessage(
        dedupe_key=key, message_id=message_id[:255], source=source[:200], raw=raw,
        size=size if size is not None else len(raw), received_at=now or clock.now(),
        details={"truncated": True} if truncated else {})
    # One statement, committed on its own (autocommit): the first copy is written,
    # a second finds it (ON CONFLICT DO NOTHING: no exception, no savepoint).
    if base.insert(row, unique="dedupe_key"):
        if message is not None:
            row.__dict__[_PARSED] = message
        return row, True
    return _known(key), False


_FINAL = ["state", "reason", "outcome", "error", "processed_at", "from_address", "subject",
          "automated", "ticket", "event", "details"]


_KNOWN = (rows.Part(InboundMessage, "m", exclude=("raw",)),)


@functools.cache
def _known_sql() -> str:
    (m,) = _KNOWN
    return (f"SELECT {m.columns()} FROM {m.table()} "  # noqa: S608
            f"WHERE m.{rows.column(InboundMessage, 'dedupe_key')} = %s")


def _known(key: str) -> InboundMessage:
    """The row already stored under a dedupe key, without its raw bytes."""
    found = rows.fetch(_known_sql(), [key], _KNOWN)
    if found is None or found[0] is None:
        raise InboundMessage.DoesNotExist(key)
    return found[0]  # type: ignore[return-value]


def receive_many(raws: Iterable[bytes], *, source: str,
                 now: datetime | None = None) -> list[tuple[InboundMessage, bool]]:
    """Store a batch in one transaction (IMAP fetches in batches); same answers as `receive`."""
    now = now or clock.now()
    keyed = []
    for raw in raws:
        message = _read(raw)
        keyed.append((parse.dedupe_key(raw, message), raw, message))
    with transaction.atomic():
        known = set(InboundMessage.objects.filter(
            dedupe_key__in=[k for (k, _m), _r, _p in keyed]).values_list("dedupe_key", flat=True))
        fresh: dict[str, InboundMessage] = {}
        for (key, message_id), raw, _p in keyed:
            if key not in known and key not in fresh:
                fresh[key] = InboundMessage(dedupe_key=key, message_id=message_id[:255],
                                            source=source[:200], raw=raw, size=len(raw),
                                            received_at=now)
        InboundMessage.objects.bulk_create(fresh.values(), ignore_conflicts=True)
    rows = {r.dedupe_key: r for r in InboundMessage.objects.defer("raw").filter(
        dedupe_key__in=[k for (k, _m), _r, _p in keyed])}
    answers, seen = [], set()
    for (key, _mid), _raw, message in keyed:
        row = rows[key]
        created = key in fresh and key not in seen
        if created and message is not None:
            row.__dict__[_PARSED] = message
        answers.append((row, created))
        seen.add(key)
    return answers


# ---------------------------------------------------------------------------- process


def ingest(raw: bytes, *, source: str, now: datetime | None = None) -> InboundMessage:
    """Receive and process one message (`tierdesk mail ingest`, tests, the benchmark)."""
    row, _created = receive(raw, source=source, now=now)
    if row.state in (State.RECEIVED, State.FAILED):
        row.raw = raw
        return process(row, now=now)
    return row


def process(message: int | InboundMessage, *, now: datetime | None = None,
            release: bool = False) -> InboundMessage:
    """Act on one stored message exactly once. `release`: an agent let a held one through.

    `message` is a primary key, or a row just stored with its raw bytes in hand
    (saves reading them back). Parsing is pure work on bytes: it is done before
    the transaction, so the database's write lock is held only for routing and acting.
    """
    states = [State.RECEIVED, State.FAILED, *([State.HELD] if release else [])]
    given = message if isinstance(message, InboundMessage) else None
    pk: int = given.pk if given is not None else message  # type: ignore[assignment]
    try:
        row = given if given is not None and "raw" in given.__dict__ else \
            InboundMessage.objects.get(pk=pk)
        if row.state not in states:
            return row
        work = _Processing(row, now=now or clock.now(), release=release)
        with transaction.atomic():
            claimed = rows.execute(_claim_sql(len(states)), [State.PROCESSED.value, pk, *states])
            if not claimed:  # another process took it since we read it
                return InboundMessage.objects.defer("raw").get(pk=pk)
            row.attempts += 1
            work.run()
            return row
    except Exception as exc:
        # Nothing of it stayed. Keep the error for the retry sweep and the admin.
        log.exception("inbound message %s could not be processed", pk)
        InboundMessage.objects.filter(pk=pk, state__in=states).update(
            state=State.FAILED, attempts=F("attempts") + 1,
            error=f"{type(exc).__name__}: {exc}"[:4000])
        return InboundMessage.objects.get(pk=pk)


@functools.cache
def _claim_sql(n: int) -> str:
    """Take a row still in one of n states (the conditional UPDATE of exactly once);
    written by hand, as the routing reads are (rows.py): it runs for every message."""
    m, col = InboundMessage, rows.column
    state, attempts = col(m, "state"), col(m, "attempts")
    return (f"UPDATE {rows.table(m)} SET {state} = %s, {attempts} = {attempts} + 1 "  # noqa: S608
            f"WHERE {col(m, 'id')} = %s AND {state} IN ({', '.join(['%s'] * n)})")


def process_pending(*, now: datetime | None = None, limit: int = 500) -> int:
    """The sweep: messages stored but never processed (a killed process), and failed ones."""
    now = now or clock.now()
    pks = list(InboundMessage.objects.filter(state__in=[State.RECEIVED, State.FAILED],
                                             attempts__lt=conf.max_attempts())
               .order_by("received_at", "pk").values_list("pk", flat=True)[:limit])
    for pk in pks:
        process(pk, now=now)
    return len(pks)


def release_confirmed(*, now: datetime | None = None, limit: int = 200) -> int:
    """Held messages of senders an agent has since confirmed: process them now."""
    held = list(InboundMessage.objects.filter(
        state=State.HELD, reason__in=[Reason.UNKNOWN_SENDER, Reason.HELD_CONTACT])
        .order_by("received_at", "pk").values_list("pk", "from_address")[:limit])
    confirmed = set(Contact.objects.filter(
        user__email__in={a for _pk, a in held}, held_for_review=False, user__is_active=True)
        .values_list("user__email", flat=True))
    done = 0
    for pk, address in held:
        if address in confirmed:
            process(pk, now=now, release=True)
            done += 1
    return done


class _Processing:
    """One message's trip: parsed when made, then routed and acted on by run(), inside
    process()'s transaction."""

    def __init__(self, row: InboundMessage, *, now: datetime, release: bool) -> None:
        self.row = row
        self.now = now
        self.release = release
        self.details: dict = {}
        self.oversized = row.size > conf.max_bytes() or bool(row.details.get("truncated"))
        self.mail = parse.parse(bytes(row.raw), headers_only=self.oversized and not release,
                                message=row.__dict__.pop(_PARSED, None))

    def run(self) -> None:
        row, mail, oversized = self.row, self.mail, self.oversized
        row.state = State.PROCESSED
        row.from_address = mail.sender.email if mail.sender else ""
        row.subject = mail.subject[:255]
        row.automated = mail.automation != parse.Automation.HUMAN
        decision = route.decide(mail, now=self.now, oversized=oversized, release=self.release)
        self.details = {**row.details, "route": decision.kind}
        if decision.found_by:
            self.details["found_by"] = decision.found_by
        if mail.language:
            self.details["language"] = mail.language
        facts = outbound.Inbound(sender=row.from_address, automated=row.automated,
                                 message_id=mail.message_id)
        with outbound.answering(facts):
            self._act(decision)
        row.details = self.details
        row.processed_at = self.now
        base.update(row, _FINAL)

    # -- the routes -----------------------------------------------------------------

    def _act(self, decision: route.Route) -> None:
        row = self.row
        row.error = ""
        row.reason = decision.reason
        if decision.kind == route.REPLY:
            self._reply(decision)
        elif decision.kind == route.CREATE:
            self._create(decision, requester=decision.requester or self._contact(decision))
        elif decision.kind == route.NOTE:
            self._bounce_note(decision)
        elif decision.kind == route.INTERNAL:
            self._reply(decision, internal=True)
        else:
            row.state = {route.HOLD: State.HELD, route.IGNORE: State.IGNORED,
                         route.REFUSE: State.REFUSED}[decision.kind]
            if decision.new_contact is not None:
                self._contact(decision)
            if decision.reason == Reason.OVERSIZED and decision.ticket is not None:
                self._note(decision.ticket, _(
                    "A message by email from %(sender)s (%(size)s) was held because it is "
                    "larger than %(limit)s. An administrator can release it from the inbound "
                    "messages.") % {"sender": row.from_address, "size": filesizeformat(row.size),
                                    "limit": filesizeformat(conf.max_bytes())})
                row.ticket = decision.ticket
        if decision.notice and self.mail.sender is not None:
            outbound.answer_sender(kind=decision.notice, message=row, to=self.mail.sender.email,
                                   language=self.mail.language, in_reply_to=self.mail.message_id)
            self.details["answered"] = decision.notice

    def _reply(self, decision: route.Route, *, internal: bool = False) -> None:
        """The message joins its ticket: a public reply or, for an agent's answer to a
        staff notification (`internal`), an internal note."""
        ticket = decision.ticket
        assert ticket is not None
        body = strip_quotes(self.mail.text) if self.mail.text.strip() else ""
        files = self._files(ticket)
        text = self._body(body, files)
        try:
            if internal:
                event = actions.add_internal_note(actor=decision.actor, ticket=ticket, body=text,
                                                  attachments=files, at=self.now)
            else:
                event = actions.add_reply(actor=decision.actor, ticket=ticket, body=text,
                                          attachments=files, at=self.now, via=Channel.EMAIL)
        except ActionError as exc:
            if (not internal and exc.code == "reopen_window_passed"
                    and decision.requester is not None):
                # Too late to reopen it: the message opens a follow-up instead (seed 004).
                self.details["follow_up_of"] = ticket.reference
                self._create(decision, requester=decision.requester)
                return
            self._refused(exc)
            return
        if internal:
            self._done(Outcome.NOTED, ticket, event)
            return
        self._escalate(decision, ticket, body)
        self._done(Outcome.REPLIED, ticket, event)

    def _escalate(self, decision: route.Route, ticket: Ticket, body: str) -> None:
        """Seed 001 by email: a customer's message whose subject asks to escalate the case
        (docs/AUTOMATION.md). Refused (too soon, resolved): noted on the ticket for staff."""
        if decision.actor is not None and is_agent(decision.actor):
            return
        if not escalation.asks_to_escalate(self.mail.subject):
            return
        reason = body.strip() or self.mail.subject.strip()
        try:
            with transaction.atomic():
                actions.escalate_by_customer(actor=decision.actor, ticket=ticket,
                                             reason=reason[:2000], channel="email", at=self.now)
        except ActionError as exc:
            self.details["escalation"] = exc.message
            self._note(ticket, _("The customer asked by email to escalate the case; it was "
                                 "not escalated: %(why)s") % {"why": exc.message})
        else:
            self.details["escalation"] = "escalated"

    def _create(self, decision: route.Route, *, requester: Contact) -> None:
        subject = self._subject()
        description = self.mail.text.strip()
        follow_up = self.details.get("follow_up_of")
        if follow_up:
            description = strip_quotes(description)
        files = self._files(None)
        try:
            ticket = actions.create_ticket(actor=None, at=self.now, new=actions.NewTicket(
                requester=requester, subject=subject, description=self._body(description, files),
                channel=Channel.EMAIL, cc=decision.cc, attachments=files))
        except ActionError as exc:
            self._refused(exc)
            return
        if follow_up:
            self._note(ticket, _("Follow-up by email to %(ref)s, which was resolved too long ago "
                                 "to reopen.") % {"ref": follow_up})
        self._done(Outcome.CREATED, ticket, None)
        self.row.event_id = _created_event_id(ticket.pk)

    def _bounce_note(self, decision: route.Route) -> None:
        ticket = decision.ticket
        assert ticket is not None
        who = ", ".join(self.mail.bounced_recipients) or _("a recipient")
        excerpt = self.mail.text.strip()[:2000]
        event = self._note(ticket, _("Mail about this ticket to %(who)s could not be delivered. "
                                     "The delivery report said:") % {"who": who}
                           + "\n\n" + excerpt)
        self.row.state = State.IGNORED
        self.row.outcome = Outcome.NOTED
        self.row.ticket = ticket
        self.row.event = event

    # -- helpers ---------------------------------------------------------------------

    def _done(self, outcome: str, ticket: Ticket, event: TicketEvent | None) -> None:
        self.row.state = State.PROCESSED
        self.row.outcome = outcome
        self.row.ticket = ticket
        self.row.event = event
        self.details["withheld"] = self.details.get("withheld", [])
        if self.details["withheld"]:
            self._note(ticket, _("Files of this message were not added to the ticket:") + "\n"
                       + "\n".join(f"- {w['name']}: {w['why']}" for w in self.details["withheld"])
                       + "\n" + _("The original message keeps them."))
        if not self.details["withheld"]:
            del self.details["withheld"]

    def _refused(self, exc: ActionError) -> None:
        self.row.state = State.HELD
        self.row.reason = Reason.REFUSED_BY_ACTION
        self.row.error = exc.message

    def _note(self, ticket: Ticket, body: str) -> TicketEvent:
        return actions.add_internal_note(actor=None, ticket=ticket, body=body, at=self.now)

    def _subject(self) -> str:
        subject = re.sub(_REPLY_PREFIX, "", self.mail.subject, flags=re.I).strip()
        if len(subject) > 200:
            subject = subject[:199].rstrip() + "…"
        return subject or _("(no subject)")

    def _body(self, text: str, files: list[UploadedFile]) -> str:
        text = text.strip()
        if self.mail.encrypted and not text:
            text = _("(This message is encrypted; the original is attached.)")
        if not text:
            text = _("(No text; see the attached files.)") if files else _("(The message was empty.)")
        limit = MAX_BODY - 200
        if len(text) > limit:
            text = text[:limit] + "\n\n" + _("[Cut here: the full text is in the original message.]")
        return text

    def _files(self, ticket: Ticket | None) -> list[UploadedFile]:
        """The attachments the ticket will take; the others are listed as withheld."""
        from tierdesk.tickets.actions.base import attachments_bytes

        stored = attachments_bytes(ticket) if ticket is not None and self.mail.attachments else 0
        files: list[UploadedFile] = []
        withheld = []
        for att in self.mail.attachments:
            upload = SimpleUploadedFile(att.filename, att.data, att.content_type)
            try:
                check_uploads([upload], already_stored=stored)
            except ActionError as exc:
                withheld.append({"name": att.filename, "why": exc.message})
                continue
            stored += len(att.data)
            files.append(upload)
        self.details["attachments"] = [f.name for f in files]
        if withheld:
            self.details["withheld"] = withheld
        return files

    def _contact(self, decision: route.Route) -> Contact:
        """Create the contact the route asks for (or find it, if another message just did)."""
        new = decision.new_contact
        assert new is not None
        user = User.objects.filter(email=new.email).select_related("contact").first()
        if user is not None and getattr(user, "contact", None) is not None:
            return user.contact
        if user is None:
            language = new.language if new.language in dict(_languages()) else ""
            user = User.objects.create_user(BaseUserManager.normalize_email(new.email),
                                            None, full_name=new.name[:200], language=language)
        return Contact.objects.create(user=user, organisation=new.organisation,
                                      held_for_review=new.held)


@functools.cache
def _created_sql() -> str:
    e, col = TicketEvent, rows.column
    return (f"SELECT {col(e, 'id')} FROM {rows.table(e)} WHERE {col(e, 'ticket')} = %s "  # noqa: S608
            f"ORDER BY {col(e, 'id')} LIMIT 1")


def _created_event_id(ticket_id: int) -> int | None:
    """The ticket's first event (its `created`), by primary key: all the row keeps of it."""
    found = rows.one(_created_sql(), [ticket_id])
    return found[0] if found is not None else None


def _languages() -> list[tuple[str, str]]:
    from django.conf import settings

    return list(settings.LANGUAGES)


def release(pk: int, *, by: str = "", now: datetime | None = None) -> InboundMessage:
    """An agent lets a held (or failed) message through: processed again, without the
    limits that held it. Who did it stays in the row's details."""
    row = InboundMessage.objects.defer("raw").get(pk=pk)
    if row.state not in (State.HELD, State.FAILED):
        return row
    if by:
        row.details = {**row.details, "released_by": by}
        row.save(update_fields=["details"])
    return process(pk, now=now, release=True)


def dismiss(pk: int, *, by: str = "") -> bool:
    """An agent decides a held (or failed) message needs nothing: ignored for good."""
    with transaction.atomic():
        row = InboundMessage.objects.select_for_update().defer("raw").filter(
            pk=pk, state__in=[State.HELD, State.FAILED]).first()
        if row is None:
            return False
        row.state, row.reason = State.IGNORED, Reason.DISMISSED
        if by:
            row.details = {**row.details, "dismissed_by": by}
        row.save(update_fields=["state", "reason", "details"])
    return True


def original(row: InboundMessage) -> parse.ParsedMail:
    """The full original, parsed again from the raw bytes (the admin shows it)."""
    return parse.parse(bytes(row.raw), headers_only=bool(row.details.get("truncated")))
