"""What the agent console keeps of its own: canned responses."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

PLACEHOLDERS = ("customer", "reference", "agent", "organisation")


class CannedResponse(models.Model):
    """A reply agents insert into the composer, in English and Spanish.

    The text may name {customer}, {reference}, {agent} and {organisation}; they are
    filled in for the ticket at hand. The language used is the requester's.
    """

    title = models.CharField(_("title"), max_length=120)
    title_es = models.CharField(_("title (Spanish)"), max_length=120, blank=True)
    body = models.TextField(_("text"), help_text=_(
        "May use {customer}, {reference}, {agent} and {organisation}."))
    body_es = models.TextField(_("text (Spanish)"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("canned response")
        verbose_name_plural = _("canned responses")
        ordering = ["position", "title"]

    def __str__(self) -> str:
        return self.title

    def text_in(self, language: str) -> tuple[str, str]:
        """(title, body) in `language`, falling back to English where no Spanish is written."""
        if language == "es":
            return self.title_es or self.title, self.body_es or self.body

        return self.title, self.body

    def fill(self, text: str, values: dict[str, str]) -> str:
        """Replace the known {placeholders}; leave any other brace alone."""
        for name in PLACEHOLDERS:
            text = text.replace("{" + name + "}", values.get(name, ""))
        return text


class CustomerEscalation(models.Model):
    """A ticket its customer escalated, and when last (seed 001): a cache of the timeline.

    The "Escalated" queue needs it: an EXISTS over the escalated events' payloads
    would read every open ticket's timeline. A hooks subscriber writes it in the
    escalating action's transaction (console.escalations); the migration that made
    the table filled it from the timeline as it stood.
    """

    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, primary_key=True,
                                  related_name="+")
    last_at = models.DateTimeField(_("escalated last"))

    class Meta:
        verbose_name = _("customer escalation")
        verbose_name_plural = _("customer escalations")

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.last_at:%Y-%m-%d %H:%M}"


class Commitment(models.Model):
    """The latest resolution time-frame an engineer committed to on a ticket: a cache of the
    timeline's `timeframe_committed` events, for the manager's "commitments due".

    Read from the timeline, the latest commitment per ticket means scanning every event
    (there is no index on the event's code); this table holds one row per ticket. A hooks
    subscriber writes it in the committing action's transaction (console.escalations);
    the migration that made the table filled it from the timeline as it stood.
    """

    ticket = models.OneToOneField("tickets.Ticket", on_delete=models.CASCADE, primary_key=True,
                                  related_name="+")
    due_at = models.DateTimeField(_("promised by"), db_index=True)
    note = models.TextField(_("what was promised"), blank=True)
    committed_at = models.DateTimeField(_("committed at"))

    class Meta:
        verbose_name = _("resolution commitment")
        verbose_name_plural = _("resolution commitments")

    def __str__(self) -> str:
        return f"{self.ticket_id} by {self.due_at:%Y-%m-%d %H:%M}"
