"""Who is calling: bearer tokens (or the browser's session), and what their token allows."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS, BasePermission

from tierdesk.api import tokens
from tierdesk.api.models import ApiToken, Scope
from tierdesk.tickets.permissions import is_agent, is_contact


class TokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer tdk_…`. A wrong or revoked token is a 401, never a fallback."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Send the token as “Authorization: Bearer tdk_…”."))
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raw = ""
        token = tokens.authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("This token is unknown or has been revoked."))
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="tierdesk"'


def token_of(request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


class ScopedAccess(BasePermission):
    """A signed-in agent or contact, whose token (if any) holds the scope the view needs.

    Views name their scope in `scope`; otherwise reads need `read` and writes `write`.
    A session (the browsable documentation) has every scope of its user.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            raise exceptions.NotAuthenticated(
                _("Send an API token: “Authorization: Bearer tdk_…”."))
        if not (is_agent(user) or is_contact(user)):
            raise exceptions.PermissionDenied(_("Only agents and contacts use the API."))
        token = token_of(request)
        if token is None:
            return True
        scope = getattr(view, "scope", None) or (
            Scope.READ if request.method in SAFE_METHODS else Scope.WRITE)
        if not token.has_scope(scope):
            raise exceptions.PermissionDenied(
                _("This token lacks the “%(s)s” scope.") % {"s": scope})
        return True
