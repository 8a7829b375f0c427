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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from html import escape as _escape_html
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.template.defaultfilters import date as date_filter
from django.template.loader import get_template, render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.formats import get_format
from django.utils.html import escape

from tierdesk.accounts.models import Agent, Provider, User
from tierdesk.lib import clock
from tierdesk.notifications.models import Notification, Preference
from tierdesk.notifications.outbox import among, enqueue_emails, insert_rows

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
    new: bool = False  # told now (False: told of this occasion before)


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
    notice = Notice(key=key, kind=kind, recipients=tuple(recipients), ticket=ticket,
                    context=context)
    return _tell([notice], at=at or clock.now(), email=email)


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
    at: datetime | None = None  # when it happened (None: the call's `at`)


def notify_many(notices: Iterable[Notice], *, at: datetime | None = None,
                email: bool = True) -> int:
    """`notify` for many occasions at once (the sweep's follow-up of a breach wave, a batch
    of the hooks' work), with the same result as one `notify` call per notice, in a fixed
    number of queries. Returns the people told (not counting those told before)."""
    return sum(1 for sent in _tell(list(notices), at=at or clock.now(), email=email)
               if sent.new)


# Notices gathered while a batch of the hooks' work runs (`gathering`), told at its end.
_gathered: ContextVar[list[Notice] | None] = ContextVar("notices_gathered", default=None)


@contextmanager
def gathering(*, email: bool = True) -> Iterator[None]:
    """Inside: `notify_later` keeps its notices; at the end (unless it raises) they are
    told at once, by `notify_many`, in the caller's transaction."""
    token = _gathered.set([])
    try:
        yield
        notices = _gathered.get() or []
    finally:
        _gathered.reset(token)
    notify_many(notices, email=email)


def notify_later(notice: Notice) -> None:
    """`notify` this notice now, or at the end of the running `gathering`."""
    gathered = _gathered.get()
    if gathered is None:
        notify_many([notice], at=notice.at)
    else:
        gathered.append(notice)


def gathered_mark() -> int:
    """Where the gathered notices stand, for `forget_since` when a savepoint rolls back."""
    gathered = _gathered.get()
    return len(gathered) if gathered is not None else 0


def forget_since(mark: int) -> None:
    """Drop the notices gathered since `mark` (the work that asked for them rolled back)."""
    gathered = _gathered.get()
    if gathered is not None:
        del gathered[mark:]


def _tell(notices: list[Notice], *, at: datetime, email: bool) -> list[Sent]:
    """The one implementation of the per-person rules of `notify` and `notify_many`, for
    the notices in order, as if each were told on its own, one after the other:

    1. each person once per notice (the first mention), active people only;
    2. a kind the person muted tells them nothing;
    3. agents who want in-app notifications get one row per occasion (`key`): one there
       already means they were told (nothing more is done, nothing mailed);
    4. agents on a digest get no mail now: their row waits for the digest (when they
       want mail at all); everyone else who wants mail gets one, once per key.

    Preferences, agents and the occasions already told are read once; the texts are
    rendered once per (kind, language, zone, audience) group where they can be; the
    in-app rows and the outbox rows are written in bulk."""
    notices = [n for n in notices if n.recipients]
    users = {u.pk: u for n in notices for u in n.recipients if u.is_active}
    if not users:
        return []
    provider = Provider.current()

    def current() -> Provider:
        return provider

    prefs = {p.user_id: p for p in Preference.objects.filter(user_id__in=list(users))}
    agents = set(Agent.objects.filter(user_id__in=list(users)).values_list("user_id", flat=True))
    in_app = [pk for pk in users if pk in agents and (pk not in prefs or prefs[pk].in_app)]
    keys = list({n.key[:200] for n in notices})
    told: dict[tuple[int, str], Notification | None] = {}
    if in_app:
        told = {(n.recipient_id, n.key): n for n in Notification.objects.filter(
            among("key", keys), recipient_id__in=in_app)}
    # Who hears what: (notice, user, preference), in the order `notify` would go.
    plan: _Plan = []
    done: list[Sent] = []
    defaults: dict[int, Preference] = {}
    for notice in notices:
        seen: set[int] = set()
        for user in notice.recipients:
            if user.pk in seen or not user.is_active:
                continue
            seen.add(user.pk)
            pref = prefs.get(user.pk) or defaults.get(user.pk)
            if pref is None:  # the defaults, one instance per person (read only)
                pref = defaults[user.pk] = Preference(user=user)
            if notice.kind in (pref.muted_kinds or []):
                continue
            if user.pk in agents and pref.in_app:
                tag = (user.pk, notice.key[:200])
                if tag in told:  # told of this occasion already (before, or just now)
                    done.append(Sent(user, told[tag], emailed=False))
                    continue
                told[tag] = None
            plan.append((notice, user, pref))
    rendered = _render_plan(plan, agents, current)
    notes: list[dict[str, Any] | None] = []
    mails: list[dict[str, Any] | None] = []
    for notice, user, pref in plan:
        subject, text, html = rendered[(id(notice), user.pk)]
        is_agent = user.pk in agents
        wants_digest = is_agent and pref.digest != Preference.Digest.OFF
        when = notice.at or at
        note: dict[str, Any] | None = None
        if is_agent and pref.in_app:
            note = {"recipient_id": user.pk, "key": notice.key[:200], "kind": notice.kind,
                    "ticket_id": notice.ticket.pk if notice.ticket is not None else None,
                    "title": subject[:300], "body": text, "created_at": when,
                    "digested_at": None if (wants_digest and pref.email) else when}
        notes.append(note)
        mail: dict[str, Any] | None = None
        if email and pref.email and not wants_digest:
            mail = {"key": f"{notice.key}:u{user.pk}", "to": [user.email],
                    "subject": subject, "text": text, "html": html, "ticket": notice.ticket,
                    "headers": {"Auto-Submitted": "auto-generated",
                                "X-Tierdesk-Kind": notice.kind}}
        mails.append(mail)
    made = _write_notes([n for n in notes if n is not None])
    for (notice, user, _pref), note, mail in zip(plan, notes, mails, strict=True):
        row, created = made.get((user.pk, notice.key[:200]), (None, True)) if note else (None, True)
        if not created:  # a concurrent notify of the same occasion won: they were told
            done.append(Sent(user, row, emailed=False))
            continue
        done.append(Sent(user, row, emailed=mail is not None, new=True))
    enqueue_emails([m for (_n, u, _p), note, m in zip(plan, notes, mails, strict=True)
                    if m is not None and (note is None or made[(u.pk, note["key"])][1])])
    return done


