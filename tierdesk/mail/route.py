"""Where a parsed message goes. Reads only: `inbound` carries the decision out.

The questions, in order (the first answer wins):

1. Is it ours, or no one's? Mail from our own addresses, or carrying one of our
   own Message-IDs, is ignored; mail with no usable sender is held.
2. Did a machine write it? Delivery reports are noted on the ticket whose
   notice bounced; automatic replies are ignored. Other automated mail (lists,
   monitoring) goes on, but is never answered.
3. Which ticket does it answer? One of our Message-IDs in In-Reply-To or
   References, then the reference code in the subject, then a Message-ID of a
   message that already joined or opened a ticket. A merged ticket leads to the
   one that carries on. The sender must be allowed to see that ticket.
4. Who sent it? An agent may answer a ticket (an answer to one of the staff's
   notifications stays an internal note: those tell of internal things); a contact answers or opens one in
   their organisation; an unknown address in an organisation's domain becomes a
   contact of it; any other address follows the provider's `unknown_sender`.
5. Not too much: a sender opening more tickets an hour than allowed, or sending
   more messages, is held for review — never dropped.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from tierdesk.accounts.models import Agent, Contact, Organisation, OrganisationDomain, Provider, User
from tierdesk.mail import conf, ids, rows
from tierdesk.mail.models import InboundMessage
from tierdesk.mail.parse import Automation, ParsedMail
from tierdesk.notifications.outbox import outbox_pk
from tierdesk.sla.models import Plan
from tierdesk.tickets.access import parse_reference
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.permissions import can_view, is_agent

Reason = InboundMessage.Reason

REPLY = "reply"
CREATE = "create"
HOLD = "hold"
IGNORE = "ignore"
REFUSE = "refuse"
NOTE = "note"
INTERNAL = "internal"  # an agent's answer to a staff notification: an internal note

_SUBJECT_REF = re.compile(rf"(?<![\w-]){re.escape(settings.TICKET_PREFIX)}-?(\d{{1,18}})(?!\d)", re.I)


@dataclass
class NewContact:
    """A contact inbound must create before it acts."""

    email: str
    name: str
    organisation: Organisation
    held: bool
    language: str = ""


@dataclass
class Route:
    kind: str
    reason: str = ""
    ticket: Ticket | None = None
    actor: User | None = None
    requester: Contact | None = None
    new_contact: NewContact | None = None
    cc: list[Contact] = field(default_factory=list)
    notice: str = ""       # an answer to send to the sender: "not_registered", "too_large"
    found_by: str = ""     # how the ticket was found: "header", "subject", "known_message"


# ----------------------------------------------------------------------------- ticket


_TICKET = (rows.Part(Ticket, "t"), rows.Part(Organisation, "o"), rows.Part(Contact, "c"),
           rows.Part(User, "u"), rows.Part(Plan, "p"))


# The hand-written reads (rows.py): only identifiers from the models' _meta are put
# into the SQL text, never a value (values are parameters). Built once per process.


@functools.cache
def _ticket_sql(key: str) -> str:
    t, o, c, u, p = _TICKET
    col = rows.column
    return (f"SELECT {t.columns()}, {o.columns()}, {c.columns()}, {u.columns()}, "  # noqa: S608
            f"{p.columns()} FROM {t.table()} "
            f"JOIN {o.table()} ON o.{col(Organisation, 'id')} = t.{col(Ticket, 'organisation')} "
            f"JOIN {p.table()} ON p.{col(Plan, 'id')} = o.{col(Organisation, 'plan')} "
            f"JOIN {c.table()} ON c.{col(Contact, 'id')} = t.{col(Ticket, 'requester')} "
            f"JOIN {u.table()} ON u.{col(User, 'id')} = c.{col(Contact, 'user')} "
            f"WHERE t.{col(Ticket, key)} = %s")


def _ticket(*, number: int | None = None, pk: int | None = None) -> Ticket | None:
    """A ticket with its organisation (and its plan: the SLA refresh reads it) and
    requester (the notices the action sends read them), in one query."""
    key = "number" if number is not None else "id"
    found = rows.fetch(_ticket_sql(key), [number if number is not None else pk], _TICKET)
    if found is None:
        return None
    ticket, organisation, contact, user, plan = found
    assert isinstance(ticket, Ticket) and isinstance(contact, Contact)
    assert isinstance(organisation, Organisation)
    rows.cache(organisation, "plan", plan)
    rows.cache(ticket, "organisation", organisation)
    rows.cache(ticket, "requester", contact)
    rows.cache(contact, "user", user)
    rows.cache(contact, "organisation", organisation)
    return ticket


def _live(ticket: Ticket) -> Ticket:
    """Follow merges to the ticket where the work goes on."""
    for _ in range(5):
        if ticket.merged_into_id is None:
            break
        ticket = _ticket(pk=ticket.merged_into_id) or ticket
    return ticket


@functools.cache
def _known_sql(n: int) -> str:
    m, col = InboundMessage, rows.column
    return (f"SELECT {col(m, 'ticket')} FROM {rows.table(m)} WHERE "  # noqa: S608
            f"{col(m, 'message_id')} IN ({', '.join(['%s'] * n)}) AND "
            f"{col(m, 'ticket')} IS NOT NULL ORDER BY {col(m, 'id')} DESC LIMIT 1")


def find_ticket(mail: ParsedMail) -> tuple[Ticket | None, str]:
    numbers = [n for n in (ids.ticket_number(m) for m in mail.thread_ids) if n is not None]
    found_by = "header"
    if not numbers:
        found_by = "subject"
        numbers = [n for n in (parse_reference(m.group(0)) for m in _SUBJECT_REF.finditer(
            mail.subject)) if n is not None]
    if numbers:
        ticket = _ticket(number=numbers[0])
        if ticket is not None:
            return _live(ticket), found_by
    thread = mail.thread_ids[:30]
    if thread:
        row = rows.one(_known_sql(len(thread)), thread)
        ticket = _ticket(pk=row[0]) if row is not None else None
        if ticket is not None:
            return _live(ticket), "known_message"
    return None, ""


# ----------------------------------------------------------------------------- people


_USER = (rows.Part(User, "u"), rows.Part(Agent, "a"), rows.Part(Contact, "c"),
         rows.Part(Organisation, "o"), rows.Part(Plan, "p"))


@functools.cache
def _user_sql() -> str:
    u, a, c, o, p = _USER
    col = rows.column
    return (f"SELECT {u.columns()}, {a.columns()}, {c.columns()}, {o.columns()}, "  # noqa: S608
            f"{p.columns()} FROM {u.table()} "
            f"LEFT JOIN {a.table()} ON a.{col(Agent, 'user')} = u.{col(User, 'id')} "
            f"LEFT JOIN {c.table()} ON c.{col(Contact, 'user')} = u.{col(User, 'id')} "
            f"LEFT JOIN {o.table()} ON o.{col(Organisation, 'id')} = c.{col(Contact, 'organisation')} "
            f"LEFT JOIN {p.table()} ON p.{col(Plan, 'id')} = o.{col(Organisation, 'plan')} "
            f"WHERE u.{col(User, 'email')} = %s LIMIT 1")


def find_user(email: str) -> User | None:
    """The user of an address, with agent, contact, organisation and its plan (what a
    new ticket's SLA rows need), in one query.

    Addresses are stored in lower case (UserManager.create_user): an exact,
    indexed lookup, flat however many people there are."""
    found = rows.fetch(_user_sql(), [email], _USER)
    if found is None:
        return None
    user, agent, contact, organisation, plan = found
    assert isinstance(user, User)
    rows.cache(user, "agent", agent)
    rows.cache(user, "contact", contact)
    for one in (agent, contact):
        if one is not None:
            rows.cache(one, "user", user)
    if contact is not None:
        rows.cache(contact, "organisation", organisation)
        if organisation is not None:
            rows.cache(organisation, "plan", plan)
    return user


_DOMAIN = (rows.Part(Organisation, "o"),)


@functools.cache
def _domain_sql(n: int) -> str:
    (o,), col, d = _DOMAIN, rows.column, rows.column(OrganisationDomain, "domain")
    return (f"SELECT {o.columns()} FROM {o.table()} "  # noqa: S608
            f"JOIN {rows.table(OrganisationDomain)} d "
            f"ON d.{col(OrganisationDomain, 'organisation')} = o.{col(Organisation, 'id')} "
            f"WHERE d.{d} IN ({', '.join(['%s'] * n)}) ORDER BY LENGTH(d.{d}) DESC LIMIT 1")


def organisation_for(email: str) -> Organisation | None:
    """The organisation owning the address's domain or a parent domain (mail.acme.test):
    the most specific domain wins."""
    labels = email.rpartition("@")[2].split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    if not candidates:
        return None
    found = rows.fetch(_domain_sql(len(candidates)), candidates, _DOMAIN)
    return found[0] if found else None  # type: ignore[return-value]


def watchers(mail: ParsedMail, organisation_id: int, *, exclude: set[str]) -> list[Contact]:
    """Contacts of the organisation named in To or Cc: they become the ticket's CC."""
    addresses = {a.email for a in [*mail.to, *mail.cc]} - exclude - conf.own_addresses()
    if not addresses:
        return []
    return list(Contact.objects.select_related("user").filter(
        user__email__in=addresses, organisation_id=organisation_id, held_for_review=False,
        user__is_active=True).order_by("pk"))


# ----------------------------------------------------------------------------- limits


@functools.cache
def _load_sql() -> str:
    m, col = InboundMessage, rows.column
    when = col(m, "received_at")
    return (f"SELECT COALESCE(SUM(CASE WHEN {col(m, 'outcome')} = %s THEN 1 ELSE 0 END), 0), "  # noqa: S608
            f"COALESCE(SUM(CASE WHEN {col(m, 'state')} = %s THEN 1 ELSE 0 END), 0) "
            f"FROM {rows.table(m)} WHERE {col(m, 'from_address')} = %s "
            f"AND {when} >= %s AND {when} <= %s")


@functools.cache
def _count_sql() -> str:
    m, col = InboundMessage, rows.column
    when = col(m, "received_at")
    return (f"SELECT COUNT(*) FROM {rows.table(m)} WHERE {col(m, 'from_address')} = %s "  # noqa: S608
            f"AND {when} >= %s AND {when} <= %s")


def sender_load(email: str, now: datetime) -> tuple[bool, bool]:
    """(too many new tickets, too many messages) from this sender in the last hour.

    Indexed (from_address, received_at), however many messages there are. First
    all the sender's messages of the hour are counted from the index alone: when
    they are fewer than the lower limit, neither limit can be reached (what is
    counted next is a part of them) — the common case, at a third of the cost.
    Otherwise the rows are read for their outcome and state."""
    m = InboundMessage
    since, until = (connection.ops.adapt_datetimefield_value(now - timedelta(hours=1)),
                    connection.ops.adapt_datetimefield_value(now))
    tickets, messages = conf.new_tickets_per_sender_hour(), conf.messages_per_sender_hour()
    total = rows.one(_count_sql(), [email, since, until])
    if total is not None and total[0] < min(tickets, messages):
        return False, False
    row = rows.one(
        _load_sql(), [m.Outcome.CREATED.value, m.State.PROCESSED.value, email, since, until])
    created, processed = row if row is not None else (0, 0)
    return created >= tickets, processed >= messages


def recently_refused(email: str, now: datetime) -> bool:
    """One "not registered" answer a day per address, so two robots cannot ping-pong."""
    return InboundMessage.objects.filter(
        from_address=email, state=InboundMessage.State.REFUSED, automated=False,
        received_at__gte=now - timedelta(days=1), received_at__lte=now,
    ).exists()


def unknown_senders() -> Organisation:
    """Where contacts held for review wait when no ticket tells their organisation."""

    org = Organisation.objects.filter(name=conf.unknown_senders_organisation()).first()
    if org is None:
        # Inactive: nobody in it may open a ticket; the plan is only there because
        # every organisation has one.
        org = Organisation.objects.create(
            name=conf.unknown_senders_organisation(), is_active=False,
            plan=Plan.objects.order_by("-is_active", "pk")[:1].get())
    return org


# ----------------------------------------------------------------------------- decide


def decide(mail: ParsedMail, *, now: datetime, oversized: bool = False,
           release: bool = False) -> Route:
    """The route of one message. `release`: an agent let it through; limits do not apply."""
    sender = mail.sender
    own = conf.own_addresses()
    if sender is None:
        return Route(HOLD, Reason.NO_SENDER)
    if sender.email in own or ids.ticket_number(mail.message_id) is not None:
        return Route(IGNORE, Reason.OWN_ADDRESS)
    if mail.automation == Automation.BOUNCE:
        return _bounce(mail)
    if mail.automation == Automation.AUTO_REPLY:
        return Route(IGNORE, Reason.AUTO_REPLY)
    ticket, found_by = find_ticket(mail)
    user = find_user(sender.email)
    if oversized and not release:
        known = user is not None and user.is_active and (is_agent(user) or (
            getattr(user, "contact", None) is not None and not user.contact.held_for_review))
        return Route(HOLD, Reason.OVERSIZED, ticket=ticket if known else None,
                     notice="too_large" if known and mail.automation == Automation.HUMAN else "")
    if user is not None:
        return _known(mail, user, ticket, found_by, now=now, release=release)
    organisation = organisation_for(sender.email)
    if organisation is not None and organisation.is_active:
        if not release and any(sender_load(sender.email, now)):
            return Route(HOLD, Reason.RATE_LIMITED)
        return Route(CREATE, new_contact=NewContact(sender.email, sender.name, organisation,
                                                    held=False, language=mail.language),
                     cc=watchers(mail, organisation.pk, exclude={sender.email}))
    if Provider.current().unknown_sender == Provider.UnknownSender.REFUSE:
        answer = mail.automation == Automation.HUMAN and not recently_refused(sender.email, now)
        return Route(REFUSE, Reason.UNKNOWN_SENDER, notice="not_registered" if answer else "")
    # Held contacts wait in the organisation of the ticket they wrote to, if any.
    return Route(HOLD, Reason.UNKNOWN_SENDER, new_contact=NewContact(
        sender.email, sender.name, ticket.organisation if ticket else unknown_senders(),
        held=True, language=mail.language))


def _known(mail: ParsedMail, user: User, ticket: Ticket | None, found_by: str, *,
           now: datetime, release: bool) -> Route:
    email = user.email
    if not user.is_active:
        return Route(HOLD, Reason.INACTIVE_SENDER)
    if is_agent(user):
        if ticket is None:
            return Route(HOLD, Reason.AGENT_WITHOUT_TICKET)
        if mail.thread_ids and outbox_pk(mail.thread_ids[0]) is not None:
            # The nearest message it answers is a notification to the staff (an internal
            # note, an alarm, an assignment): what the agent writes back is for the staff.
            return Route(INTERNAL, ticket=ticket, actor=user, found_by=found_by)
        return Route(REPLY, ticket=ticket, actor=user, found_by=found_by)
    contact: Contact | None = getattr(user, "contact", None)
    if contact is None:
        return Route(HOLD, Reason.UNKNOWN_SENDER)
    if contact.held_for_review:
        return Route(HOLD, Reason.HELD_CONTACT, ticket=None)
    if not contact.organisation.is_active:
        return Route(HOLD, Reason.INACTIVE_SENDER)
    too_many_tickets, too_many_messages = (False, False) if release else sender_load(email, now)
    if ticket is not None and can_view(user, ticket):
        if too_many_messages:
            return Route(HOLD, Reason.RATE_LIMITED)
        return Route(REPLY, ticket=ticket, actor=user, requester=contact, found_by=found_by)
    if too_many_tickets or too_many_messages:
        return Route(HOLD, Reason.RATE_LIMITED)
    return Route(CREATE, requester=contact,
                 cc=watchers(mail, contact.organisation_id, exclude={email}))


def _bounce(mail: ParsedMail) -> Route:
    """A delivery report: note it on the ticket whose notice bounced, answer nothing."""
    for mid in [*mail.bounced_ids, *mail.thread_ids]:
        number = ids.ticket_number(mid)
        if number is not None:
            ticket = _ticket(number=number)
            if ticket is not None:
                return Route(NOTE, Reason.BOUNCE, ticket=ticket)
    return Route(IGNORE, Reason.BOUNCE)
