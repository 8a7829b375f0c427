"""Invitations: a signed, expiring link with which a contact sets their first password.

A contact created by the phone desk or by mail has no usable password. Their first
ticket sends them an invitation (seed 001: "you will receive an invitation with your
first case to create your account"). The token is Django's password-reset token with
a salt of its own and a longer life; it stops working once a password is set, because
the password hash is part of what it signs.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.crypto import constant_time_compare
from django.utils.encoding import force_bytes
from django.utils.http import base36_to_int, urlsafe_base64_encode

from tierdesk.accounts.models import Provider, User
from tierdesk.notifications.outbox import enqueue_email

DEFAULT_TIMEOUT = 7 * 24 * 3600  # a week: long enough to find the mail after a weekend


class InvitationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "tierdesk.accounts.invitations.InvitationTokenGenerator"

    @property
    def timeout(self) -> int:
        return int(getattr(settings, "INVITATION_TIMEOUT", DEFAULT_TIMEOUT))

    def check_token(self, user, token) -> bool:
        """Django's check, with the invitation's own lifetime instead of the reset one."""
        if not (user and token):
            return False
        try:
            ts_b36, _hash = token.split("-")
            ts = base36_to_int(ts_b36)
        except ValueError:
            return False
        signed = any(
            constant_time_compare(self._make_token_with_timestamp(user, ts, secret), token)
            for secret in [self.secret, *self.secret_fallbacks]
        )
        return signed and (self._num_seconds(self._now()) - ts) <= self.timeout


invitation_tokens = InvitationTokenGenerator()


def needs_invitation(user: User) -> bool:
    """True for an active person who cannot sign in yet: no usable password."""
    return user.is_active and not user.has_usable_password()


def invitation_path(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("accounts:invitation", args=[uid, invitation_tokens.make_token(user)])


def invitation_url(user: User) -> str:
    return settings.SITE_URL.rstrip("/") + invitation_path(user)


def send_invitation(user: User, *, ticket=None, key: str | None = None) -> bool:
    """Queue the invitation mail in the recipient's language, inside the caller's transaction.

    `key` names the occasion so it is sent once (the first case of a contact is
    `invitation:<user>`); an agent sending it again passes a key of their own.
    Returns False when the person can already sign in.
    """
    if not needs_invitation(user):
        return False
    provider = Provider.current()
    context = {"user": user, "url": invitation_url(user), "ticket": ticket,
               "provider": provider, "days": max(1, invitation_tokens.timeout // 86400)}
    with translation.override(language_for(user, provider)):
        subject = " ".join(render_to_string("accounts/email/invitation.subject.txt",
                                            context).split())
        text = render_to_string("accounts/email/invitation.txt", context).strip() + "\n"
    enqueue_email(key=key or f"invitation:{user.pk}", to=[user.email], subject=subject,
                  text=text, ticket=ticket, headers={"Auto-Submitted": "auto-generated"})
    return True


def language_for(user: User, provider: Provider) -> str:
    """The person's language, else the provider's first, else the site's."""
    codes = {code for code, _name in settings.LANGUAGES}
    for code in [user.language, *(provider.languages or [])]:
        if code in codes:
            return code
    return settings.LANGUAGE_CODE
