"""What the reports read and keep: per-ticket measures, surveys, KPI targets, monthly reports.

`TicketMeasure` is a cache, like the SLA rows it is made from: one narrow row per
ticket with the dimensions a report groups by and the figures it aggregates,
written by a tickets.hooks subscriber in the action's transaction and rebuilt at
will by `tierdesk reports backfill`. Reports aggregate it in SQL; they never
load tickets into Python.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class MeasureState(models.IntegerChoices):
    """A target's state in a measure row (small integers: a report scans a million)."""

    NONE = 0, _("No target")
    RUNNING = 1, _("Running")
    PAUSED = 2, _("Paused")
    MET = 3, _("Met")
    BREACHED = 4, _("Breached")


# A measure row some of whose figures depend on a report's `now`: a running target turns
# breached when `now` passes its due instant, and an unanswered ticket turns "not answered
# by the next business day" when `now` passes `answer_due_at`. The rollup (rollup.py) adds
# up everything else ahead; a report counts that part of these rows live.
LIVE_Q = (Q(fr_state=1) | Q(rp_state=1) | Q(res_state=1)
          | Q(first_response_at__isnull=True, answer_due_at__isnull=False))


def _dim(model: str, name: Any) -> models.ForeignKey:
    """A dimension copied from the ticket: no constraint, no index of its own (the
    composite indexes below serve the reports), never cascades."""
    return models.ForeignKey(model, on_delete=models.DO_NOTHING, db_constraint=False,
                             db_index=False, null=True, blank=True, related_name="+",
                             verbose_name=name)


class TicketMeasure(models.Model):
    """One ticket's figures for the reports, derived from its SLA rows, timeline and clock.

    Per target (fr: first response, rp: resolution plan, res: resolution):
    `*_state`, `*_seconds` (the business time counted when the target stopped,
    NULL while it runs) and `*_due_at` (when a running target will breach, so a
    report counts an overdue target as breached before the sweep has told it).
    """

    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, primary_key=True,
                                  related_name="measure")
    organisation = _dim("accounts.Organisation", _("organisation"))
    plan = _dim("sla.Plan", _("plan"))
    priority = _dim("tickets.Priority", _("priority"))
    category = _dim("tickets.Category", _("category"))
    assignee = _dim("accounts.Agent", _("agent"))
    team = _dim("accounts.Team", _("team"))
    tier = models.PositiveSmallIntegerField(default=1)
    channel = models.CharField(max_length=10)
    status = models.CharField(max_length=20)

    created_at = models.DateTimeField()
    first_response_at = models.DateTimeField(null=True, blank=True)
    first_resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    # The close of the first business day after the day it came in (seed 000:
    # "99% of emails answered by the next business day").
    answer_due_at = models.DateTimeField(null=True, blank=True)

    fr_state = models.PositiveSmallIntegerField(choices=MeasureState.choices, default=0)
    fr_seconds = models.PositiveIntegerField(null=True, blank=True)
    fr_due_at = models.DateTimeField(null=True, blank=True)
    rp_state = models.PositiveSmallIntegerField(choices=MeasureState.choices, default=0)
    rp_seconds = models.PositiveIntegerField(null=True, blank=True)
    rp_due_at = models.DateTimeField(null=True, blank=True)
    res_state = models.PositiveSmallIntegerField(choices=MeasureState.choices, default=0)
    res_seconds = models.PositiveIntegerField(null=True, blank=True)
    res_due_at = models.DateTimeField(null=True, blank=True)

    # Business time the clock stood still, by reason (from the engine's explanation).
    paused_customer_seconds = models.PositiveIntegerField(default=0)
    paused_third_party_seconds = models.PositiveIntegerField(default=0)

    reopens = models.PositiveSmallIntegerField(default=0)
    escalations_tier2 = models.PositiveSmallIntegerField(default=0)
    escalations_tier3 = models.PositiveSmallIntegerField(default=0)
    escalations_customer = models.PositiveSmallIntegerField(default=0)

    refreshed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("ticket measure")
        indexes = [
            models.Index(fields=["created_at"], name="rm_created"),
            models.Index(fields=["organisation", "created_at"], name="rm_org_created"),
            # The live rows (LIVE_Q) with what a report reads of them beside the rollup
            # (rollup.py): index-only on PostgreSQL.
            models.Index(fields=["created_at"], condition=LIVE_Q, name="rm_live", include=[
                "fr_state", "fr_due_at", "rp_state", "rp_due_at", "res_state", "res_due_at",
                "first_response_at", "answer_due_at", "channel", "priority", "category",
                "organisation", "plan", "assignee", "team", "tier"]),
        ]

    def __str__(self) -> str:
        return f"measure of {self.ticket_id}"


