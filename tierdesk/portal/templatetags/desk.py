"""Template helpers shared by the portal and the console: names in the reader's language,
durations, and one line per timeline event built from its stable code and payload."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from tierdesk.sla.models import TARGET_LABELS
from tierdesk.tickets.lifecycle import ResolutionCode, Status

register = template.Library()


@register.filter
def localname(obj: Any) -> str:
    """A category's or priority's name in Spanish when the reader reads Spanish and it has one."""
    if obj is None:
        return ""
    spanish = getattr(obj, "name_es", "")
    if translation.get_language() == "es" and spanish:
        return str(spanish)
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) else str(obj)


@register.filter
def catpath(category: Any) -> str:
    if category is None:
        return ""
    own = localname(category)
    return f"{catpath(category.parent)} › {own}" if category.parent_id else own


@register.filter
def hm(delta: timedelta | None) -> str:
    """A duration as hours and minutes: "27h 05m" (days would hide what a business day is)."""
    if delta is None:
        return ""
    minutes = int(delta.total_seconds() // 60)
    sign, minutes = ("-", -minutes) if minutes < 0 else ("", minutes)
    return f"{sign}{minutes // 60}h {minutes % 60:02d}m"


@register.filter
def status_label(code: str) -> str:
    try:
        return str(Status(code).label)
    except ValueError:
        return code or ""


@register.filter
def target_label(name: str) -> str:
    return str(TARGET_LABELS.get(name, name))


@register.filter
def when(instant: datetime | str | None) -> str:
    """An instant in the reader's time zone, with the zone's abbreviation: "Tue 3 Mar, 10:30 CET"."""
    parsed: datetime | None
    if isinstance(instant, str):
        try:
            parsed = datetime.fromisoformat(instant)
        except ValueError:
            return instant
    else:
        parsed = instant
    if parsed is None:
        return ""
    return formats.date_format(timezone.localtime(parsed), "D j M, H:i T")


@register.simple_tag
def event_line(ev: Any, names: dict[str, dict[str, str]] | None = None) -> str:
    """What an event did, in words, from its stable code and payload (never a stored label)."""
    names = names or {}
    p = ev.payload or {}
    code = ev.code
    if code == "created":
        return _("Opened the ticket")
    if code == "public_reply":
        return _("Replied by phone") if p.get("via") == "phone" else _("Replied")
    if code == "internal_note":
        return _("Internal note")
    if code in ("status_changed", "closed"):
        return _("Status: %(old)s → %(new)s") % {"old": status_label(p.get("from", "")),
                                                  "new": status_label(p.get("to", ""))}
    if code == "priority_changed":
        prio = names.get("priority", {})
        old, new = str(p.get("from") or ""), str(p.get("to") or "")
        return _("Priority: %(old)s → %(new)s") % {"old": prio.get(old, old),
                                                    "new": prio.get(new, new)}
    if code == "category_changed":
        cat = names.get("category", {})
        old, new = str(p.get("from") or ""), str(p.get("to") or "")
        return _("Category: %(old)s → %(new)s") % {"old": cat.get(old, old) or "—",
                                                    "new": cat.get(new, new) or "—"}
    if code == "assigned":
        who = p.get("agent_name") or _("nobody")
        return (_("Assigned to %(who)s · %(team)s") % {"who": who, "team": p["team_name"]}
                if p.get("team_name") else _("Assigned to %(who)s") % {"who": who})
    if code in ("escalated", "tier_changed"):
        if p.get("kind") == "customer":
            if p.get("channel") == "phone":
                return _("Escalated by the customer, by phone")
            return _("Escalated by the customer")
        if p.get("to") is not None and p.get("kind") == "tier":
            if code == "escalated":
                return _("Escalated to tier %(n)s") % {"n": p["to"]}
            return _("Moved to tier %(n)s") % {"n": p["to"]}
        return _("Escalated")
    if code == "resolution_plan_posted":
        return _("Resolution plan")
    if code == "time_logged":
        return _("Logged %(n)s min") % {"n": p.get("minutes", 0)}
    if code == "merged":
        if p.get("into_reference"):
            return _("Merged into %(ref)s") % {"ref": p["into_reference"]}
        return _("%(ref)s was merged into this ticket") % {"ref": p.get("source_reference", "")}
    if code == "resolved":
        try:
            how = str(ResolutionCode(p.get("resolution_code", "")).label)
        except ValueError:
            how = ""
        return _("Resolved (%(how)s)") % {"how": how} if how else _("Resolved")
    if code == "reopened":
        return _("Reopened")
    if code == "timeframe_committed":
        due = p.get("due_at")
        return (_("Committed to resolve by %(when)s") % {"when": when(due)} if due
                else _("Resolution time-frame committed"))
    return str(ev.get_code_display())


@register.filter
def by_target(rows: Any) -> list[tuple[str, Any]]:
    """A ticket's prefetched SLA rows in the reading order: response, plan, resolution."""
    found = {row.target: row for row in rows}
    return [(name, found.get(name)) for name in TARGET_LABELS]



def _span(seconds: float) -> str:
    """As app.js writes it, so the server's first text and the live one agree."""
    minutes = round(abs(seconds) / 60)
    days, hours, rest = minutes // 1440, (minutes % 1440) // 60, minutes % 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest:02d}m" if hours else f"{rest}m"


@register.filter
def countdown(due: datetime | None, now: datetime | None = None) -> str:
    """Time left to a deadline, or how long it is overdue ("2h 05m left", "1d 3h overdue")."""
    if due is None:
        return ""
    seconds = (due - (now or timezone.now())).total_seconds()
    return (_("{t} left") if seconds >= 0 else _("{t} overdue")).replace("{t}", _span(seconds))
