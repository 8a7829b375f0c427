"""A person's own account: accepting an invitation, the profile, password reset and change.

Django's auth views do the work; these set our templates, token generator and forms.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext as _

from tierdesk.accounts.forms import PreferenceForm, ProfileForm, ResetForm
from tierdesk.accounts.http import AuthedRequest
from tierdesk.accounts.invitations import invitation_tokens
from tierdesk.accounts.models import Provider
from tierdesk.notifications.models import Preference


class InvitationView(auth_views.PasswordResetConfirmView):
    """The invitation link: choose a password, and you are signed in."""

    token_generator = invitation_tokens
    template_name = "registration/invitation.html"
    post_reset_login = True
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"
    success_url = reverse_lazy("home")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Welcome! Your account is ready."))
        return response


password_reset = auth_views.PasswordResetView.as_view(
    form_class=ResetForm,
    template_name="registration/password_reset_form.html",
    email_template_name="registration/password_reset_email.txt",
    subject_template_name="registration/password_reset_subject.txt",
    success_url=reverse_lazy("accounts:password_reset_done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view(
    template_name="registration/password_reset_done.html")
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    template_name="registration/password_reset_confirm.html",
    success_url=reverse_lazy("accounts:password_reset_complete"))
password_reset_complete = auth_views.PasswordResetCompleteView.as_view(
    template_name="registration/password_reset_complete.html")
password_change = auth_views.PasswordChangeView.as_view(
    template_name="registration/password_change_form.html",
    success_url=reverse_lazy("accounts:password_change_done"))
password_change_done = auth_views.PasswordChangeDoneView.as_view(
    template_name="registration/password_change_done.html")


@login_required
def profile(request: AuthedRequest) -> HttpResponse:
    """Name, language, time zone and notification preferences of the signed-in person."""
    user = request.user
    is_agent = getattr(user, "agent", None) is not None
    preference = Preference.objects.filter(user=user).first() or Preference(user=user)
    data = request.POST if request.method == "POST" else None
    form = ProfileForm(data, instance=user, provider_zone=Provider.current().time_zone)
    prefs = PreferenceForm(data, instance=preference, is_agent=is_agent, prefix="n")
    if request.method == "POST" and form.is_valid() and prefs.is_valid():
        with transaction.atomic():
            form.save()
            prefs.save()
        # Speak the chosen language from this very answer on.
        language = user.language or translation.get_language_from_request(request)
        translation.activate(language)
        messages.success(request, _("Your profile is saved."))
        response = redirect("accounts:profile")
        if user.language:
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, user.language, samesite="Lax")
        else:
            response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
        return response
    status = 400 if form.errors or prefs.errors else 200
    return render(request, "registration/profile.html", {"form": form, "prefs": prefs},
                  status=status)