class _Rolled(models.Model):
    """A delta of the rollup of the measure rows (rollup.py): what the rows created in one
    segment of time with one value of one dimension add up to. Written by triggers on the
    measure table (PostgreSQL), several rows a key until `rollup.compact` sums them."""

    # The segment of time `created_at` falls in: a UTC day, cut at the provider's local
    # midnights (rollup.cuts), so that its days and UTC's both are whole segments.
    start = models.DateTimeField()
    dim = models.CharField(max_length=12)  # "" (every row), or a dimension's name
    value = models.CharField(max_length=40, blank=True)  # its value as text; "" for none

    class Meta:
        abstract = True


class RollupCount(_Rolled):
    tickets = models.BigIntegerField(default=0)
    paused_customer = models.BigIntegerField(default=0)
    paused_third_party = models.BigIntegerField(default=0)
    resolved = models.BigIntegerField(default=0)
    reopened = models.BigIntegerField(default=0)
    escalated_tier2 = models.BigIntegerField(default=0)
    escalated_tier3 = models.BigIntegerField(default=0)
    escalated_customer = models.BigIntegerField(default=0)
    fr_met = models.BigIntegerField(default=0)
    fr_breached = models.BigIntegerField(default=0)
    fr_n = models.BigIntegerField(default=0)
    rp_met = models.BigIntegerField(default=0)
    rp_breached = models.BigIntegerField(default=0)
    rp_n = models.BigIntegerField(default=0)
    res_met = models.BigIntegerField(default=0)
    res_breached = models.BigIntegerField(default=0)
    res_n = models.BigIntegerField(default=0)
    answered_on_time = models.BigIntegerField(default=0)
    answered_late = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["dim", "start"], name="rollup_count_dim_start")]

    def __str__(self) -> str:
        return f"rollup of {self.dim or 'all'}={self.value} from {self.start}"


class RollupTime(_Rolled):
    """How many of a target's business seconds fall in a bucket (rollup.EDGES), per segment
    and, again, per UTC week (`week`: `start` is a Monday's midnight in UTC), so that a
    long period reads a row a week rather than three a day."""

    week = models.BooleanField(default=False)
    target = models.PositiveSmallIntegerField()  # 0 first response, 1 plan, 2 resolution
    bucket = models.PositiveSmallIntegerField()
    n = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["dim", "week", "start"], name="rollup_time_dim_start")]

    def __str__(self) -> str:
        return f"times of {self.dim or 'all'}={self.value} from {self.start}"


class Rating(models.IntegerChoices):
    POSITIVE = 1, _("Good")
    NEUTRAL = 0, _("Okay")
    NEGATIVE = -1, _("Bad")


RATING_BY_FACE = {"positive": Rating.POSITIVE, "neutral": Rating.NEUTRAL,
                  "negative": Rating.NEGATIVE}
FACE_BY_RATING = {v: k for k, v in RATING_BY_FACE.items()}


class SatisfactionSurvey(models.Model):
    """The question asked after one resolution of a ticket, and its answer.

    One per resolution cycle (`cycle` is the ticket's reopen count when it was
    resolved): reopening a ticket leaves the answer about the earlier resolution
    where it was, and the next resolution asks again. The dimensions are those of
    the ticket when it was resolved, so results by agent or team do not move when
    the ticket is later reassigned.
    """

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE,
                               related_name="surveys")
    cycle = models.PositiveSmallIntegerField(default=0)
    resolved_at = models.DateTimeField()
    organisation = _dim("accounts.Organisation", _("organisation"))
    assignee = _dim("accounts.Agent", _("agent"))
    team = _dim("accounts.Team", _("team"))
    category = _dim("tickets.Category", _("category"))
    priority = _dim("tickets.Priority", _("priority"))
    sent_to = models.EmailField(blank=True)

    rating = models.SmallIntegerField(_("rating"), choices=Rating.choices, null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")

    class Meta:
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        constraints = [models.UniqueConstraint(fields=["ticket", "cycle"], name="survey_per_cycle")]
        indexes = [models.Index(fields=["resolved_at"], name="rs_resolved"),
                   models.Index(fields=["organisation", "resolved_at"], name="rs_org_resolved")]

    def __str__(self) -> str:
        return f"survey of {self.ticket_id} (cycle {self.cycle})"

    @property
    def face(self) -> str | None:
        return FACE_BY_RATING.get(self.rating) if self.rating is not None else None  # type: ignore[call-overload]


class AnnualSurvey(models.Model):
    """The yearly survey of the customers' opinion (seed 004), with the provider's questions.

    `questions` is a list of {"key": "q1", "text": "...", "kind": "scale" | "text"};
    scale questions are answered 1 (poor) to 5 (excellent).
    """

    name = models.CharField(_("name"), max_length=200)
    year = models.PositiveSmallIntegerField(_("year"))
    intro = models.TextField(_("introduction"), blank=True)
    questions = models.JSONField(_("questions"), default=list)
    opens_on = models.DateField(_("opens on"))
    closes_on = models.DateField(_("closes on"))
    organisations = models.ManyToManyField(
        "accounts.Organisation", blank=True, related_name="+", verbose_name=_("organisations"),
        help_text=_("Empty: every active organisation."))
    remind_after_days = models.PositiveSmallIntegerField(_("remind after (days)"), default=7)
    max_reminders = models.PositiveSmallIntegerField(_("reminders at most"), default=2)
    launched_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("annual survey")
        verbose_name_plural = _("annual surveys")
        ordering = ["-year", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.year})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from tierdesk.reports.annual import question_errors

        errors = question_errors(self.questions)
        if errors:
            raise ValidationError({"questions": errors})
        if self.opens_on and self.closes_on and self.closes_on < self.opens_on:
            raise ValidationError({"closes_on": _("The survey must close after it opens.")})


