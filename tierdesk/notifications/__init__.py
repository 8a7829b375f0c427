"""Notifications: the outbox (email, webhooks, sent after commit) and in-app notices.

    from tierdesk.notifications import enqueue_email, enqueue_webhook, notify

are the entry points (see `outbox` and `notifier`); they are loaded lazily so
this package can be imported before Django's apps are ready.
"""

from typing import Any

__all__ = ["enqueue_email", "enqueue_webhook", "notify"]


def __getattr__(name: str) -> Any:
    if name in ("enqueue_email", "enqueue_webhook"):
        from tierdesk.notifications import outbox

        return getattr(outbox, name)
    if name == "notify":
        from tierdesk.notifications import notifier

        return notifier.notify
    raise AttributeError(name)
