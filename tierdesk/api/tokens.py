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
from typing import Any

from django.db import connections, router
from django.db.models.query import get_related_populators
from django.utils.translation import gettext as _

from tierdesk.accounts.models import User
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
# it and build the objects), so it is compiled once per database by the ORM itself and
# run with the prefix swapped in: the same SQL and the same objects as
# `ApiToken.objects.select_related(...).filter(...)`, read fresh on every request
# (a revoked token or an inactive user is refused at once, in every process).
_PROBE = "\x00prefix\x00"
_compiled: dict[str, tuple[str, tuple, int, Any]] = {}


def _query(using: str) -> tuple[str, tuple, int, Any]:
    entry = _compiled.get(using)
    if entry is None:
        qs = (ApiToken.objects.using(using)
              .select_related("user__agent", "user__contact__organisation")
              .filter(prefix=_PROBE, revoked_at__isnull=True))
        compiler = qs.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        entry = _compiled[using] = (sql, tuple(params), list(params).index(_PROBE), compiler)
    return entry


def _active_token(prefix: str) -> ApiToken | None:
    """The unrevoked token with this prefix (unique), its user and profile loaded."""
    using = router.db_for_read(ApiToken)
    sql, params, slot, compiler = _query(using)
    args = list(params)
    args[slot] = prefix
    with connections[using].cursor() as cursor:
        cursor.execute(sql, args)
        raw = cursor.fetchall()
    if not raw:
        return None
    # As ModelIterable builds the instances of a select_related query.
    select, klass_info = compiler.select, compiler.klass_info
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    names = [f[0].target.attname for f in select[start:end]]
    populators = get_related_populators(klass_info, select, using)  # type: ignore[call-arg]
    row = next(iter(compiler.results_iter([raw])))
    token = ApiToken.from_db(using, names, row[start:end])
    for populator in populators:
        populator.populate(row, token)
    return token
