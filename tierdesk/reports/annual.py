"""The annual survey of the customers' opinion (seed 004), with reminders and results.

- `launch` invites every active contact of the survey's organisations (all
  active ones when none are chosen) and queues one mail each; launching again
  invites only the contacts added since.
- `remind` (daily, by the worker) mails again those who have not answered,
  `remind_after_days` after the last mail, at most `max_reminders` times, while
  the survey is open. Each reminder is claimed with a conditional UPDATE and
  its mail keyed, so a worker run twice reminds once.
- Answers are rows (one per question), so results are a GROUP BY.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Avg, Count, F, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Contact, Organisation, Provider
from tierdesk.lib import clock
from tierdesk.notifications.notifier import language_of
from tierdesk.notifications.outbox import enqueue_email

from .models import AnnualAnswer, AnnualInvite, AnnualSurvey

SALT = "tierdesk.reports.annual"
KINDS = ("scale", "text")
SCALE = range(1, 6)


def question_errors(questions: Any) -> list[str]:
    if not isinstance(questions, list) or not questions:
        return [_("Give a list of questions: [{\"key\": \"q1\", \"text\": \"…\", "
                  "\"kind\": \"scale\"}, …].")]
    errors, keys = [], set()
    for i, q in enumerate(questions, start=1):
        if not isinstance(q, dict) or not str(q.get("key", "")).strip() or \
                not str(q.get("text", "")).strip():
            errors.append(_("Question %(n)s needs a key and a text.") % {"n": i})
            continue
        if q.get("kind", "scale") not in KINDS:
            errors.append(_("Question %(n)s: the kind is “scale” or “text”.") % {"n": i})
        if q["key"] in keys:
            errors.append(_("Question %(n)s: the key “%(k)s” is used twice.") % {
                "n": i, "k": q["key"]})
        keys.add(q["key"])
    return errors


def questions_of(survey: AnnualSurvey) -> list[dict[str, str]]:
    return [{"key": str(q["key"]), "text": str(q["text"]), "kind": q.get("kind", "scale")}
            for q in survey.questions]


def is_open(survey: AnnualSurvey, at: datetime) -> bool:
    today = timezone.localdate(at)
    return survey.launched_at is not None and survey.opens_on <= today <= survey.closes_on


# --------------------------------------------------------------------------- tokens


def token_for(invite: AnnualInvite) -> str:
    return signing.dumps({"i": invite.pk, "c": invite.contact_id}, salt=SALT, compress=True)


def invite_for_token(token: str) -> AnnualInvite | None:
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("i"), int) or \
            not isinstance(data.get("c"), int):
        return None
    return (AnnualInvite.objects.select_related("survey", "organisation", "contact__user")
            .filter(pk=data["i"], contact_id=data["c"]).first())


def link(invite: AnnualInvite) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("survey:annual", args=[token_for(invite)])


# --------------------------------------------------------------------------- sending


def organisations_of(survey: AnnualSurvey):
    chosen = survey.organisations.all()
    return chosen if chosen.exists() else Organisation.objects.filter(is_active=True)


@transaction.atomic
def launch(survey: AnnualSurvey, *, now: datetime | None = None) -> int:
    """Invite the contacts not yet invited; returns how many were."""
    now = now or clock.now()
    if survey.launched_at is None:
        survey.launched_at = now
        survey.save(update_fields=["launched_at"])
    invited = set(survey.invites.values_list("contact_id", flat=True))
    contacts = (Contact.objects.select_related("user", "organisation")
                .filter(organisation__in=organisations_of(survey), held_for_review=False,
                        user__is_active=True).exclude(pk__in=invited).order_by("pk"))
    count = 0
    for contact in contacts:
        invite = AnnualInvite.objects.create(survey=survey, contact=contact,
                                             organisation=contact.organisation, sent_at=now,
                                             last_sent_at=now)
        _mail(invite, reminder=0)
        count += 1
    return count


def remind(*, now: datetime | None = None) -> int:
    """Remind those who have not answered an open survey; returns how many were reminded."""
    now = now or clock.now()
    count = 0
    surveys = [s for s in AnnualSurvey.objects.filter(launched_at__isnull=False)
               if is_open(s, now)]
    for survey in surveys:
        due = (AnnualInvite.objects.filter(
            survey=survey, answered_at__isnull=True, reminders__lt=survey.max_reminders,
            last_sent_at__lte=now - timedelta(days=survey.remind_after_days))
            .values_list("pk", "reminders"))
        for pk, reminders in list(due):
            with transaction.atomic():
                claimed = AnnualInvite.objects.filter(
                    pk=pk, reminders=reminders, answered_at__isnull=True).update(
                    reminders=F("reminders") + 1, last_sent_at=now)
                if not claimed:
                    continue  # answered meanwhile, or another worker took it
                invite = AnnualInvite.objects.select_related(
                    "survey", "contact__user", "organisation").get(pk=pk)
                _mail(invite, reminder=reminders + 1)
                count += 1
    return count


def _mail(invite: AnnualInvite, *, reminder: int) -> None:
    user = invite.contact.user
    with translation.override(language_of(user)):
        context = {"survey": invite.survey, "invite": invite, "recipient": user,
                   "provider": Provider.current(), "url": link(invite), "reminder": reminder}
        subject = " ".join(render_to_string("reports/email/annual.subject.txt",
                                            context).split())
        text = render_to_string("reports/email/annual.txt", context).strip() + "\n"
    enqueue_email(key=f"annual:{invite.pk}:{reminder}", to=[user.email], subject=subject,
                  text=text, headers={"Auto-Submitted": "auto-generated",
                                      "X-Tierdesk-Kind": "annual_survey"})


# --------------------------------------------------------------------------- answering


@transaction.atomic
def answer(invite: AnnualInvite, values: dict[str, Any], *, at: datetime | None = None) -> None:
    """Store (or replace) the answers of one invitation; changeable while the survey is open."""
    at = at or clock.now()
    for q in questions_of(invite.survey):
        raw = values.get(q["key"])
        score = int(raw) if q["kind"] == "scale" and raw not in (None, "") else None
        text = str(raw or "").strip()[:4000] if q["kind"] == "text" else ""
        if score is None and not text:
            AnnualAnswer.objects.filter(invite=invite, question=q["key"]).delete()
            continue
        AnnualAnswer.objects.update_or_create(
            invite=invite, question=q["key"],
            defaults={"survey": invite.survey, "organisation": invite.organisation,
                      "score": score, "text": text})
    AnnualInvite.objects.filter(pk=invite.pk).update(answered_at=at)
    invite.answered_at = at


def current_answers(invite: AnnualInvite) -> dict[str, Any]:
    return {a.question: (a.score if a.score is not None else a.text)
            for a in invite.answers.all()}


# --------------------------------------------------------------------------- results


@dataclass
class QuestionResult:
    key: str
    text: str
    kind: str
    answers: int
    average: float | None
    distribution: dict[int, int]


@dataclass
class OrganisationResult:
    organisation: str
    organisation_id: int
    invited: int
    answered: int
    averages: dict[str, float | None]

    @property
    def response_rate(self) -> float | None:
        return 100.0 * self.answered / self.invited if self.invited else None


def results(survey: AnnualSurvey, *, organisation: int | None = None) -> tuple[
        list[QuestionResult], list[OrganisationResult]]:
    """Per question (average, distribution) and per organisation (response, averages)."""
    answers = AnnualAnswer.objects.filter(survey=survey)
    invites = AnnualInvite.objects.filter(survey=survey)
    if organisation is not None:
        answers = answers.filter(organisation_id=organisation)
        invites = invites.filter(organisation_id=organisation)
    per_question: dict[str, Any] = {row["question"]: row for row in answers.values(
        "question").annotate(n=Count("pk"), avg=Avg("score"))}
    spread: dict[str, dict[int, int]] = {}
    for cell in (answers.filter(score__isnull=False).values("question", "score")
                 .annotate(n=Count("pk"))):
        spread.setdefault(cell["question"], {})[int(cell["score"] or 0)] = cell["n"]
    questions = [QuestionResult(q["key"], q["text"], q["kind"],
                                per_question.get(q["key"], {}).get("n", 0),
                                per_question.get(q["key"], {}).get("avg"),
                                {s: spread.get(q["key"], {}).get(s, 0) for s in SCALE})
                 for q in questions_of(survey)]
    averages: dict[int, dict[str, float | None]] = {}
    for avg in (answers.filter(score__isnull=False).values("organisation_id", "question")
                .annotate(avg=Avg("score"))):
        averages.setdefault(avg["organisation_id"], {})[avg["question"]] = avg["avg"]
    orgs = [OrganisationResult(row["organisation__name"], row["organisation_id"], row["invited"],
                               row["answered"], averages.get(row["organisation_id"], {}))
            for row in invites.values("organisation_id", "organisation__name").annotate(
                invited=Count("pk"), answered=Count("pk", filter=Q(answered_at__isnull=False)))
            .order_by("organisation__name")]
    return questions, orgs


def comments(survey: AnnualSurvey, *, organisation: int | None = None):
    qs = AnnualAnswer.objects.filter(survey=survey).exclude(text="")
    if organisation is not None:
        qs = qs.filter(organisation_id=organisation)
    return qs.select_related("organisation").order_by("question", "organisation__name")
