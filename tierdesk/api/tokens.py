"""Issuing, checking and revoking API tokens.

A token reads `tdk_<prefix>_<secret>`: the prefix finds the row (and names the token
in lists and logs), the secret is checked against its SHA-256 in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from tierdesk.accounts.models import User
from tierdesk.api.compiled import TEXT_PROBE, Compiled
from tierdesk.api.models import ApiToken, Scope
from tierdesk.lib import clock
from tierdesk.tickets.errors import ActionError

# Writing last_used_at on every call would turn each read into a write; once a minute
# tells an admin what they need to know (is this token still in use?).
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Issued:
    token: ApiToken
    secret: str  # the whole token string, shown once


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scopes(scopes: list[str]) -> list[str]:
    unknown = [s for s in scopes if s not in Scope.values]
    if unknown:
        raise ActionError(_("Unknown scope “%(s)s”; use %(all)s.") % {
            "s": unknown[0], "all": ", ".join(Scope.values)}, field="scopes")
    if not scopes:
        raise ActionError(_("Give the token at least one scope."), field="scopes")
    return [s for s in Scope.values if s in scopes]


def issue_token(*, user: User, name: str, scopes: list[str],
                rate_per_minute: int | None = None, at: datetime | None = None) -> Issued:
    """Make a token for `user`. Its permissions are the user's, narrowed by `scopes`."""
    name = name.strip()
    if not name:
        raise ActionError(_("Name the token after what will use it."), field="name")
    if not user.is_active:
        raise ActionError(_("%(u)s is not active.") % {"u": user}, field="user")
    if getattr(user, "agent", None) is None and getattr(user, "contact", None) is None:
        raise ActionError(_("Only agents and contacts use the API."), field="user")
    scopes = check_scopes(scopes)
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=prefix, secret_hash=_digest(secret), scopes=scopes,
        rate_per_minute=rate_per_minute, created_at=at or clock.now())
    return Issued(token, f"tdk_{prefix}_{secret}")


def revoke_token(token: ApiToken, *, at: datetime | None = None) -> None:
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=at or clock.now())
        token.refresh_from_db(fields=["revoked_at"])


def parse(raw: str) -> tuple[str, str] | None:
    kind, _sep, rest = raw.strip().partition("_")
    prefix, _sep, secret = rest.partition("_")
    if kind != "tdk" or not prefix or not secret:
        return None
    return prefix, secret


def authenticate(raw: str, *, now: datetime | None = None) -> ApiToken | None:
    """The active token `raw` names, with its user and profile loaded; None if none."""
    parts = parse(raw)
    if parts is None:
        return None
    prefix, secret = parts
    token = _active_token(prefix)
    if token is None or not hmac.compare_digest(token.secret_hash, _digest(secret)):
        return None
    if not token.user.is_active:
        return None
    now = now or clock.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# ------------------------------------------------------------------ the token's query

# Every API request reads its token with its user, agent or contact and organisation.
# Compiling that five-table SELECT is most of its cost (1.8 ms CPU against 0.1 ms to run
# it and build the objects), so it is compiled once per database (api/compiled.py): the
# same SQL and the same objects as the queryset, read fresh on every request (a revoked
# token or an inactive user is refused at once, in every process).
_TOKEN = Compiled(lambda prefix: ApiToken.objects.select_related(
    "user__agent", "user__contact__organisation").filter(prefix=prefix, revoked_at__isnull=True),
    probe=TEXT_PROBE)


def _active_token(prefix: str) -> ApiToken | None:
    """The unrevoked token with this prefix (unique), its user and profile loaded."""
    found = _TOKEN.objects(prefix, model=ApiToken)
    return found[0] if found else None
