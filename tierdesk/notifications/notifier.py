"""`notify`: the one way anything in Tierdesk tells a person something.

Agents get an in-app notification and, unless they chose a digest, an email;
contacts get an email. Each person's preferences are honoured (email on or
off, kinds muted, digest), and the mail is written in their language. Every
write happens in the caller's transaction: in-app rows directly, mail through
the outbox (sent after commit). A `key` names the occasion, so notifying twice
for the same one (a retried sweep, two rules naming the same person) tells each
person once.

Templates: notifications/email/<kind>.subject.txt and <kind>.txt, written with
gettext ({% blocktranslate %}) so English and Spanish come from one template.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from html import escape as _escape_html
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError
from django.template.defaultfilters import date as date_filter
from django.template.loader import get_template, render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.formats import get_format
from django.utils.html import escape

from tierdesk.accounts.models import Agent, Provider, User
from tierdesk.lib import clock
from tierdesk.notifications.models import Notification, Preference
from tierdesk.notifications.outbox import among, enqueue_email, enqueue_emails, insert_rows

if TYPE_CHECKING:
    from tierdesk.tickets.models import Ticket

KINDS = ("sla_warning", "sla_breached", "escalated", "customer_escalated", "timeframe_missed",
         "not_routed", "assigned", "rule", "commitment_reminder", "commitment_overdue")


@dataclass(frozen=True)
class Sent:
    """What `notify` did for one person."""

    user: User
    notification: Notification | None
    emailed: bool


def language_of(user: User, *, current: Callable[[], Provider] | None = None) -> str:
    codes = {code for code, _ in settings.LANGUAGES}
    if user.language in codes:
        return user.language
    languages = (current or Provider.current)().languages or [settings.LANGUAGE_CODE]
    return languages[0] if languages[0] in codes else settings.LANGUAGE_CODE


def preference_of(user: User) -> Preference:
    pref = Preference.objects.filter(user=user).first()
    return pref or Preference(user=user)


def ticket_url(ticket: Ticket, *, agent: bool) -> str:
    return _url_of(ticket.reference, agent=agent)


def _url_of(reference: str, *, agent: bool) -> str:
    try:
        path = reverse("console:ticket" if agent else "portal:ticket", args=[reference])
    except NoReverseMatch:
        path = "/"
    return settings.SITE_URL.rstrip("/") + path


_URL_SLOT = "Q0reference0Q"  # letters and digits: reversed and quoted as they are


def _urls(*, agent: bool) -> Callable[[Ticket], str]:
    """`ticket_url` for many tickets: the url is reversed once, with a token where the
    reference goes, and a reference of letters, digits and dashes (what reversing and
    quoting leave as is) put in its place; any other is reversed on its own."""
    pattern = _url_of(_URL_SLOT, agent=agent)
    if pattern.count(_URL_SLOT) != 1:
        return functools.partial(ticket_url, agent=agent)

    def url(ticket: Ticket) -> str:
        reference = ticket.reference
        if _PLAIN_REFERENCE.fullmatch(reference):
            return pattern.replace(_URL_SLOT, reference)
        return ticket_url(ticket, agent=agent)

    return url


_PLAIN_REFERENCE = re.compile(r"[A-Za-z0-9-]+")


def zone_of(user: User | None, *, current: Callable[[], Provider] | None = None) -> str:
    name = ((user.time_zone if user is not None else "")
            or (current or Provider.current)().time_zone or "UTC")
    try:
        ZoneInfo(name)
    except (ValueError, KeyError):
        return "UTC"
    return name


def render(kind: str, context: dict[str, Any], language: str, *,
           current: Callable[[], Provider] | None = None) -> tuple[str, str, str]:
    """(subject, text, html) of a kind's templates, in a language and the recipient's zone."""
    zone = zone_of(context.get("recipient"), current=current)
    context = {**context, "tzname": zone}
    with translation.override(language), timezone.override(ZoneInfo(zone)):
        subject = " ".join(render_to_string(f"notifications/email/{kind}.subject.txt",
                                            context).split())
        text = render_to_string(f"notifications/email/{kind}.txt", context).strip() + "\n"
        html = render_to_string("notifications/email/base.html",
                                {**context, "subject": subject, "text": text})
    return subject, text, html


def notify(*, key: str, kind: str, recipients: Iterable[User], ticket: Ticket | None = None,
           context: dict[str, Any] | None = None, at: datetime | None = None,
           email: bool = True) -> list[Sent]:
    """Tell each recipient about one occasion, named by `key`, once.

    `kind` picks the templates (see KINDS) and is what people mute;
    `context` is handed to the templates with `ticket`, `url` and `recipient`.
    """
    at = at or clock.now()
    done: list[Sent] = []
    seen: set[int] = set()
    loaded: list[Provider] = []

    def current() -> Provider:  # the provider, read at most once per call
        if not loaded:
            loaded.append(Provider.current())
        return loaded[0]

    for user in recipients:
        if user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        pref = preference_of(user)
        if kind in (pref.muted_kinds or []):
            continue
        is_agent = getattr(user, "agent", None) is not None
        ctx = {**(context or {}), "ticket": ticket, "recipient": user,
               "url": ticket_url(ticket, agent=is_agent) if ticket is not None else settings.SITE_URL}
        subject, text, html = render(kind, ctx, language_of(user, current=current),
                                     current=current)
        note = None
        wants_digest = is_agent and pref.digest != Preference.Digest.OFF
        if is_agent and pref.in_app:
            note, created = _in_app(user, key=key, kind=kind, ticket=ticket, title=subject,
                                    body=text, at=at,
                                    digested=None if (wants_digest and pref.email) else at)
            if not created:
                done.append(Sent(user, note, emailed=False))
                continue
        emailed = False
        if email and pref.email and not wants_digest:
            enqueue_email(key=f"{key}:u{user.pk}", to=[user.email], subject=subject, text=text,
                          html=html, ticket=ticket,
                          headers={"Auto-Submitted": "auto-generated", "X-Tierdesk-Kind": kind})
            emailed = True
        done.append(Sent(user, note, emailed))
    return done


def _in_app(user: User, *, key: str, kind: str, ticket: Ticket | None, title: str, body: str,
            at: datetime, digested: datetime | None) -> tuple[Notification, bool]:
    # get_or_create inserts in its own savepoint (and reads the winner of a race on the
    # unique key itself): no outer savepoint is needed around it.
    try:
        return Notification.objects.get_or_create(
            recipient=user, key=key[:200],
            defaults={"kind": kind, "ticket": ticket, "title": title[:300], "body": body,
                      "created_at": at, "digested_at": digested})
    except IntegrityError:  # a concurrent notify for the same occasion won
        return Notification.objects.get(recipient=user, key=key[:200]), False


# --------------------------------------------------------------------------- the inbox


def unread(user: User):
    return Notification.objects.filter(recipient=user, read_at__isnull=True)


def mark_read(user: User, ids: Iterable[int] | None = None, *, at: datetime | None = None) -> int:
    """Mark some (or all) of a user's notifications read; only their own."""
    qs = unread(user)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=at or timezone.now())


