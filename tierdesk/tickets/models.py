"""Tickets, their timeline, categories, priorities and attachments.

The timeline (`TicketEvent`) is the truth and is only ever appended to. The
columns on `Ticket` that describe its state (status, priority, assignee,
first_response_at, next_due_at, ...) are caches of it, written by the actions
in the same transaction as the event that changes them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tierdesk.tickets.lifecycle import ResolutionCode, Status


class Category(models.Model):
    """A node of the category tree (e.g. Technical > Connectivity)."""

    code = models.SlugField(_("code"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_es = models.CharField(_("name (Spanish)"), max_length=100, blank=True)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                               related_name="children", verbose_name=_("parent"))
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.path

    @property
    def path(self) -> str:
        # Trees are two or three levels deep; parents are select_related where listed.
        return f"{self.parent.path} › {self.name}" if self.parent_id else self.name  # type: ignore[union-attr]


class Priority(models.Model):
    """A priority level; the set is configurable. Lower rank is more urgent."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=60)
    name_es = models.CharField(_("name (Spanish)"), max_length=60, blank=True)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("priority")
        verbose_name_plural = _("priorities")
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class ImpactUrgency(models.Model):
    """One cell of the impact × urgency matrix that derives a priority (seed 003)."""

    class Impact(models.TextChoices):
        MOST_USERS = "most_users", _("Over half of the users")
        SOME_USERS = "some_users", _("Under half of the users")
        ONE_USER = "one_user", _("A single user")

    class Urgency(models.TextChoices):
        BUSINESS_STOPPED = "stopped", _("Business is stopped")
        DEGRADED = "degraded", _("Work is degraded")
        CAN_WAIT = "can_wait", _("It can wait")

    impact = models.CharField(max_length=20, choices=Impact.choices)
    urgency = models.CharField(max_length=20, choices=Urgency.choices, blank=True,
                               help_text=_("Empty: the impact alone decides."))
    priority = models.ForeignKey(Priority, on_delete=models.CASCADE)

    class Meta:
        verbose_name = _("impact × urgency cell")
        constraints = [models.UniqueConstraint(fields=["impact", "urgency"], name="one_cell")]

    def __str__(self) -> str:
        return f"{self.impact} × {self.urgency or '*'} → {self.priority_id}"


class Channel(models.TextChoices):
    PORTAL = "portal", _("Portal")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")
    CHAT = "chat", _("Chat")
    API = "api", _("API")


class Location(models.TextChoices):
    REMOTE = "remote", _("Remote")
    ON_SITE = "on_site", _("On site")


