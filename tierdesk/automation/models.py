"""Escalation rules, the claims that make each automatic step happen once, and schedules.

- `EscalationRule`: a rule as data (`when` conditions -> `then` actions), from the
  policy file or the admin; checked when saved (`tierdesk.automation.rules`).
- `Firing`: one row per step taken on a ticket (a warning, a breach, a rule, a
  missed commitment) and cycle. Its unique constraint is the claim: two sweeps
  racing, or a sweep killed and started again, cannot take a step twice, and a
  step is only taken in the transaction that writes its row. Its consequences
  (notifications, rules) are taken after, claimed by a conditional UPDATE of
  `done_at`, so they too happen once, and are retried if a worker died.
- `Alarm`: per ticket, the next instant the sweep must look at it for something
  other than a deadline (warnings, time-based rules, committed time-frames);
  deadlines are `Ticket.next_due_at`. Both are indexed, so a sweep reads only
  the tickets that are due.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class EscalationRule(models.Model):
    class Source(models.TextChoices):
        DEFAULT = "default", _("Shipped default")
        POLICY = "policy", _("Policy file")
        ADMIN = "admin", _("Written in the admin")

    name = models.CharField(_("name"), max_length=200, unique=True)
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    when = models.JSONField(_("when"), help_text=_(
        'Conditions, all of which must hold, e.g. {"priority": "critical", '
        '"target": "first_response", "state": "breached"} or {"unresolved_for_days": 5}.'))
    then = models.JSONField(_("then"), help_text=_(
        'Actions, e.g. {"escalate_to": "support_manager", "notify": ["team_lead"]}.'))
    source = models.CharField(_("source"), max_length=10, choices=Source.choices,
                              default=Source.ADMIN)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("escalation rule")
        verbose_name_plural = _("escalation rules")
        ordering = ["position", "pk"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from tierdesk.automation.rules import RuleError, compile_rule

        try:
            compile_rule(self.name, self.when, self.then, pk=self.pk)
        except RuleError as exc:
            raise ValidationError({"when" if exc.part == "when" else "then": exc.problems}) from exc


class Firing(models.Model):
    """A step the automation took on a ticket, claimed once per (target, kind, cycle)."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    # An SLA target name, "rule:<pk>" or "timeframe".
    target = models.CharField(max_length=60)
    # "warning", "breach", "rule", "missed".
    kind = models.CharField(max_length=20)
    # SLA steps and rules: the ticket's reopen count; commitments: the commitment's event id.
    cycle = models.PositiveBigIntegerField()
    fired_at = models.DateTimeField()
    # Its consequences (people told, rules applied) were taken, in their own transaction.
    done_at = models.DateTimeField(null=True, blank=True)
    failed = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("automation step")
        constraints = [models.UniqueConstraint(fields=["ticket", "target", "kind", "cycle"],
                                               name="firing_once")]
        indexes = [models.Index(fields=["fired_at"], condition=models.Q(done_at__isnull=True),
                                name="firing_pending")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.target} {self.kind} #{self.cycle}"


class Alarm(models.Model):
    """When the sweep must next look at a ticket for a warning, a time rule or a commitment."""

    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, primary_key=True,
                                  related_name="+")
    at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("automation alarm")

    def __str__(self) -> str:
        return f"{self.ticket_id} at {self.at}"


class Watcher(models.Model):
    """A member of staff who hears about a ticket's warnings, breaches and escalations."""

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField()

    class Meta:
        verbose_name = _("watcher")
        constraints = [models.UniqueConstraint(fields=["ticket", "user"], name="watch_once")]

    def __str__(self) -> str:
        return f"{self.user_id} watches {self.ticket_id}"


class RoutingState(models.Model):
    """When routing last gave an agent a ticket: ties go to whoever waited longest."""

    agent = models.OneToOneField("accounts.Agent", on_delete=models.CASCADE, primary_key=True,
                                 related_name="+")
    last_assigned_at = models.DateTimeField()

    class Meta:
        verbose_name = _("routing state")

    def __str__(self) -> str:
        return f"{self.agent_id} {self.last_assigned_at}"


class CommitmentPolicy(models.Model):
    """Seed 000: the tier-2 (or tier-3) engineer given a ticket commits a new resolution
    time-frame. When they have not within `due_within_minutes` business minutes of being
    given it (on the ticket's plan calendar), the sweep reminds them at `remind_share` of
    that time and tells `escalate_to` when it has passed. One row per desk: the policy
    file's `[commitment]` table writes it, the admin edits it; none means the defaults."""

    is_active = models.BooleanField(_("active"), default=True)
    due_within_minutes = models.PositiveIntegerField(
        _("commitment due within (business minutes)"), default=240,
        help_text=_("Business minutes, on the ticket's plan calendar, from the moment an "
                    "engineer at tier 2 or 3 is given the ticket."))
    remind_share = models.FloatField(
        _("reminder at"), default=0.75,
        help_text=_("Share of that time after which the engineer is reminded (0.75: at 3 "
                    "of 4 hours)."))
    escalate_to = models.JSONField(
        _("escalate to"), default=list, blank=True,
        help_text=_('Roles or addresses told when the commitment is missed, e.g. '
                    '["team_lead"]. Empty: the team lead.'))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("time-frame commitment policy")
        verbose_name_plural = _("time-frame commitment policy")

    def __str__(self) -> str:
        return str(_("Time-frame commitment due within %(m)s business minutes")
                   % {"m": self.due_within_minutes})

    @classmethod
    def current(cls) -> CommitmentPolicy:
        return cls.objects.order_by("pk").first() or cls(escalate_to=["team_lead"])

    def roles(self) -> list[str]:
        return list(self.escalate_to or []) or ["team_lead"]

    def clean(self) -> None:
        from tierdesk.notifications import recipients

        problems: dict[str, Any] = {}
        if not 0 < self.remind_share < 1:
            problems["remind_share"] = _("A share between 0 and 1, e.g. 0.75.")
        if not self.due_within_minutes:
            problems["due_within_minutes"] = _("At least one minute.")
        names = self.escalate_to if isinstance(self.escalate_to, list) else [None]
        unknown = [str(n) for n in names if not isinstance(n, str) or not recipients.is_known(n)]
        if unknown:
            problems["escalate_to"] = _("Unknown roles: %(r)s. Roles: %(known)s.") % {
                "r": ", ".join(unknown), "known": ", ".join(recipients.ROLES)}
        if problems:
            raise ValidationError(problems)
        if self._state.adding and CommitmentPolicy.objects.exists():
            raise ValidationError(_("There is one commitment policy per desk: edit it."))
