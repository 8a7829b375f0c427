"""`{% load survey %}{% survey_faces ticket %}`: the three faces of a resolved ticket.

For the portal's ticket page: renders reports/_survey_faces.html with the signed
links of the survey of the ticket's latest resolution (nothing when the ticket
is not resolved, or was not asked about, e.g. a merged duplicate).
"""

from __future__ import annotations

from typing import Any

from django import template

from tierdesk.lib import clock
from tierdesk.reports import surveys

register = template.Library()


@register.inclusion_tag("reports/_survey_faces.html")
def survey_faces(ticket: Any) -> dict[str, Any]:
    survey = surveys.current_survey(ticket)
    if survey is None:
        return {"survey": None}
    return {
        "survey": survey,
        "faces": [(face, label, surveys.link(survey, face, absolute=False))
                  for face, label in surveys.face_labels()],
        "url": surveys.link(survey, absolute=False),
        "state": surveys.window(survey, clock.now()),
    }