# --------------------------------------------------------------------------- many at once


@dataclass(frozen=True)
class Notice:
    """One occasion for `notify_many`: the arguments of one `notify` call."""

    key: str
    kind: str
    recipients: tuple[User, ...]
    ticket: Ticket | None = None
    context: dict[str, Any] | None = None


def notify_many(notices: Iterable[Notice], *, at: datetime | None = None,
                email: bool = True) -> int:
    """`notify` for many occasions at once (the sweep's follow-up of a breach wave), with
    the same result as one `notify` call per notice, in a fixed number of queries:
    preferences, agents and the occasions already told are read once; each kind's
    templates are rendered with one language and zone switch per group, and a text is
    shared by the recipients of one occasion who read the same language in the same
    zone; in-app rows and outbox rows are written in bulk. Returns the people told."""
    at = at or clock.now()
    notices = [n for n in notices if n.recipients]
    users = {u.pk: u for n in notices for u in n.recipients if u.is_active}
    if not users:
        return 0
    provider = Provider.current()

    def current() -> Provider:
        return provider

    prefs = {p.user_id: p for p in Preference.objects.filter(user_id__in=list(users))}
    agents = set(Agent.objects.filter(user_id__in=list(users)).values_list("user_id", flat=True))
    keys = list({n.key[:200] for n in notices})
    told = set(Notification.objects.filter(among("key", keys),
                                           recipient_id__in=list(users))
               .values_list("recipient_id", "key"))
    # Who hears what: (notice, user, preference), in the order `notify` would go.
    plan: list[tuple[Notice, User, Preference]] = []
    defaults: dict[int, Preference] = {}
    for notice in notices:
        seen: set[int] = set()
        for user in notice.recipients:
            if user.pk in seen or not user.is_active:
                continue
            seen.add(user.pk)
            if (user.pk, notice.key[:200]) in told:  # a notice of the same key, earlier
                continue
            pref = prefs.get(user.pk) or defaults.get(user.pk)
            if pref is None:  # the defaults, one instance per person (read only)
                pref = defaults[user.pk] = Preference(user=user)
            if notice.kind in (pref.muted_kinds or []):
                continue
            if user.pk in agents and pref.in_app:
                # `notify` stops at an existing in-app row: the person was told already.
                told.add((user.pk, notice.key[:200]))
            plan.append((notice, user, pref))
    rendered = _render_plan(plan, agents, current)
    notes: list[dict[str, Any]] = []
    mails: list[dict[str, Any]] = []
    for notice, user, pref in plan:
        subject, text, html = rendered[(id(notice), user.pk)]
        is_agent = user.pk in agents
        wants_digest = is_agent and pref.digest != Preference.Digest.OFF
        if is_agent and pref.in_app:
            notes.append({"recipient_id": user.pk, "key": notice.key[:200], "kind": notice.kind,
                          "ticket_id": notice.ticket.pk if notice.ticket is not None else None,
                          "title": subject[:300], "body": text, "created_at": at,
                          "digested_at": None if (wants_digest and pref.email) else at})
        if email and pref.email and not wants_digest:
            mails.append({"key": f"{notice.key}:u{user.pk}", "to": [user.email],
                          "subject": subject, "text": text, "html": html,
                          "ticket": notice.ticket,
                          "headers": {"Auto-Submitted": "auto-generated",
                                      "X-Tierdesk-Kind": notice.kind}})
    insert_rows(Notification, notes)
    enqueue_emails(mails)
    return len(plan)


