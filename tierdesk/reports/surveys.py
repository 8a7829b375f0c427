"""Satisfaction after each resolution (seeds 003 and 004): three faces and a comment.

- `open_survey` (a tickets.hooks subscriber calls it when a ticket is resolved)
  writes the survey of that resolution cycle and queues the mail with the three
  faces, in the action's transaction.
- The links carry a signed token naming the survey and its ticket (salted for
  this use only), so they work without signing in, cannot be forged, and a
  token of one ticket never opens another's survey.
- `answer` records or changes the answer: the first within ANSWER_DAYS of the
  resolution, changes within CHANGE_DAYS of the first answer. A negative answer
  tells the team lead once per survey (notifications.notify, keyed).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Provider, User
from tierdesk.lib import clock
from tierdesk.notifications import recipients
from tierdesk.notifications.notifier import language_of, notify
from tierdesk.notifications.outbox import enqueue_email
from tierdesk.tickets.lifecycle import ResolutionCode
from tierdesk.tickets.models import Ticket

from .models import RATING_BY_FACE, Rating, SatisfactionSurvey

log = logging.getLogger(__name__)
SALT = "tierdesk.reports.survey"
FACES = ("positive", "neutral", "negative")


def answer_days() -> int:
    return int(getattr(settings, "SURVEY_ANSWER_DAYS", 30))


def change_days() -> int:
    return int(getattr(settings, "SURVEY_CHANGE_DAYS", 7))


# --------------------------------------------------------------------------- tokens


def token_for(survey: SatisfactionSurvey) -> str:
    return signing.dumps({"s": survey.pk, "t": survey.ticket_id}, salt=SALT, compress=True)


def survey_for_token(token: str) -> SatisfactionSurvey | None:
    """The survey a token names, or None if it was forged, altered or names another ticket."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("s"), int) or \
            not isinstance(data.get("t"), int):
        return None
    return (SatisfactionSurvey.objects.select_related("ticket__organisation", "ticket__requester")
            .filter(pk=data["s"], ticket_id=data["t"]).first())


def link(survey: SatisfactionSurvey, face: str | None = None, *, absolute: bool = True) -> str:
    path = reverse("survey:answer", args=[token_for(survey)])
    if face:
        path += f"?face={face}"
    return settings.SITE_URL.rstrip("/") + path if absolute else path


# --------------------------------------------------------------------------- asking


def open_survey(ticket: Ticket, *, at: datetime) -> SatisfactionSurvey | None:
    """Write the survey of this resolution and queue its mail (inside the action's transaction).

    Duplicates merged into another ticket are not asked about: the customer is
    asked when the ticket that carries the work is resolved.
    """
    if ticket.resolution_code == ResolutionCode.DUPLICATE:
        return None
    survey, created = SatisfactionSurvey.objects.get_or_create(
        ticket=ticket, cycle=ticket.reopen_count, defaults={
            "resolved_at": ticket.resolved_at or at, "organisation_id": ticket.organisation_id,
            "assignee_id": ticket.assignee_id, "team_id": ticket.team_id,
            "category_id": ticket.category_id, "priority_id": ticket.priority_id})
    if not created:
        return survey
    requester = ticket.requester.user
    if requester.is_active and requester.email:
        survey.sent_to = requester.email
        survey.save(update_fields=["sent_to"])
        subject, text, html = render_mail(survey, requester)
        enqueue_email(key=f"survey:{survey.pk}", to=[requester.email], subject=subject, text=text,
                      html=html, ticket=ticket,
                      headers={"Auto-Submitted": "auto-generated", "X-Tierdesk-Kind": "survey",
                               "X-Tierdesk-Ticket": ticket.reference})
    return survey


def render_mail(survey: SatisfactionSurvey, user: User) -> tuple[str, str, str]:
    ticket = survey.ticket
    provider = Provider.current()
    with translation.override(language_of(user)):
        context = {"ticket": ticket, "provider": provider, "recipient": user,
                   "faces": [(face, label, link(survey, face)) for face, label in face_labels()],
                   "url": link(survey), "days": answer_days()}
        subject = " ".join(render_to_string("reports/email/survey.subject.txt", context).split())
        text = render_to_string("reports/email/survey.txt", context).strip() + "\n"
        html = render_to_string("reports/email/survey.html", context)
    return subject, text, html


def face_labels() -> list[tuple[str, str]]:
    return [("positive", _("Good")), ("neutral", _("Okay")), ("negative", _("Bad"))]


# --------------------------------------------------------------------------- answering


@dataclass(frozen=True)
class Window:
    """Whether a survey can be answered or changed at an instant, and why not."""

    open: bool
    reason: str = ""


def window(survey: SatisfactionSurvey, at: datetime) -> Window:
    if survey.answered_at is None:
        if at > survey.resolved_at + timedelta(days=answer_days()):
            return Window(False, _("This survey closed %(days)s days after the ticket was "
                                   "resolved.") % {"days": answer_days()})
        return Window(True)
    if at > survey.answered_at + timedelta(days=change_days()):
        return Window(False, _("Answers can be changed for %(days)s days; this one is kept as "
                               "it is.") % {"days": change_days()})
    return Window(True)


class SurveyClosed(Exception):
    pass


def answer(survey: SatisfactionSurvey, *, face: str, comment: str, by: User | None,
           at: datetime | None = None) -> SatisfactionSurvey:
    """Record or change the answer; a negative one tells the team lead (once per survey)."""
    at = at or clock.now()
    if face not in RATING_BY_FACE:
        raise ValueError(f"not a face: {face!r}")
    state = window(survey, at)
    if not state.open:
        raise SurveyClosed(state.reason)
    rating = RATING_BY_FACE[face]
    with transaction.atomic():
        first = survey.answered_at is None
        survey.rating = rating
        survey.comment = comment.strip()[:4000]
        if first:
            survey.answered_at = at
        else:
            survey.changed_at = at
        if by is not None and by.is_authenticated:
            survey.answered_by = by
        survey.save(update_fields=["rating", "comment", "answered_at", "changed_at", "answered_by"])
        if rating == Rating.NEGATIVE:
            _alert_lead(survey, at)
    return survey


def _alert_lead(survey: SatisfactionSurvey, at: datetime) -> None:
    ticket = survey.ticket
    leads = [agent.user for agent in recipients.agents_in_role("team_lead", ticket)]
    if not leads:
        return
    notify(key=f"survey-negative:{survey.pk}", kind="survey_negative", recipients=leads,
           ticket=ticket, at=at, context={"comment": survey.comment,
                                          "requester": ticket.requester.user.get_full_name()})


def current_survey(ticket: Ticket) -> SatisfactionSurvey | None:
    """The survey of the ticket's latest resolution, if it is resolved and was asked."""
    if ticket.is_active:
        return None
    return SatisfactionSurvey.objects.filter(ticket=ticket, cycle=ticket.reopen_count).first()
