"""Mail to customers about their tickets, queued in the action's transaction.

`on_ticket_events` hears every action (tickets.hooks) and picks at most one
notice for it — the acknowledgement with the reference and the promised
response time, a public reply or resolution plan, the resolution with its
reopen link, a reopening or closing, an escalation, another status change —
then queues one mail per person (requester and CC contacts, in each one's
language and time zone) through the notifications outbox, which sends after
commit with retries. Nothing is sent from here.

Every mail carries:
- threading headers: its own Message-ID naming the ticket (ids.py), and
  In-Reply-To/References to the ticket's thread root, so mail clients group a
  ticket's mail and replies find the ticket;
- Auto-Submitted (RFC 3834) and X-Auto-Response-Suppress, so well-behaved
  robots do not answer it; and `answering()` tells us when the action was
  caused by a machine's mail, whose sender is then never answered.

Extension point: `add_resolution_link(name, fn)` adds a link to the resolution
mail (the satisfaction survey registers one).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template.defaultfilters import date as date_filter
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Provider, User
from tierdesk.lib.html import text_to_html
from tierdesk.mail import conf, ids
from tierdesk.notifications.outbox import enqueue_email
from tierdesk.tickets.hooks import Happened
from tierdesk.tickets.models import EventCode, Ticket, TicketEvent

# ------------------------------------------------------------------ inbound context


@dataclass(frozen=True)
class Inbound:
    """The message whose processing caused the current action."""

    sender: str
    automated: bool
    message_id: str


_inbound: ContextVar[Inbound | None] = ContextVar("mail_inbound", default=None)


@contextmanager
def answering(facts: Inbound) -> Iterator[None]:
    token = _inbound.set(facts)
    try:
        yield
    finally:
        _inbound.reset(token)


def captured() -> dict[str, Any] | None:
    """The inbound facts of the running action, for tickets.hooks' deferred work."""
    facts = _inbound.get()
    return None if facts is None else {"sender": facts.sender, "automated": facts.automated,
                                       "message_id": facts.message_id}


def restored(value: dict[str, Any]) -> AbstractContextManager[None]:
    return answering(Inbound(sender=value.get("sender", ""),
                             automated=bool(value.get("automated")),
                             message_id=value.get("message_id", "")))


# ------------------------------------------------------------------- extension point

Link = tuple[str, str]
ResolutionLink = Callable[[Ticket, User], Link | None]
_resolution_links: dict[str, ResolutionLink] = {}


def add_resolution_link(name: str, fn: ResolutionLink) -> None:
    """`fn(ticket, recipient)` returns (label, url) or None; called in the recipient's
    language, inside the resolving action's transaction (so it may write, e.g. a token)."""
    _resolution_links[name] = fn


def remove_resolution_link(name: str) -> None:
    _resolution_links.pop(name, None)


# ------------------------------------------------------------------- which notice

# The first code present in an action's events decides the one notice it sends.
_ORDER = (
    (EventCode.CREATED, "created"),
    (EventCode.RESOLVED, "resolved"),
    (EventCode.PUBLIC_REPLY, "reply"),
    (EventCode.RESOLUTION_PLAN_POSTED, "plan"),
    (EventCode.REOPENED, "reopened"),
    (EventCode.CLOSED, "closed"),
    (EventCode.ESCALATED, "escalated"),
    (EventCode.STATUS_CHANGED, "status"),
)
KINDS = tuple(kind for _code, kind in _ORDER)


def pick(happened: Happened) -> tuple[str, TicketEvent] | None:
    for code, kind in _ORDER:
        event = happened.first(code)
        if event is None:
            continue
        if kind == "escalated":
            # Up a tier (seed 000: the customer hears of it). The event is internal — it
            # carries the reason — so the notice says only the tier. Other escalations
            # (by the customer, by a rule) are the notifications app's to tell.
            payload = event.payload
            if payload.get("kind") == "tier" and (payload.get("to") or 0) > (payload.get("from") or 0):
                return kind, event
            continue
        if not event.is_public:
            continue
        if kind == "status" and (event.payload.get("from"), event.payload.get("to")) == ("new", "open"):
            continue  # taking a ticket up is not news; the reply that follows is
        return kind, event
    return None