class AnnualInvite(models.Model):
    """One contact asked to answer one annual survey."""

    survey = models.ForeignKey(AnnualSurvey, on_delete=models.CASCADE, related_name="invites")
    contact = models.ForeignKey("accounts.Contact", on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE,
                                     related_name="+")
    sent_at = models.DateTimeField()
    reminders = models.PositiveSmallIntegerField(default=0)
    last_sent_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("annual survey invitation")
        constraints = [models.UniqueConstraint(fields=["survey", "contact"], name="annual_once")]

    def __str__(self) -> str:
        return f"{self.survey_id} → {self.contact_id}"


class AnnualAnswer(models.Model):
    """One answer to one question: a score (scale questions) or a text."""

    invite = models.ForeignKey(AnnualInvite, on_delete=models.CASCADE, related_name="answers")
    survey = models.ForeignKey(AnnualSurvey, on_delete=models.CASCADE, related_name="+")
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE,
                                     related_name="+")
    question = models.CharField(max_length=40)
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    text = models.TextField(blank=True)

    class Meta:
        verbose_name = _("annual survey answer")
        constraints = [models.UniqueConstraint(fields=["invite", "question"],
                                               name="annual_answer_once")]

    def __str__(self) -> str:
        return f"{self.invite_id} {self.question}"


class KpiTarget(models.Model):
    """A figure the provider promises (seed 000: "99% of emails answered by the next
    business day"), shown on the reports against the actual one."""

    class Measure(models.TextChoices):
        ANSWERED_NEXT_BUSINESS_DAY = "answered_next_business_day", _(
            "Share answered by the next business day")
        FIRST_RESPONSE_MET = "first_response_met", _("Share of first responses on time")
        RESOLUTION_PLAN_MET = "resolution_plan_met", _("Share of resolution plans on time")
        RESOLUTION_MET = "resolution_met", _("Share of resolutions on time")
        SATISFACTION_POSITIVE = "satisfaction_positive", _("Share of positive survey answers")
        REOPEN_RATE = "reopen_rate", _("Share of resolved tickets reopened (at most)")

    name = models.CharField(_("name"), max_length=200)
    measure = models.CharField(_("measure"), max_length=40, choices=Measure.choices)
    target_percent = models.DecimalField(_("target (%)"), max_digits=5, decimal_places=2)
    channel = models.CharField(_("only the channel"), max_length=10, blank=True,
                               help_text=_("Empty: every channel."))
    priority = models.ForeignKey("tickets.Priority", on_delete=models.CASCADE, null=True,
                                 blank=True, related_name="+", verbose_name=_("only the priority"))
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("KPI target")
        verbose_name_plural = _("KPI targets")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def at_most(self) -> bool:
        """True when the actual figure must stay under the target (reopen rate)."""
        return self.measure == self.Measure.REOPEN_RATE


class OrganisationReporting(models.Model):
    """How one organisation hears from the reports. No row: the defaults."""

    organisation = models.OneToOneField("accounts.Organisation", on_delete=models.CASCADE,
                                        related_name="reporting")
    monthly_report = models.BooleanField(_("monthly report"), default=True)
    share_satisfaction = models.BooleanField(
        _("show satisfaction in the monthly report"), default=True,
        help_text=_("Some contracts keep satisfaction figures internal (seed 004)."))
    extra_recipients = models.JSONField(_("also send the monthly report to"), default=list,
                                        blank=True, help_text=_("Email addresses."))

    class Meta:
        verbose_name = _("organisation reporting")
        verbose_name_plural = _("organisation reporting")

    def __str__(self) -> str:
        return str(self.organisation_id)


class MonthlyReport(models.Model):
    """The proactive report of one month for one organisation, sent once.

    The row is unique per (organisation, month) and claimed with a conditional
    UPDATE of `sent_at` in the transaction that queues its mail, so two workers,
    or one killed and restarted, send it exactly once.
    """

    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE,
                                     related_name="+")
    month = models.DateField(help_text=_("The first day of the month reported."))
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.JSONField(default=list, blank=True)
    figures = models.JSONField(default=dict, blank=True)
    pdf = models.BinaryField(default=b"", blank=True)

    class Meta:
        verbose_name = _("monthly report")
        verbose_name_plural = _("monthly reports")
        ordering = ["-month", "organisation_id"]
        constraints = [models.UniqueConstraint(fields=["organisation", "month"],
                                               name="monthly_once")]

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.month:%Y-%m}"