class Ticket(models.Model):
    number = models.PositiveBigIntegerField(_("case number"), unique=True)
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.PROTECT,
                                     related_name="tickets", verbose_name=_("organisation"),
                                     db_index=False)  # t_org_status leads with it
    requester = models.ForeignKey("accounts.Contact", on_delete=models.PROTECT,
                                  related_name="requested_tickets", verbose_name=_("requester"),
                                  db_index=False)  # t_requester leads with it
    cc = models.ManyToManyField("accounts.Contact", blank=True, related_name="cc_tickets",
                                verbose_name=_("CC contacts"))
    subject = models.CharField(_("subject"), max_length=200)
    description = models.TextField(_("description"))
    # No index: a category or priority matches too many tickets to be worth one, and
    # is deleted (a scan, for PROTECT) rarely if ever.
    category = models.ForeignKey(Category, on_delete=models.PROTECT, null=True, blank=True,
                                 verbose_name=_("category"), db_index=False)
    priority = models.ForeignKey(Priority, on_delete=models.PROTECT, verbose_name=_("priority"),
                                 db_index=False)
    impact = models.CharField(_("impact"), max_length=20, choices=ImpactUrgency.Impact.choices,
                              blank=True)
    urgency = models.CharField(_("urgency"), max_length=20, choices=ImpactUrgency.Urgency.choices,
                               blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices,
                              default=Status.NEW)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices,
                               default=Channel.PORTAL)
    assignee = models.ForeignKey("accounts.Agent", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="assigned_tickets",
                                 verbose_name=_("assignee"), db_index=False)  # t_assignee_created
    team = models.ForeignKey("accounts.Team", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="tickets", verbose_name=_("team"),
                             db_index=False)  # t_team leads with it
    tier = models.PositiveSmallIntegerField(_("tier"), default=1)

    # Intake facts (seeds 003 and 004).
    started_at = models.DateTimeField(_("when it started"), null=True, blank=True)
    users_affected = models.PositiveIntegerField(_("users affected"), null=True, blank=True)
    machines_affected = models.PositiveIntegerField(_("machines affected"), null=True, blank=True)
    location = models.CharField(_("remote or on site"), max_length=10, choices=Location.choices,
                                blank=True)
    troubleshooting_done = models.TextField(_("troubleshooting already done"), blank=True)
    business_impact = models.TextField(_("business impact"), blank=True)
    business_stopped = models.BooleanField(_("business is stopped"), default=False)
    affected_accounts = models.TextField(_("affected accounts or machines"), blank=True)
    environment = models.TextField(_("environment (OS, network...)"), blank=True)
    product_build = models.CharField(_("product build"), max_length=100, blank=True)
    callback_phone = models.CharField(_("callback phone"), max_length=40, blank=True)

    # Caches of the timeline.
    created_at = models.DateTimeField(_("created"))
    updated_at = models.DateTimeField(_("updated"))
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    resolution_code = models.CharField(max_length=20, choices=ResolutionCode.choices, blank=True)
    resolution_note = models.TextField(blank=True)
    reopen_count = models.PositiveIntegerField(default=0)
    escalation_count = models.PositiveIntegerField(default=0)
    time_spent_minutes = models.PositiveIntegerField(default=0)
    merged_into = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="merged_from", db_index=False)  # t_merged_into
    next_due_at = models.DateTimeField(null=True, blank=True, db_index=True,
                                       help_text=_("Earliest running SLA deadline (or warning)."))

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        # Few indexes on purpose: every change of `next_due_at` (indexed, for the
        # sweep) is a non-HOT update that writes into every index of this table,
        # and an SLA rebuild changes it on every open ticket. The foreign keys that
        # lead an index below have no index of their own (db_index=False); who
        # reads each index is listed in docs/PERFORMANCE.md, "Rebuilding SLA rows".
        indexes = [
            models.Index(fields=["organisation", "status", "-created_at"], name="t_org_status"),
            models.Index(fields=["requester", "-created_at"], name="t_requester"),
            models.Index(fields=["assignee", "status", "created_at"], name="t_assignee_created"),
            models.Index(fields=["team", "status", "next_due_at"], name="t_team"),
            models.Index(fields=["status", "resolved_at"], name="t_status_resolved"),
            models.Index(fields=["-created_at"], name="t_created"),
            # Merged tickets are few: only they are indexed (a ticket's deletion
            # looks up the tickets merged into it).
            models.Index(fields=["merged_into"], name="t_merged_into",
                         condition=models.Q(merged_into__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        return f"{settings.TICKET_PREFIX}-{self.number}"

    @property
    def is_active(self) -> bool:
        return self.status not in {Status.RESOLVED, Status.CLOSED}


class EventCode(models.TextChoices):
    """Stable codes of the timeline. Never rename one: reports and the SLA read them."""

    CREATED = "created", _("Created")
    PUBLIC_REPLY = "public_reply", _("Reply")
    INTERNAL_NOTE = "internal_note", _("Internal note")
    STATUS_CHANGED = "status_changed", _("Status changed")
    PRIORITY_CHANGED = "priority_changed", _("Priority changed")
    CATEGORY_CHANGED = "category_changed", _("Category changed")
    ASSIGNED = "assigned", _("Assigned")
    TIER_CHANGED = "tier_changed", _("Tier changed")
    ESCALATED = "escalated", _("Escalated")
    RESOLUTION_PLAN_POSTED = "resolution_plan_posted", _("Resolution plan")
    ATTACHMENT_ADDED = "attachment_added", _("Attachment added")
    TIME_LOGGED = "time_logged", _("Time logged")
    MERGED = "merged", _("Merged")
    RESOLVED = "resolved", _("Resolved")
    REOPENED = "reopened", _("Reopened")
    CLOSED = "closed", _("Closed")
    CC_CHANGED = "cc_changed", _("CC changed")
    # Escalation and automation (tierdesk.automation, actions/escalation.py).
    TIMEFRAME_COMMITTED = "timeframe_committed", _("Resolution time-frame committed")
    TIMEFRAME_MISSED = "timeframe_missed", _("Committed time-frame missed")
    SLA_WARNING = "sla_warning", _("SLA warning")
    SLA_BREACHED = "sla_breached", _("SLA breached")
    AUTO_ESCALATED = "auto_escalated", _("Escalation rule applied")
    NOT_ROUTED = "not_routed", _("Not assigned automatically")
    AUTOMATION_FAILED = "automation_failed", _("Automation failed")


class TicketEvent(models.Model):
    """An append-only entry of a ticket's timeline."""

    # No index of its own: ev_ticket_at leads with it (one index fewer written per event).
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events",
                               db_index=False)
    code = models.CharField(max_length=30, choices=EventCode.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              blank=True, related_name="+")
    is_public = models.BooleanField(default=True, help_text="Shown to the customer.")
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("ticket event")
        indexes = [models.Index(fields=["ticket", "at", "id"], name="ev_ticket_at")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.code} {self.at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs) -> None:
        # Append-only: an event is written once and never changed.
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise RuntimeError("TicketEvent rows are append-only.")
        super().save(*args, **kwargs)


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"tickets/{instance.ticket.number}/{instance.token}/{filename}"


class Attachment(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    event = models.ForeignKey(TicketEvent, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="attachments")
    token = models.CharField(max_length=32, unique=True)
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=120)
    size = models.PositiveBigIntegerField()
    is_public = models.BooleanField(default=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("attachment")

    def __str__(self) -> str:
        return self.filename

    @property
    def is_image(self) -> bool:
        return self.content_type in {"image/png", "image/jpeg", "image/gif", "image/webp"}


class TicketCounter(models.Model):
    """Hands out case numbers; one row, bumped with a conditional UPDATE."""

    last = models.PositiveBigIntegerField(default=100000)

    def __str__(self) -> str:
        return str(self.last)


class HookWork(models.Model):
    """Subscribers of `tickets.hooks` still have to hear these events (deferred mode).

    Written by the action in its own transaction (one row per ticket it touched), read
    and deleted by the worker in the transaction where the subscribers do their work:
    the work is done exactly once, or not at all and still here. `context` carries what
    an action knew besides its events (the inbound mail that caused it...).
    """

    # No index of its own: hookwork_ticket leads with it (written and deleted per action).
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+",
                               db_index=False)
    events = models.JSONField(help_text="The ids of the events, in order.")
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    due_at = models.DateTimeField(help_text="Not taken before (a retry's backoff).")
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("hook work")
        indexes = [models.Index(fields=["ticket", "id"], name="hookwork_ticket")]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.events}"