def recipients(ticket: Ticket, event: TicketEvent, kind: str, *,
               cc: list[Any] | None = None) -> list[User]:
    """The requester and the CC contacts (read here unless given), minus whoever caused it,
    robots and ourselves."""
    if cc is None:
        cc = list(ticket.cc.select_related("user").order_by("pk"))
    people = [ticket.requester, *cc]
    facts = _inbound.get()
    skip = set(conf.own_addresses())
    if facts is not None and facts.automated:
        skip.add(facts.sender)
    found: dict[int, User] = {}
    for contact in people:
        user = contact.user
        if contact.held_for_review or not user.is_active or not user.email or user.email in skip:
            continue
        if kind != "created" and event.actor_id == user.pk:
            continue  # they know what they did (but the opener still gets the reference)
        found.setdefault(user.pk, user)
    return list(found.values())


# ----------------------------------------------------------------------- rendering


def language_of(user: User | None, provider: Provider, fallback: str = "") -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    for candidate in (user.language if user else "", fallback, *(provider.languages or [])):
        if candidate in codes:
            return candidate
    return settings.LANGUAGE_CODE


def zone_of(user: User | None, provider: Provider) -> ZoneInfo:
    for name in ((user.time_zone if user else ""), provider.time_zone, "UTC"):
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError):
            continue
    return ZoneInfo("UTC")


def portal_url(ticket: Ticket) -> str:
    try:
        path = reverse("portal:ticket", args=[ticket.reference])
    except NoReverseMatch:
        path = "/"
    return settings.SITE_URL.rstrip("/") + path


def _render(kind: str, context: dict[str, Any], *, language: str,
            zone: ZoneInfo) -> tuple[str, str]:
    context = {**context, "tzname": zone.key, "LANGUAGE_CODE": language}
    with translation.override(language), timezone.override(zone):
        intro = render_to_string(f"mail/email/{kind}.txt", context).strip()
        full = {**context, "intro": intro, "body_html": text_to_html(context.get("body") or "")}
        text = render_to_string("mail/email/frame.txt", full).strip() + "\n"
        html = render_to_string("mail/email/frame.html", full)
    return text, html


def _headers(provider: Provider, *, message_id: str, thread: list[str], ticket: Ticket | None,
             auto: str) -> dict[str, str]:
    sender = formataddr((provider.name, provider.support_address))
    headers = {
        "From": sender,
        "Reply-To": sender,
        "Message-ID": ids.bracket(message_id),
        "Auto-Submitted": auto,
        "X-Auto-Response-Suppress": "OOF, AutoReply",
    }
    if thread:
        # The customer's first mail when the ticket came by mail (the acknowledgement
        # answers it), else the ticket's root: either way every mail of the ticket
        # shares an ancestor, which is what clients thread on.
        headers["In-Reply-To"] = ids.bracket(thread[0])
        headers["References"] = " ".join(ids.bracket(m) for m in thread)
    if ticket is not None:
        headers["X-Tierdesk-Ticket"] = ticket.reference
    return headers


def thread_of(ticket: Ticket, kind: str) -> list[str]:
    """The Message-IDs a ticket's mail refers to: the customer's first mail, if it came
    by mail, then the ticket's root."""
    facts = _inbound.get()
    if ticket.channel != "email":
        origin: str | None = None  # opened elsewhere: no customer mail to answer
    elif kind == "created" and facts is not None:
        origin = facts.message_id  # this very mail is opening the ticket
    else:
        origin = ticket.inbound_messages.filter(outcome="created").values_list(
            "message_id", flat=True).first()
    return [m for m in (origin, ids.root(ticket.number)) if m]


# ---------------------------------------------------------------------- the hook


