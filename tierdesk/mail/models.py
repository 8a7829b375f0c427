"""Every message that came in, raw, with what became of it.

A row is written with the raw bytes before anything else is done with them
(state `received`), so nothing is lost whatever fails later. Processing moves
it, in the same transaction as the ticket action it causes, to one final state;
`dedupe_key` makes a second copy of the same message (a re-fetch after a crash,
the same mail in two mailboxes) find the first instead of acting again.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class InboundMessage(models.Model):
    class State(models.TextChoices):
        RECEIVED = "received", _("Received, not processed yet")
        PROCESSED = "processed", _("Processed")
        HELD = "held", _("Held for review")
        IGNORED = "ignored", _("Ignored")
        REFUSED = "refused", _("Refused")
        FAILED = "failed", _("Failed (will be retried)")

    class Reason(models.TextChoices):
        """Why a message was held, ignored or refused. Stable codes: never rename one."""

        OVERSIZED = "oversized", _("Too large")
        RATE_LIMITED = "rate_limited", _("Too many messages from this sender")
        UNKNOWN_SENDER = "unknown_sender", _("Unknown sender")
        HELD_CONTACT = "held_contact", _("Sender waits for review")
        INACTIVE_SENDER = "inactive_sender", _("Sender or organisation not active")
        AGENT_WITHOUT_TICKET = "agent_no_ticket", _("Agent mail that names no ticket")
        NO_SENDER = "no_sender", _("No usable sender address")
        OWN_ADDRESS = "own_address", _("Sent by the desk itself")
        AUTO_REPLY = "auto_reply", _("Automatic reply")
        BOUNCE = "bounce", _("Delivery report")
        REFUSED_BY_ACTION = "action_refused", _("The ticket refused it")
        DISMISSED = "dismissed", _("Dismissed by an agent")

    class Outcome(models.TextChoices):
        CREATED = "created", _("Opened a ticket")
        REPLIED = "replied", _("Added to a ticket")
        NOTED = "noted", _("Noted on a ticket")

    dedupe_key = models.CharField(max_length=64, unique=True,
                                  help_text="sha256 of the Message-ID, or of the content without one.")
    message_id = models.CharField(_("Message-ID"), max_length=255, blank=True, db_index=True)
    source = models.CharField(_("source"), max_length=200)
    raw = models.BinaryField(_("raw message"))
    size = models.PositiveIntegerField(_("size (bytes)"))
    received_at = models.DateTimeField(_("received"))

    state = models.CharField(_("state"), max_length=10, choices=State.choices,
                             default=State.RECEIVED)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    # What routing read, for the admin list and the per-sender limits.
    from_address = models.CharField(_("from"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    automated = models.BooleanField(_("sent by a machine"), default=False)
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="inbound_messages",
                               verbose_name=_("ticket"))
    event = models.ForeignKey("tickets.TicketEvent", on_delete=models.SET_NULL, null=True,
                              blank=True, related_name="+")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        indexes = [
            models.Index(fields=["from_address", "received_at"], name="mail_sender_rate"),
            models.Index(fields=["state", "received_at"], name="mail_state"),
        ]

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M} {self.from_address} {self.subject}"[:120]
