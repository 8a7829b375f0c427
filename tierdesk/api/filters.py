"""The ticket list's query parameters: checked like any input, applied to a loader's queryset."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from rest_framework import serializers

from tierdesk.tickets.lifecycle import ACTIVE, DONE, Status
from tierdesk.tickets.models import Ticket
from tierdesk.tickets.permissions import is_agent
from tierdesk.tickets.queries import search

STATUS_GROUPS = {"active": [s.value for s in ACTIVE], "done": [s.value for s in DONE]}
ORDERINGS = {"-created_at": ("-created_at", "-id"), "created_at": ("created_at", "id")}


class TicketFilterSerializer(serializers.Serializer):
    status = serializers.CharField(
        required=False, max_length=200,
        help_text="Comma-separated statuses, or `active` (not resolved nor closed) or `done`.")
    priority = serializers.CharField(required=False, max_length=30, help_text="A priority code.")
    category = serializers.CharField(required=False, max_length=80,
                                     help_text="A category code (its subcategories included).")
    q = serializers.CharField(required=False, max_length=200, allow_blank=True,
                              help_text="A reference or case number, or words (whole, or "
                                        "their start; all of them) of the subject, the "
                                        "description and the public messages, or part of the "
                                        "requester's name or address.")
    requester = serializers.IntegerField(required=False, min_value=1,
                                         help_text="A contact id.")
    organisation = serializers.IntegerField(required=False, min_value=1,
                                            help_text="Agents: an organisation id.")
    assignee = serializers.CharField(required=False, max_length=20,
                                     help_text="Agents: an agent id, `me` or `none`.")
    team = serializers.IntegerField(required=False, min_value=1, help_text="Agents: a team id.")
    tier = serializers.IntegerField(required=False, min_value=1, max_value=3)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    updated_after = serializers.DateTimeField(required=False)
    ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False,
                                       help_text="Newest first (default) or oldest first.")

    def validate_status(self, value: str) -> list[str]:
        statuses: list[str] = []
        for part in (p.strip() for p in value.split(",") if p.strip()):
            if part in STATUS_GROUPS:
                statuses += STATUS_GROUPS[part]
            elif part in Status.values:
                statuses.append(part)
            else:
                raise serializers.ValidationError(
                    _("Unknown status “%(s)s”.") % {"s": part[:40]})
        return statuses

    def validate_assignee(self, value: str) -> str | int:
        if value in ("me", "none"):
            return value
        try:
            number = int(value)
        except ValueError:
            raise serializers.ValidationError(_("An agent id, “me” or “none”.")) from None
        if number < 1:
            raise serializers.ValidationError(_("An agent id, “me” or “none”."))
        return number

    def order_by(self) -> tuple[str, ...]:
        return ORDERINGS[self.validated_data.get("ordering", "-created_at")]

    def apply(self, qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
        """Narrow a queryset of visible tickets; never widens it."""
        data = self.validated_data
        if data.get("status"):
            qs = qs.filter(status__in=data["status"])
        if data.get("priority"):
            qs = qs.filter(priority__code=data["priority"])
        if data.get("category"):
            code = data["category"]
            qs = qs.filter(Q(category__code=code) | Q(category__parent__code=code))
        if "requester" in data:
            qs = qs.filter(requester_id=data["requester"])
        if "organisation" in data:
            qs = qs.filter(organisation_id=data["organisation"])
        if "created_after" in data:
            qs = qs.filter(created_at__gte=data["created_after"])
        if "created_before" in data:
            qs = qs.filter(created_at__lt=data["created_before"])
        if "updated_after" in data:
            qs = qs.filter(updated_at__gte=data["updated_after"])
        user = self.context["request"].user
        if is_agent(user):  # the provider's side of a ticket is not the customer's to filter
            if "tier" in data:
                qs = qs.filter(tier=data["tier"])
            if "team" in data:
                qs = qs.filter(team_id=data["team"])
            if "assignee" in data:
                value = data["assignee"]
                if value == "none":
                    qs = qs.filter(assignee__isnull=True)
                else:
                    qs = qs.filter(assignee_id=user.agent.pk if value == "me" else value)
        # The list pages by its order with a LIMIT (api.pagination.Cursor), newest or
        # oldest first: the ticket table's index of `created_at` walks it.
        return search(qs, data.get("q", ""), walked=self.order_by()[0])

