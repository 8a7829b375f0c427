"""Every API error as RFC 9457 problem details (application/problem+json).

    {"type": "/api/problems/invalid", "title": "Invalid request", "status": 400,
     "detail": "Please give the ticket a subject.", "field": "subject",
     "errors": [{"field": "subject", "detail": "...", "code": "invalid"}]}

`type` names the kind of problem (a page at /api/problems/<code> describes it),
`detail` is the message for a person, `field` the input at fault when there is one.
An action's refusal (`ActionError`) keeps its message, field and code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from tierdesk.tickets.errors import ActionError, Forbidden, NotFound

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    code: str
    title: Any
    description: Any


PROBLEM_TYPES = {p.code: p for p in [
    ProblemType("invalid", gettext_lazy("Invalid request"), gettext_lazy(
        "The request was refused: `detail` says why and `field` names the input at fault.")),
    ProblemType("illegal_transition", gettext_lazy("Not possible in this status"), gettext_lazy(
        "The ticket's status does not allow this change (e.g. closing an unresolved ticket).")),
    ProblemType("reopen_window_passed", gettext_lazy("Too late to reopen"), gettext_lazy(
        "The ticket was resolved longer ago than the provider's reopen window.")),
    ProblemType("escalation_too_soon", gettext_lazy("Already escalated"), gettext_lazy(
        "The case was escalated recently and is being reviewed; `detail` says when it can be "
        "escalated again.")),
    ProblemType("survey_closed", gettext_lazy("Survey closed"), gettext_lazy(
        "The survey can no longer be answered or changed; `detail` says why.")),
    ProblemType("not_authenticated", gettext_lazy("Not authenticated"), gettext_lazy(
        "Send a valid token: “Authorization: Bearer tdk_…”.")),
    ProblemType("forbidden", gettext_lazy("Forbidden"), gettext_lazy(
        "Your role or your token's scopes do not allow this.")),
    ProblemType("not_found", gettext_lazy("Not found"), gettext_lazy(
        "Nothing here, or nothing you may see: the two are the same answer on purpose.")),
    ProblemType("method_not_allowed", gettext_lazy("Method not allowed"),
                gettext_lazy("This resource does not accept that method.")),
    ProblemType("not_acceptable", gettext_lazy("Not acceptable"),
                gettext_lazy("The API answers in JSON.")),
    ProblemType("unsupported_media_type", gettext_lazy("Unsupported media type"), gettext_lazy(
        "Send JSON, or multipart/form-data when there are files.")),
    ProblemType("throttled", gettext_lazy("Too many requests"), gettext_lazy(
        "The token made too many requests this minute: wait `Retry-After` seconds.")),
    ProblemType("server_error", gettext_lazy("Server error"), gettext_lazy(
        "Something failed on our side; it is logged. Try again, and tell us if it persists.")),
]}

_DRF_CODES = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "invalid",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
}

# An action's codes beyond these are refusals of the input (400) unless listed here.
_CONFLICTS = {"illegal_transition", "reopen_window_passed", "escalation_too_soon",
              "survey_closed"}


def problem(code: str, *, status_code: int, detail: str, field: str | None = None,
            errors: list[dict] | None = None, headers: dict | None = None) -> Response:
    kind = PROBLEM_TYPES.get(code)
    body: dict[str, Any] = {
        "type": f"/api/problems/{code}" if kind else "about:blank",
        "title": str(kind.title) if kind else str(code).replace("_", " ").capitalize(),
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=MEDIA_TYPE)


def _flatten(data: Any, prefix: str = "") -> list[dict]:
    """DRF's nested validation errors as a flat list of {field, detail, code}."""
    out: list[dict] = []
    if isinstance(data, dict):
        for key, value in data.items():
            name = "" if key == "non_field_errors" else str(key)
            out += _flatten(value, f"{prefix}.{name}" if prefix and name else (name or prefix))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if isinstance(value, dict) and "message" in value and "code" in value:
                out.append({"field": prefix or None, "detail": str(value["message"]),
                            "code": str(value["code"])})
            else:
                out += _flatten(value, f"{prefix}.{i}" if isinstance(value, dict | list) else prefix)
    elif data is not None:
        out.append({"field": prefix or None, "detail": str(data), "code": "invalid"})
    return out


def from_action_error(exc: ActionError) -> Response:
    if isinstance(exc, NotFound):
        return problem("not_found", status_code=404, detail=exc.message)
    if isinstance(exc, Forbidden):
        return problem("forbidden", status_code=403, detail=exc.message, field=exc.field)
    code = exc.code if exc.code in _CONFLICTS else "invalid"
    status_code = status.HTTP_409_CONFLICT if exc.code in _CONFLICTS else 400
    errors = [{"field": exc.field, "detail": exc.message, "code": exc.code}]
    return problem(code, status_code=status_code, detail=exc.message, field=exc.field,
                   errors=errors)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ActionError):
        set_rollback()
        return from_action_error(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Not found."))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        # Not an API exception: a bug. Log it and answer in the API's own format.
        log.exception("API error in %s", context.get("view"), exc_info=exc)
        set_rollback()
        return problem("server_error", status_code=500, detail=str(PROBLEM_TYPES["server_error"]
                                                                   .description))
    assert isinstance(exc, exceptions.APIException)
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "invalid")
    headers = {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After",
                                                          "Allow")}
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.get_full_details())
        first = errors[0] if errors else {"field": None, "detail": _("Invalid input.")}
        detail = f"{first['field']}: {first['detail']}" if first["field"] else str(first["detail"])
        return problem(code, status_code=response.status_code, detail=detail,
                       field=first["field"], errors=errors, headers=headers)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return problem(code, status_code=response.status_code, detail=str(detail), headers=headers)
