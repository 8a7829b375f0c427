"""`{% load faces %}{% satisfaction ticket %}`: the three faces on a resolved ticket's page.

The survey's data (which survey, its signed links, whether it is still open) is the
reports app's; the portal draws the faces itself, as pictures that need no emoji
font, each with its word beside it.
"""

from __future__ import annotations

from typing import Any

from django import template

from tierdesk.reports.templatetags.survey import survey_faces

register = template.Library()


@register.inclusion_tag("portal/_faces.html")
def satisfaction(ticket: Any) -> dict[str, Any]:
    return survey_faces(ticket)
