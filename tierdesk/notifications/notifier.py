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

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError
from django.template.loader import get_template, render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation

from tierdesk.accounts.models import Agent, Provider, User
from tierdesk.lib import clock
from tierdesk.notifications.models import Notification, Preference
from tierdesk.notifications.outbox import enqueue_email, enqueue_emails

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
    try:
        path = reverse("console:ticket" if agent else "portal:ticket", args=[ticket.reference])
    except NoReverseMatch:
        path = "/"
    return settings.SITE_URL.rstrip("/") + path


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
    keys = {n.key[:200] for n in notices}
    told = set(Notification.objects.filter(recipient_id__in=list(users), key__in=keys)
               .values_list("recipient_id", "key"))
    # Who hears what: (notice, user, preference), in the order `notify` would go.
    plan: list[tuple[Notice, User, Preference]] = []
    for notice in notices:
        seen: set[int] = set()
        for user in notice.recipients:
            if user.pk in seen or not user.is_active:
                continue
            seen.add(user.pk)
            if (user.pk, notice.key[:200]) in told:  # a notice of the same key, earlier
                continue
            pref = prefs.get(user.pk) or Preference(user=user)
            if notice.kind in (pref.muted_kinds or []):
                continue
            if user.pk in agents and pref.in_app:
                # `notify` stops at an existing in-app row: the person was told already.
                told.add((user.pk, notice.key[:200]))
            plan.append((notice, user, pref))
    # Render: per (kind, language, zone), one switch; per notice, one text per audience.
    groups: dict[tuple[str, str, str], list[tuple[Notice, User, Preference]]] = {}
    for item in plan:
        notice, user, _pref = item
        groups.setdefault((notice.kind, language_of(user, current=current),
                           zone_of(user, current=current)), []).append(item)
    rendered: dict[tuple[int, int], tuple[str, str, str]] = {}
    for (kind, language, zone), items in groups.items():
        subject_t = get_template(f"notifications/email/{kind}.subject.txt")
        text_t = get_template(f"notifications/email/{kind}.txt")
        html_t = get_template("notifications/email/base.html")
        shared: dict[tuple[int, bool], tuple[str, str, str]] = {}
        with translation.override(language), timezone.override(ZoneInfo(zone)):
            for notice, user, _pref in items:
                is_agent = user.pk in agents
                done = shared.get((id(notice), is_agent))
                if done is None:
                    ticket = notice.ticket
                    ctx = {**(notice.context or {}), "ticket": ticket, "recipient": user,
                           "url": ticket_url(ticket, agent=is_agent) if ticket is not None
                           else settings.SITE_URL, "tzname": zone}
                    subject = " ".join(subject_t.render(ctx).split())
                    text = text_t.render(ctx).strip() + "\n"
                    html = html_t.render({**ctx, "subject": subject, "text": text})
                    done = shared[(id(notice), is_agent)] = (subject, text, html)
                rendered[(id(notice), user.pk)] = done
    notes: list[Notification] = []
    mails: list[dict[str, Any]] = []
    for notice, user, pref in plan:
        subject, text, html = rendered[(id(notice), user.pk)]
        is_agent = user.pk in agents
        wants_digest = is_agent and pref.digest != Preference.Digest.OFF
        if is_agent and pref.in_app:
            notes.append(Notification(
                recipient=user, key=notice.key[:200], kind=notice.kind, ticket=notice.ticket,
                title=subject[:300], body=text, created_at=at,
                digested_at=None if (wants_digest and pref.email) else at))
        if email and pref.email and not wants_digest:
            mails.append({"key": f"{notice.key}:u{user.pk}", "to": [user.email],
                          "subject": subject, "text": text, "html": html,
                          "ticket": notice.ticket,
                          "headers": {"Auto-Submitted": "auto-generated",
                                      "X-Tierdesk-Kind": notice.kind}})
    Notification.objects.bulk_create(notes, batch_size=500)
    enqueue_emails(mails)
    return len(plan)