_Plan = list[tuple[Notice, User, Preference]]
_Rendered = dict[tuple[int, int], tuple[str, str, str]]

# Kinds whose templates read, of what varies from one occasion to the next, only the
# ticket's reference and subject, the url and `due_at` (through `|date:"DATETIME_FORMAT"`);
# their other context (`target_label`, `share`) is the same for many occasions. A wave of
# them is rendered once per (language, zone, audience, that context) with markers where
# the occasion's values go, and each occasion's texts are the markers filled in: exactly
# the texts a render of its own gives (checked on the first occasion of every group; a
# value the fill could not reproduce — a line break, odd spacing — is rendered apart).
_FILLED_KINDS = {"sla_warning": ("target_label", "share"),
                 "sla_breached": ("target_label", "share")}
_REF, _SUBJECT, _URL, _DUE = "\ue000r\ue001", "\ue000s\ue001", "\ue000u\ue001", "\ue000d\ue001"
# A due instant whose printed form stands in for the marker (a filter reads a datetime).
_PROBE = datetime(1999, 12, 31, 13, 47, tzinfo=ZoneInfo("UTC"))


@dataclass(frozen=True)
class _Marked:
    """What a template reads of the ticket in a marked render."""

    reference: str = _REF
    subject: str = _SUBJECT


def _render_plan(plan: _Plan, agents: set[int], current: Callable[[], Provider]) -> _Rendered:
    """The (subject, text, html) of each (notice, person) of the plan: per (kind, language,
    zone) one switch; per notice one text per audience (agents, contacts)."""
    groups: dict[tuple[str, str, str], _Plan] = {}
    for item in plan:
        notice, user, _pref = item
        groups.setdefault((notice.kind, language_of(user, current=current),
                           zone_of(user, current=current)), []).append(item)
    rendered: _Rendered = {}
    urls = {True: _urls(agent=True), False: _urls(agent=False)}
    for (kind, language, zone), items in groups.items():
        templates = (get_template(f"notifications/email/{kind}.subject.txt"),
                     get_template(f"notifications/email/{kind}.txt"),
                     get_template("notifications/email/base.html"))
        shared: dict[tuple[int, bool], tuple[str, str, str]] = {}
        marked: dict[tuple, tuple[str, str, str] | None] = {}
        with translation.override(language), timezone.override(ZoneInfo(zone)):
            fill = _Fill(templates, zone, marked, _due_texts(), urls)
            for notice, user, _pref in items:
                is_agent = user.pk in agents
                done = shared.get((id(notice), is_agent))
                if done is None:
                    done = None
                    if kind in _FILLED_KINDS and notice.ticket is not None:
                        done = fill(notice, user, is_agent)
                    if done is None:
                        done = _render_one(templates, notice, user, is_agent, zone)
                    shared[(id(notice), is_agent)] = done
                rendered[(id(notice), user.pk)] = done
    return rendered


def _render_one(templates: tuple, notice: Notice, user: User | None, is_agent: bool,
                zone: str) -> tuple[str, str, str]:
    subject_t, text_t, html_t = templates
    ticket = notice.ticket
    ctx = {**(notice.context or {}), "ticket": ticket, "recipient": user,
           "url": ticket_url(ticket, agent=is_agent) if ticket is not None
           else settings.SITE_URL, "tzname": zone}
    subject = " ".join(subject_t.render(ctx).split())
    text = text_t.render(ctx).strip() + "\n"
    html = html_t.render({**ctx, "subject": subject, "text": text})
    return subject, text, html