def on_ticket_events(happened: Happened) -> None:
    """tickets.hooks subscriber: queue the notice this action calls for, if any."""
    chosen = pick(happened)
    if chosen is None:
        return
    kind, event = chosen
    ticket = happened.ticket
    people = recipients(ticket, event, kind)
    if not people:
        return
    provider = conf.provider()
    thread = thread_of(ticket, kind)
    base = {
        "ticket": ticket, "reference": ticket.reference, "provider": provider,
        "url": portal_url(ticket), "event": event, "kind": kind,
        "author": event.actor.get_full_name() if event.actor else provider.name,
        "body": event.body if kind in ("reply", "plan", "resolved") else "",
        "marker": True,
    }
    if kind == "created":
        base["promise"] = _promise(ticket)
    if kind == "escalated":
        base["tier"] = event.payload.get("to")
    if kind in ("status", "reopened", "closed"):
        base["status_code"] = ticket.status
    subject = f"{'' if kind == 'created' else 'Re: '}[{ticket.reference}] {ticket.subject}"
    for user in people:
        language = language_of(user, provider)
        zone = zone_of(user, provider)
        context = {**base, "recipient": user,
                   "is_requester": user.pk == ticket.requester.user_id}
        with translation.override(language):
            context["status"] = ticket.get_status_display()
            if kind == "resolved":
                context["links"] = _resolution_extras(ticket, user)
        text, html = _render(kind, context, language=language, zone=zone)
        message_id = ids.notice(ticket.number, event.pk, user.pk)
        enqueue_email(key=f"mail:{kind}:{event.pk}:u{user.pk}", to=[user.email], subject=subject,
                      text=text, html=html, ticket=ticket,
                      headers=_headers(provider, message_id=message_id, thread=thread,
                                       ticket=ticket,
                                       auto="auto-replied" if kind == "created" else "auto-generated"))


# ------------------------------------------------------------- many tickets at once


def on_many(happenings: list[Happened]) -> None:
    """`on_ticket_events` for a batch of the hooks' work. Acknowledgements (the notice of
    nearly every batch of new tickets) are written together: the CC contacts and the
    promised response times read once, each (language, zone, audience) rendered once and
    filled in per ticket (checked against a full render, or rendered in full), the outbox
    rows written in bulk. Any other notice goes ticket by ticket, as it would alone."""
    acks: list[tuple[Happened, TicketEvent]] = []
    for happened in happenings:
        chosen = pick(happened)
        if chosen is None:
            continue
        kind, event = chosen
        if kind == "created":
            acks.append((happened, event))
        else:
            with _inbound_of(happened):
                on_ticket_events(happened)
    if acks:
        _acknowledge(acks)


def _inbound_of(happened: Happened) -> AbstractContextManager[None]:
    facts = happened.context.get("mail.inbound")
    return restored(facts) if facts else contextlib.nullcontext()


def _acknowledge(acks: list[tuple[Happened, TicketEvent]]) -> None:
    from tierdesk.notifications.outbox import enqueue_emails
    from tierdesk.sla.models import TicketSLA

    pks = [h.ticket.pk for h, _event in acks]
    cc: dict[int, list[Any]] = {pk: [] for pk in pks}
    through = Ticket.cc.through
    for row in (through.objects.filter(ticket_id__in=pks).select_related("contact__user")
                .order_by("contact_id")):
        cc[row.ticket_id].append(row.contact)
    promised: dict[int, datetime | None] = {}
    # By the (ticket, target) unique index: with the state in the WHERE clause too,
    # SQLite's planner (no statistics) takes the (target, state) index instead and reads
    # every running first response there is (30 ms a batch at 100,000 tickets, 1.5 ms at
    # 1,000); the state is tested here. At most one row a ticket and target.
    for pk, due, state in (TicketSLA.objects.filter(ticket_id__in=pks, target="first_response")
                           .values_list("ticket_id", "due_at", "state")):
        if state == TicketSLA.State.RUNNING:
            promised.setdefault(pk, due)
    provider = conf.provider()
    fill = _AckFill(provider)
    mails = []
    for happened, event in acks:
        ticket = happened.ticket
        with _inbound_of(happened):
            people = recipients(ticket, event, "created", cc=cc[ticket.pk])
            if not people:
                continue
            thread = thread_of(ticket, "created")
        promise = promised.get(ticket.pk)
        subject = f"[{ticket.reference}] {ticket.subject}"
        for user in people:
            text, html = fill(ticket, event, user, promise)
            mails.append({"key": f"mail:created:{event.pk}:u{user.pk}", "to": [user.email],
                          "subject": subject, "text": text, "html": html, "ticket": ticket,
                          "headers": _headers(provider, message_id=ids.notice(
                              ticket.number, event.pk, user.pk), thread=thread, ticket=ticket,
                              auto="auto-replied")})
    enqueue_emails(mails)


