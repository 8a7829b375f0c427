"""API tokens, webhook subscriptions and the delivery log of each subscription."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    """What a token may do; within it, the user's own permissions still apply."""

    READ = "read", _("Read tickets and reference data")
    WRITE = "write", _("Open and work tickets (every write goes through the actions)")
    WEBHOOKS = "webhooks", _("Manage webhook subscriptions")


class ApiToken(models.Model):
    """A bearer token for the API, acting as its user with at most its scopes.

    Only a SHA-256 of the secret is kept: the secret is shown once, when the token is
    made. Secrets are 256 random bits, so a fast hash is enough (no password stretching,
    which would cost every API call a few milliseconds).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens", verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100,
                            help_text=_("What the token is for, e.g. “RMM integration”."))
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False,
                              help_text=_("The public part of the token, to recognise it."))
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    rate_per_minute = models.PositiveIntegerField(
        _("requests per minute"), null=True, blank=True,
        help_text=_("Empty: the server's default (API_RATE_PER_MINUTE)."))
    created_at = models.DateTimeField(_("created"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (tdk_{self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])


class EventType(models.TextChoices):
    TICKET_CREATED = "ticket.created", _("A ticket was opened")
    TICKET_UPDATED = "ticket.updated", _("A ticket changed (reply, status, assignment...)")
    TICKET_ESCALATED = "ticket.escalated", _("A ticket was escalated")
    SLA_WARNING = "sla.warning", _("An SLA target is close to its deadline")
    SLA_BREACHED = "sla.breached", _("An SLA target was breached")
    CSAT_RECEIVED = "csat.received", _("A satisfaction answer arrived (provider only)")
    PING = "ping", _("A test delivery sent on request")


class WebhookSubscription(models.Model):
    """Where to POST which events, signed with the subscription's secret.

    The owner decides what the deliveries may show: an agent's subscription hears
    every ticket (or one organisation's) with internal events; a customer admin's
    hears their organisation's tickets and only what the portal shows them.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="webhook_subscriptions", verbose_name=_("owner"))
    organisation = models.ForeignKey("accounts.Organisation", on_delete=models.CASCADE, null=True,
                                     blank=True, related_name="webhook_subscriptions",
                                     verbose_name=_("only this organisation's tickets"))
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("event types"), default=list)
    secret = models.CharField(_("signing secret"), max_length=80, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One POST of one event to one subscription; its sending state is its outbox row's."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE,
                                     related_name="deliveries")
    event_id = models.UUIDField(_("event id"), help_text=_("Shared by an event's replays."))
    event_type = models.CharField(_("event type"), max_length=30, choices=EventType.choices)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.SET_NULL, null=True, blank=True,
                               related_name="+")
    outbox = models.OneToOneField("notifications.OutboxMessage", on_delete=models.SET_NULL,
                                  null=True, blank=True, related_name="webhook_delivery")
    replay_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="replays")
    # The body as sent, kept here too so that a delivery can be replayed after the
    # outbox has pruned its row.
    body = models.JSONField()
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [models.Index(fields=["subscription", "-created_at"], name="whd_log")]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id} ({self.uuid})"
