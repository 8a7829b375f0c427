"""Statuses and the transitions allowed between them: the one place that says so."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING_CUSTOMER = "waiting_customer", _("Waiting on customer")
    WAITING_THIRD_PARTY = "waiting_third_party", _("Waiting on third party")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


ACTIVE = frozenset({Status.NEW, Status.OPEN, Status.IN_PROGRESS, Status.WAITING_CUSTOMER,
                    Status.WAITING_THIRD_PARTY})
WAITING = frozenset({Status.WAITING_CUSTOMER, Status.WAITING_THIRD_PARTY})
DONE = frozenset({Status.RESOLVED, Status.CLOSED})

_WORKING = {Status.OPEN, Status.IN_PROGRESS, Status.WAITING_CUSTOMER, Status.WAITING_THIRD_PARTY}

# from -> the statuses it may move to. Entering `resolved` goes through the
# resolve action (it needs a note and a code); leaving resolved/closed for
# `open` is a reopen; closing an unresolved ticket is not allowed: resolve it
# (a duplicate is resolved with the code "duplicate" and then closed).
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset(_WORKING | {Status.RESOLVED}),
    Status.OPEN: frozenset(_WORKING - {Status.OPEN} | {Status.RESOLVED}),
    Status.IN_PROGRESS: frozenset(_WORKING - {Status.IN_PROGRESS} | {Status.RESOLVED}),
    Status.WAITING_CUSTOMER: frozenset(_WORKING - {Status.WAITING_CUSTOMER} | {Status.RESOLVED}),
    Status.WAITING_THIRD_PARTY: frozenset(
        _WORKING - {Status.WAITING_THIRD_PARTY} | {Status.RESOLVED}),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.OPEN}),
    Status.CLOSED: frozenset({Status.OPEN}),
}


def can_move(old: str, new: str) -> bool:
    return new in TRANSITIONS.get(old, frozenset())


class ResolutionCode(models.TextChoices):
    FIXED = "fixed", _("Fixed")
    WORKAROUND = "workaround", _("Workaround provided")
    NOT_REPRODUCIBLE = "not_reproducible", _("Not reproducible")
    OUT_OF_SCOPE = "out_of_scope", _("Out of scope (not ours to solve)")
    DUPLICATE = "duplicate", _("Duplicate")
