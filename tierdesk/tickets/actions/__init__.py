"""Every write to a ticket goes through these functions.

Each runs in one transaction, checks the actor's permission, appends to the
timeline, refreshes the cached columns and SLA rows, and defers side effects
(mail, webhooks) until after commit. Views, the API, mail and workers call
these; none of them saves a ticket itself.
"""

from tierdesk.tickets.actions.conversation import (
    add_internal_note,
    add_reply,
    log_time,
    post_resolution_plan,
)
from tierdesk.tickets.actions.create import Intake, NewTicket, create_ticket
from tierdesk.tickets.actions.escalation import commit_timeframe, escalate_by_customer
from tierdesk.tickets.actions.workflow import (
    assign,
    change_category,
    change_priority,
    change_status,
    change_tier,
    close,
    merge,
    reopen,
    resolve,
)

__all__ = [
    "Intake",
    "NewTicket",
    "add_internal_note",
    "add_reply",
    "assign",
    "change_category",
    "change_priority",
    "change_status",
    "change_tier",
    "close",
    "commit_timeframe",
    "create_ticket",
    "escalate_by_customer",
    "log_time",
    "merge",
    "post_resolution_plan",
    "reopen",
    "resolve",
]
