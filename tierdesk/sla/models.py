"""Calendars, plans and the per-ticket SLA rows derived from the timeline.

The arithmetic lives in the pure engine (`tierdesk.sla.engine`); these models
are its data: the specs it reads and the states it produced, with the versions
that produced them so a rebuild knows what is stale.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

TARGET_NAMES = ("first_response", "resolution_plan", "resolution")
TARGET_LABELS = {
    "first_response": _("First response"),
    "resolution_plan": _("Resolution plan"),
    "resolution": _("Resolution"),
}


class BusinessCalendar(models.Model):
    """Opening hours, seasons, closed days and holidays, as an engine spec."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    spec = models.JSONField(_("specification"),
                            help_text=_("Time zone, weekly hours, seasons, closed days, holidays."))
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Plan(models.Model):
    """A support plan (Standard, Premium, 24x7...): targets per priority on a calendar."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=100)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="plans",
                                 verbose_name=_("calendar"))
    targets = models.JSONField(_("targets"), default=dict,
                               help_text=_("{target: {priority: minutes | {business_days: n}}}"))
    pause_statuses = models.JSONField(_("statuses that stop the clock"),
                                      default=list, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    is_active = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("support plan")
        verbose_name_plural = _("support plans")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TicketSLA(models.Model):
    """One target's state for one ticket: a cache of evaluate(timeline), rebuilt at will."""

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        MET = "met", _("Met")
        BREACHED = "breached", _("Breached")

    # No index of its own: sla_one_row_per_target (ticket, target) leads with it, and a
    # rebuild writes millions of these rows.
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="sla_rows",
                               db_index=False)
    target = models.CharField(max_length=20)
    state = models.CharField(max_length=10, choices=State.choices)
    elapsed_seconds = models.PositiveIntegerField()
    target_seconds = models.PositiveIntegerField()
    due_at = models.DateTimeField(null=True, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    plan_version = models.PositiveIntegerField()
    calendar_version = models.PositiveIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = _("SLA target state")
        constraints = [
            models.UniqueConstraint(fields=["ticket", "target"], name="sla_one_row_per_target"),
        ]
        indexes = [models.Index(fields=["target", "state"], name="sla_target_state")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.target} {self.state}"


class RebuildJob(models.Model):
    """A background rebuild of SLA rows after a calendar or plan changed, with progress."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    plan_ids = models.JSONField(default=list)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("SLA rebuild")
        verbose_name_plural = _("SLA rebuilds")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"rebuild {self.pk}: {self.done}/{self.total} {self.state}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)
