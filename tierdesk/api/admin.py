"""API tokens and webhooks in the admin: tokens are made here (the secret shown once) and
revoked here; deliveries are read and replayed here."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from tierdesk.api import tokens, webhooks
from tierdesk.api.models import ApiToken, EventType, Scope, WebhookDelivery, WebhookSubscription
from tierdesk.tickets.errors import ActionError


class TokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple,
                                       initial=[Scope.READ, Scope.WRITE])

    class Meta:
        model = ApiToken
        fields = ["user", "name", "scopes", "rate_per_minute"]

    def clean_user(self):
        user = self.cleaned_data["user"]
        if getattr(user, "agent", None) is None and getattr(user, "contact", None) is None:
            raise forms.ValidationError(_("Only agents and contacts use the API."))
        return user


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = TokenForm
    list_display = ["name", "user", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__email"]
    raw_id_fields = ["user"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["user", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "scopes", "rate_per_minute"]
        return ["user", "name", "prefix", "scopes", "rate_per_minute", "created_at",
                "last_used_at", "revoked_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = tokens.issue_token(user=form.cleaned_data["user"], name=obj.name,
                                    scopes=list(form.cleaned_data["scopes"]),
                                    rate_per_minute=obj.rate_per_minute)
        obj.pk = issued.token.pk
        obj.prefix = issued.token.prefix
        self.message_user(request, _("Token made. Copy it now, it will not be shown again: %(t)s")
                          % {"t": issued.secret}, messages.WARNING)

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset:
            tokens.revoke_token(token)
        self.message_user(request, _("Revoked."), messages.SUCCESS)


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[c for c in EventType.choices if c[0] != EventType.PING],
        widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookSubscription
        fields = ["owner", "organisation", "url", "description", "events", "is_active"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["url", "owner", "organisation", "events", "is_active", "created_at"]
    list_filter = ["is_active"]
    raw_id_fields = ["owner"]

    def save_model(self, request, obj, form, change):
        if not obj.secret:
            obj.secret = webhooks.new_secret()
        if obj.created_at is None:
            from tierdesk.lib import clock

            obj.created_at = clock.now()
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(request, _("Signing secret: %(s)s") % {"s": obj.secret},
                              messages.WARNING)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["uuid", "subscription", "event_type", "ticket", "state", "attempts",
                    "created_at"]
    list_filter = ["event_type", "outbox__state"]
    list_select_related = ["subscription", "ticket", "outbox"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=_("state"))
    def state(self, obj: WebhookDelivery) -> str:
        return obj.outbox.state if obj.outbox else "-"

    @admin.display(description=_("attempts"))
    def attempts(self, obj: WebhookDelivery) -> int:
        return obj.outbox.attempts if obj.outbox else 0

    @admin.action(description=_("Replay the selected deliveries"))
    def replay(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("subscription"):
            try:
                webhooks.replay(actor=None, delivery=delivery)
                done += 1
            except ActionError as exc:
                self.message_user(request, f"{delivery.uuid}: {exc.message}", messages.ERROR)
        self.message_user(request, _("%(n)d deliveries queued again.") % {"n": done},
                          messages.SUCCESS)