def _ack_context(provider: Provider, ticket: Any, event: TicketEvent | None, user: User,
                 *, reference: str, url: str, promise: datetime | None) -> dict[str, Any]:
    """What `on_ticket_events` hands the acknowledgement's templates."""
    return {"ticket": ticket, "reference": reference, "provider": provider, "url": url,
            "event": event, "kind": "created",
            "author": (event.actor.get_full_name() if event is not None and event.actor
                       else provider.name),
            "body": "", "marker": True, "promise": promise, "recipient": user,
            "is_requester": user.pk == ticket.requester.user_id}


# Markers where a ticket's own values go in a group's one render (private-use characters:
# no template or translation writes them).
_REF, _SUBJ, _NAME, _URL, _WHEN = ("\ue010r\ue011", "\ue010s\ue011", "\ue010n\ue011",
                                   "\ue010u\ue011", "\ue010w\ue011")
_PROBE = datetime(1999, 12, 31, 13, 47, tzinfo=ZoneInfo("UTC"))


@dataclass(frozen=True)
class _MarkedUser:
    name: str = _NAME

    def get_full_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class _MarkedRequester:
    user: _MarkedUser
    user_id: int


@dataclass(frozen=True)
class _MarkedTicket:
    """What the acknowledgement's templates read of a ticket, as markers."""

    requester: _MarkedRequester
    reference: str = _REF
    subject: str = _SUBJ
    channel: str = ""
    status: str = ""


class _AckFill:
    """Acknowledgements of a batch: one render per (language, zone, requester or CC,
    promise or not) with markers, filled in per ticket; the first ticket of each group is
    also rendered in full and compared (a mismatch renders the group in full)."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self.marked: dict[tuple, tuple[str, str] | None] = {}
        self.url = _portal_urls()

    def __call__(self, ticket: Ticket, event: TicketEvent, user: User,
                 promise: datetime | None) -> tuple[str, str]:
        language = language_of(user, self.provider)
        zone = zone_of(user, self.provider)
        is_requester = user.pk == ticket.requester.user_id
        values = {_REF: ticket.reference, _SUBJ: ticket.subject, _URL: self.url(ticket)}
        if not is_requester:
            values[_NAME] = ticket.requester.user.get_full_name()
        if promise is not None:
            with translation.override(language), timezone.override(zone):
                values[_WHEN] = _when_text(promise)
        if all(_fillable(v) for v in values.values()):
            group = (language, zone.key, is_requester, promise is None)
            if group not in self.marked:
                self.marked[group] = self._marked(ticket, event, user, promise, values,
                                                  language=language, zone=zone)
            texts = self.marked[group]
            if texts is not None:
                return _fill(texts, values)
        return self._full(ticket, event, user, promise, language=language, zone=zone)

    def _full(self, ticket: Ticket, event: TicketEvent, user: User, promise: datetime | None,
              *, language: str, zone: ZoneInfo) -> tuple[str, str]:
        context = _ack_context(self.provider, ticket, event, user, reference=ticket.reference,
                               url=portal_url(ticket), promise=promise)
        with translation.override(language):
            context["status"] = ticket.get_status_display()
        return _render("created", context, language=language, zone=zone)

    def _marked(self, ticket: Ticket, event: TicketEvent, user: User, promise: datetime | None,
                values: dict[str, str], *, language: str, zone: ZoneInfo
                ) -> tuple[str, str] | None:
        requester_id = user.pk if user.pk == ticket.requester.user_id else -1
        marked = _MarkedTicket(_MarkedRequester(_MarkedUser(), requester_id))
        context = _ack_context(self.provider, marked, event, user, reference=_REF, url=_URL,
                               promise=_PROBE if promise is not None else None)
        text, html = _render("created", context, language=language, zone=zone)
        if promise is not None:
            with translation.override(language), timezone.override(zone):
                probe = _when_text(_PROBE)
            if not probe or text.count(probe) != 1 or html.count(escape(probe)) != 1:
                return None
            text, html = text.replace(probe, _WHEN), html.replace(escape(probe), _WHEN)
        texts = (text, html)
        if _fill(texts, values) != self._full(ticket, event, user, promise, language=language,
                                              zone=zone):
            return None
        return texts


def _when_text(value: datetime) -> str:
    """`{{ value|date:"DATETIME_FORMAT" }}` in the active language and zone."""
    return date_filter(timezone.template_localtime(value),  # type: ignore[attr-defined]
                       "DATETIME_FORMAT")


def _fillable(value: str) -> bool:
    """A value that the templates' whitespace handling and line breaks leave as it is."""
    return bool(value) and value == " ".join(value.split()) and "\ue010" not in value