def _write_notes(notes: list[dict[str, Any]]) -> dict[tuple[int, str], tuple[Notification, bool]]:
    """Insert the in-app rows in bulk, in a savepoint: when another transaction wrote one of
    them meanwhile (the unique key), one by one instead, reading the winners' rows."""
    if not notes:
        return {}
    try:
        with transaction.atomic():
            ids = insert_rows(Notification, notes)
        return {(n["recipient_id"], n["key"]): (Notification(pk=pk, **n), True)
                for n, pk in zip(notes, ids, strict=True)}
    except IntegrityError:
        out = {}
        for n in notes:
            fields = {k: v for k, v in n.items() if k not in ("recipient_id", "key")}
            try:
                out[(n["recipient_id"], n["key"])] = Notification.objects.get_or_create(
                    recipient_id=n["recipient_id"], key=n["key"], defaults=fields)
            except IntegrityError:
                out[(n["recipient_id"], n["key"])] = (Notification.objects.get(
                    recipient_id=n["recipient_id"], key=n["key"]), False)
        return out


_Plan = list[tuple[Notice, User, Preference]]
_Rendered = dict[tuple[int, int], tuple[str, str, str]]

# Kinds whose templates read, of what varies from one occasion to the next, only the
# ticket's reference and subject (and the attributes listed), the url, `due_at` (through
# `|date:"DATETIME_FORMAT"`) and the text values listed; their other context (`target_label`,
# `share`) is the same for many occasions. A wave of them is rendered once per (language,
# zone, audience, that context) with markers where the occasion's values go, and each
# occasion's texts are the markers filled in: exactly the texts a render of its own gives
# (checked on the first occasion of every group; a value the fill could not reproduce — a
# line break, odd spacing — is rendered apart).


@dataclass(frozen=True)
class _Fillable:
    shared: tuple[str, ...] = ()  # context keys whose values make the group
    texts: tuple[str, ...] = ()  # context keys filled in per occasion
    dated: bool = False  # `due_at`, printed with the date filter
    ticket: tuple[str, ...] = ()  # attributes of the ticket the templates test


_FILLED_KINDS = {"sla_warning": _Fillable(shared=("target_label", "share"), dated=True),
                 "sla_breached": _Fillable(shared=("target_label", "share"), dated=True),
                 "assigned": _Fillable(texts=("reason",), ticket=("tier",))}
_REF, _SUBJECT, _URL, _DUE = "\ue000r\ue001", "\ue000s\ue001", "\ue000u\ue001", "\ue000d\ue001"
# A due instant whose printed form stands in for the marker (a filter reads a datetime).
_PROBE = datetime(1999, 12, 31, 13, 47, tzinfo=ZoneInfo("UTC"))


def _text_marker(key: str) -> str:
    return f"\ue000t{key}\ue001"


@dataclass(frozen=True)
class _Marked:
    """What a template reads of the ticket in a marked render."""

    reference: str = _REF
    subject: str = _SUBJECT
    tier: int | None = None


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
        spec = _FILLED_KINDS[notice.kind]
        if set(context) != {*spec.shared, *spec.texts, *(["due_at"] if spec.dated else [])}:
            return None
        due = context.get("due_at")
        values = {_REF: ticket.reference, _SUBJECT: ticket.subject,
                  _URL: self.urls[is_agent](ticket)}
        for key in spec.texts:
            if not isinstance(context[key], str):
                return None
            values[_text_marker(key)] = context[key]
        if due is not None:
            values[_DUE] = self.due_text(due)
        if not all(_fillable(v) for v in values.values()):
            return None
        group = (notice.kind, is_agent, due is None, *(str(context[k]) for k in spec.shared),
                 *(getattr(ticket, k) for k in spec.ticket))
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
    spec = _FILLED_KINDS[notice.kind]
    ticket = notice.ticket
    marked = _Marked(**{k: getattr(ticket, k) for k in spec.ticket})
    ctx = {**context, "ticket": marked, "recipient": user, "url": _URL, "tzname": zone,
           **{k: _text_marker(k) for k in spec.texts}}
    if spec.dated:
        ctx["due_at"] = _PROBE if due is not None else None
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


