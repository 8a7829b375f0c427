"""Digest mails: agents who chose one get their notifications gathered, hourly or daily."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction

from tierdesk.accounts.models import Provider
from tierdesk.notifications.models import Notification, Preference
from tierdesk.notifications.notifier import language_of, render
from tierdesk.notifications.outbox import enqueue_email

log = logging.getLogger(__name__)
DAILY_HOUR = 8  # local time of the daily digest


def _local_hour(user_zone: str, now: datetime) -> int:
    try:
        zone = ZoneInfo(user_zone or Provider.current().time_zone or "UTC")
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).hour


def send_digests(*, now: datetime) -> int:
    """Queue one digest mail per agent whose digest is due. Returns how many were queued.

    The notifications are claimed with a conditional UPDATE in the same
    transaction that queues the mail, so two workers never send one twice.
    """
    sent = 0
    prefs = Preference.objects.select_related("user").filter(
        digest__in=[Preference.Digest.HOURLY, Preference.Digest.DAILY], email=True,
        user__is_active=True)
    for pref in prefs:
        user = pref.user
        if pref.digest == Preference.Digest.DAILY and _local_hour(user.time_zone, now) != DAILY_HOUR:
            continue
        with transaction.atomic():
            ids = list(Notification.objects.filter(recipient=user, digested_at__isnull=True)
                       .order_by("created_at", "pk").values_list("pk", flat=True)[:200])
            if not ids:
                continue
            claimed = Notification.objects.filter(pk__in=ids, digested_at__isnull=True).update(
                digested_at=now)
            if claimed != len(ids):
                transaction.set_rollback(True)  # another worker is sending this digest
                continue
            items = list(Notification.objects.filter(pk__in=ids).order_by("created_at", "pk"))
            subject, text, html = render("digest", {"items": items, "recipient": user},
                                         language_of(user))
            enqueue_email(key=f"digest:u{user.pk}:{ids[0]}-{ids[-1]}", to=[user.email],
                          subject=subject, text=text, html=html,
                          headers={"Auto-Submitted": "auto-generated"})
            sent += 1
    return sent