def _fill(texts: tuple[str, str], values: dict[str, str]) -> tuple[str, str]:
    text, html = texts
    for marker, value in values.items():
        text = text.replace(marker, value)
        html = html.replace(marker, escape(value))
    return text, html


_URL_SLOT = "Q0reference0Q"
_PLAIN_REFERENCE = re.compile(r"[A-Za-z0-9-]+")


def _portal_urls() -> Callable[[Ticket], str]:
    """`portal_url` for many tickets: reversed once with a slot for plain references."""
    try:
        pattern = settings.SITE_URL.rstrip("/") + reverse("portal:ticket", args=[_URL_SLOT])
    except NoReverseMatch:
        pattern = ""
    if pattern.count(_URL_SLOT) != 1:
        return portal_url

    def url(ticket: Ticket) -> str:
        if _PLAIN_REFERENCE.fullmatch(ticket.reference):
            return pattern.replace(_URL_SLOT, ticket.reference)
        return portal_url(ticket)

    return url


def _promise(ticket: Ticket) -> datetime | None:
    from tierdesk.sla.models import TicketSLA

    due = list(TicketSLA.objects.filter(ticket=ticket, target="first_response",
                                        state=TicketSLA.State.RUNNING)
               .values_list("due_at", flat=True)[:1])
    return due[0] if due else None


def _resolution_extras(ticket: Ticket, user: User) -> list[Link]:
    links: list[Link] = [(_("Not solved? Reopen it"), portal_url(ticket) + "#reopen")]
    for fn in list(_resolution_links.values()):
        link = fn(ticket, user)
        if link is not None:
            links.append(link)
    return links


# ------------------------------------------------------- answers to a sender (no ticket)


def answer_sender(*, kind: str, message: Any, to: str, language: str, in_reply_to: str) -> None:
    """"Not registered" or "too large": one answer to the sender of one inbound message."""
    provider = conf.provider()
    user = User.objects.filter(email=to).first()
    language = language_of(user, provider, fallback=language)
    context = {"provider": provider, "subject": message.subject, "size": message.size,
               "limit": conf.max_bytes(), "marker": False, "recipient": user}
    text, html = _render(kind, context, language=language, zone=zone_of(user, provider))
    with translation.override(language):
        subject = _("Re: %(subject)s") % {"subject": message.subject or provider.name}
    thread = [in_reply_to] if in_reply_to else []
    enqueue_email(key=f"mail:{kind}:m{message.pk}", to=[to], subject=subject, text=text, html=html,
                  headers=_headers(provider, message_id=f"tierdesk.{kind}.{message.pk}@"
                                   f"{conf.message_id_domain()}", thread=thread, ticket=None,
                                   auto="auto-replied"))
