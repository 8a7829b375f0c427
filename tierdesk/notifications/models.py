"""The outbox (what leaves the process) and in-app notifications (what agents read).

Both are written inside the transaction of the action that caused them, so a
rolled-back action leaves nothing and a committed one loses nothing; the outbox
is sent after commit by `tierdesk.notifications.outbox`, with retries.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxMessage(models.Model):
    """One email or webhook to send, at least once, keyed so it is queued at most once."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        WEBHOOK = "webhook", _("Webhook")

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        DEAD = "dead", _("Gave up")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Idempotency: the caller names the message ("ticket 12 breach of resolution for lea").
    key = models.CharField(max_length=200, unique=True)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    # Email
    to = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    # Email headers, or the webhook's HTTP headers.
    headers = models.JSONField(default=dict, blank=True)
    # Webhook
    url = models.URLField(max_length=500, blank=True)
    body = models.JSONField(null=True, blank=True)
    internet_only = models.BooleanField(
        default=False, help_text="A webhook to a customer's receiver: its address is checked "
        "again at every attempt and must be on the internet.")

    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("outbox message")
        verbose_name_plural = _("outbox")
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.state})"


class Notification(models.Model):
    """An in-app notification for an agent: read or unread, maybe sent in a digest."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="notifications")
    key = models.CharField(max_length=200)
    kind = models.CharField(_("kind"), max_length=40)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="+")
    title = models.CharField(_("title"), max_length=300)
    body = models.TextField(_("text"), blank=True)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    # Set when the notification went out in a digest mail (or needs none).
    digested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["recipient", "key"], name="notif_once")]
        indexes = [
            models.Index(fields=["recipient", "read_at", "-created_at"], name="notif_inbox"),
            models.Index(fields=["digested_at", "recipient"], name="notif_digest"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_id}: {self.title}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class Preference(models.Model):
    """How one person wants to hear from the desk. No row: the defaults below."""

    class Digest(models.TextChoices):
        OFF = "off", _("Every notification by email at once")
        HOURLY = "hourly", _("An hourly digest")
        DAILY = "daily", _("A daily digest")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_preference")
    email = models.BooleanField(_("by email"), default=True)
    in_app = models.BooleanField(_("in the console"), default=True)
    digest = models.CharField(_("email digest"), max_length=10, choices=Digest.choices,
                              default=Digest.OFF, help_text=_("Agents only."))
    muted_kinds = models.JSONField(_("muted kinds"), default=list, blank=True,
                                   help_text=_("Notification kinds never sent, e.g. sla_warning."))

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")

    def __str__(self) -> str:
        return f"{self.user_id}: email={self.email} digest={self.digest}"