def _due_text(value: datetime) -> str:
    """`{{ value|date:"DATETIME_FORMAT" }}` in the active language and zone."""
    # What the template engine does for a filter that expects local time (not in the stubs).
    local = timezone.template_localtime(value)  # type: ignore[attr-defined]
    return date_filter(local, "DATETIME_FORMAT")


# Format characters that read nothing finer than the local minute (nor the zone's name or
# offset): instants in the same local minute print the same under a format of only these.
_BY_THE_MINUTE = set("aAbdDEfFgGhHijlLmMnNoPStwWyYz")


def _due_texts() -> Callable[[datetime], str]:
    """`_due_text` for many instants, in the active language and zone: made once per
    local minute when the format shows nothing finer (a wave's breaches fall due within
    the sweep's minute), else once per instant."""
    fmt = str(get_format("DATETIME_FORMAT"))
    letters, escaped = set(), False
    for char in fmt:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char.isalpha():
            letters.add(char)
    by_minute = letters <= _BY_THE_MINUTE
    made: dict[Any, str] = {}

    def text(value: datetime) -> str:
        key: Any = value
        if by_minute:
            local = timezone.template_localtime(value)  # type: ignore[attr-defined]
            key = (local.replace(second=0, microsecond=0, tzinfo=None)
                   if isinstance(local, datetime) and local.tzinfo is not None else value)
        if key not in made:
            made[key] = _due_text(value)
        return made[key]

    return text


def _fillable(value: str) -> bool:
    """A value that the marked render's whitespace handling and line breaks leave as is."""
    return bool(value) and value == " ".join(value.split()) and "\ue000" not in value


@dataclass
class _Fill:
    """A group's notices (one kind, language and zone) filled in from marked renders."""

    templates: tuple
    zone: str
    marked: dict[tuple, tuple[str, str, str] | None]
    due_text: Callable[[datetime], str]
    urls: dict[bool, Callable[[Ticket], str]]

    def __call__(self, notice: Notice, user: User, is_agent: bool) -> tuple[str, str, str] | None:
        """The notice's texts from its marked render, or None (render it apart)."""
        ticket = notice.ticket
        assert ticket is not None
        context = notice.context or {}
        if set(context) != {*_FILLED_KINDS[notice.kind], "due_at"}:
            return None
        due = context["due_at"]
        values = {_REF: ticket.reference, _SUBJECT: ticket.subject,
                  _URL: self.urls[is_agent](ticket)}
        if due is not None:
            values[_DUE] = self.due_text(due)
        if not all(_fillable(v) for v in values.values()):
            return None
        group = (is_agent, due is None, *(str(context[k]) for k in _FILLED_KINDS[notice.kind]))
        if group not in self.marked:
            self.marked[group] = _marked(self.templates, notice, user, is_agent, self.zone,
                                         values)
        texts = self.marked[group]
        return None if texts is None else _fill(texts, values)


def _fill(texts: tuple[str, str, str], values: dict[str, str]) -> tuple[str, str, str]:
    subject, text, html = texts
    for marker, value in values.items():
        subject = subject.replace(marker, value)
        text = text.replace(marker, value)
        # What django.utils.html.escape gives for a str, without its check for lazy text.
        html = html.replace(marker, _escape_html(value))
    return subject, text, html


def _marked(templates: tuple, notice: Notice, user: User, is_agent: bool, zone: str,
            values: dict[str, str]) -> tuple[str, str, str] | None:
    """A group's texts with markers, checked against a render of the notice of its own:
    None (render every notice of the group apart) if filling them in does not give it."""
    context = notice.context or {}
    due = context.get("due_at")
    subject_t, text_t, html_t = templates
    ctx = {**context, "due_at": _PROBE if due is not None else None, "ticket": _Marked(),
           "recipient": user, "url": _URL, "tzname": zone}
    subject = " ".join(subject_t.render(ctx).split())
    text = text_t.render(ctx).strip() + "\n"
    html = html_t.render({**ctx, "subject": subject, "text": text})
    if due is not None:
        probe = _due_text(_PROBE)
        if not probe or probe not in text:
            return None
        subject, text = subject.replace(probe, _DUE), text.replace(probe, _DUE)
        html = html.replace(escape(probe), _DUE)
    texts = (subject, text, html)
    if _fill(texts, values) != _render_one(templates, notice, user, is_agent, zone):
        return None
    return texts


