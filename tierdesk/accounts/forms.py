"""Forms for a person's own account: profile, password reset, the provider's intake choices."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import cast

from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from tierdesk.accounts.invitations import language_for
from tierdesk.accounts.models import Provider, User
from tierdesk.notifications.models import Preference
from tierdesk.notifications.outbox import enqueue_email


@cache
def _zones() -> list[tuple[str, str]]:
    return [(z, z.replace("_", " ")) for z in sorted(zoneinfo.available_timezones())
            if "/" in z and not z.startswith(("Etc/", "SystemV/", "US/"))]


class ProfileForm(forms.ModelForm):
    language = forms.ChoiceField(label=_("Language"), required=False)
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False)

    class Meta:
        model = User
        fields = ["full_name", "language", "time_zone"]

    def __init__(self, *args, provider_zone: str = "UTC", **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["language"]).choices = [
            ("", _("Follow my browser")), *settings.LANGUAGES]
        cast(forms.ChoiceField, self.fields["time_zone"]).choices = [
            ("", _("The provider's (%(zone)s)") % {"zone": provider_zone}), *_zones()]
        self.fields["full_name"].required = True


class PreferenceForm(forms.ModelForm):
    """Notification preferences; the digest and the console inbox are for agents only."""

    class Meta:
        model = Preference
        fields = ["email", "in_app", "digest"]
        labels = {
            "email": _("Email me about my tickets"),
            "in_app": _("Show notifications in the console"),
            "digest": _("Email digest"),
        }

    def __init__(self, *args, is_agent: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not is_agent:
            del self.fields["in_app"]
            del self.fields["digest"]


class ResetForm(PasswordResetForm):
    """Django's reset form, but the mail goes through the outbox, in the person's language.

    Contacts that never accepted their invitation have no usable password; they may
    reset it too (that is how a lost invitation is replaced).
    """

    def get_users(self, email):
        return User.objects.filter(email__iexact=email, is_active=True)

    def send_mail(self, subject_template_name, email_template_name, context, from_email,
                  to_email, html_email_template_name=None):
        user = context["user"]
        with translation.override(language_for(user, Provider.current())):
            subject = " ".join(render_to_string(subject_template_name, context).split())
            text = render_to_string(email_template_name, context)
        enqueue_email(key=f"password-reset:{user.pk}:{context['token']}", to=[to_email],
                      subject=subject, text=text, headers={"Auto-Submitted": "auto-generated"})

