"""Webhook subscriptions, their delivery log, replays and pings."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from tierdesk.api import serializers as s
from tierdesk.api import webhooks
from tierdesk.api.models import Scope
from tierdesk.api.pagination import Cursor
from tierdesk.api.views.base import ApiListView, ApiView, parse
from tierdesk.tickets.errors import Forbidden

ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
DELIVERY = OpenApiParameter("delivery", OpenApiTypes.UUID, OpenApiParameter.PATH)
TAGS = ["webhooks"]


def _manager(request: Request) -> None:
    if not webhooks.can_manage(request.user):
        raise Forbidden(_("Only team leads, managers and organisation admins manage webhooks."))


class WebhookList(ApiListView):
    scope = Scope.WEBHOOKS
    pagination_class = Cursor
    serializer_class = s.WebhookSubscriptionSerializer
    cursor_ordering = ("id",)

    @extend_schema(tags=TAGS, responses=s.WebhookSubscriptionSerializer(many=True),
                   summary="Webhook subscriptions")
    def get(self, request: Request) -> Response:
        _manager(request)
        page = self.paginate_queryset(webhooks.visible_subscriptions(request.user))
        return self.get_paginated_response(s.WebhookSubscriptionSerializer(page, many=True).data)

    @extend_schema(tags=TAGS, request=s.WebhookInputSerializer,
                   responses={201: s.WebhookSecretSerializer}, summary="Subscribe to events",
                   description="The answer holds the signing secret; keep it.")
    def post(self, request: Request) -> Response:
        _manager(request)
        data = parse(s.WebhookInputSerializer, request)
        sub = webhooks.create_subscription(
            actor=request.user, url=data["url"], events=data["events"],
            organisation=data.get("organisation"), description=data.get("description", ""),
            is_active=data.get("is_active", True))
        return Response(s.WebhookSecretSerializer(sub).data, status=201)


class WebhookDetail(ApiView):
    scope = Scope.WEBHOOKS

    @extend_schema(tags=TAGS, parameters=[ID], responses=s.WebhookSubscriptionSerializer,
                   summary="A webhook subscription")
    def get(self, request: Request, id: int) -> Response:
        return Response(s.WebhookSubscriptionSerializer(
            webhooks.access_subscription(request.user, id)).data)

    @extend_schema(tags=TAGS, parameters=[ID], request=s.WebhookUpdateSerializer,
                   responses=s.WebhookSubscriptionSerializer, summary="Change a subscription")
    def patch(self, request: Request, id: int) -> Response:
        sub = webhooks.access_subscription(request.user, id)
        data = parse(s.WebhookUpdateSerializer, request, partial=True)
        changes = {k: data[k] for k in ("url", "events", "description", "is_active", "organisation")
                   if k in data}
        webhooks.update_subscription(actor=request.user, subscription=sub, **changes)
        return Response(s.WebhookSubscriptionSerializer(sub).data)

    @extend_schema(tags=TAGS, parameters=[ID], responses={204: None},
                   summary="Unsubscribe (the log goes too)")
    def delete(self, request: Request, id: int) -> Response:
        sub = webhooks.access_subscription(request.user, id)
        webhooks.delete_subscription(actor=request.user, subscription=sub)
        return Response(status=204)


class WebhookRotate(ApiView):
    scope = Scope.WEBHOOKS

    @extend_schema(tags=TAGS, parameters=[ID], request=None,
                   responses=s.WebhookSecretSerializer, summary="A new signing secret")
    def post(self, request: Request, id: int) -> Response:
        sub = webhooks.access_subscription(request.user, id)
        webhooks.rotate_secret(actor=request.user, subscription=sub)
        return Response(s.WebhookSecretSerializer(sub).data)


class WebhookPing(ApiView):
    scope = Scope.WEBHOOKS

    @extend_schema(tags=TAGS, parameters=[ID], request=None,
                   responses={202: s.WebhookDeliverySerializer}, summary="Send a test delivery")
    def post(self, request: Request, id: int) -> Response:
        sub = webhooks.access_subscription(request.user, id)
        delivery = webhooks.ping(actor=request.user, subscription=sub)
        return Response(s.WebhookDeliverySerializer(delivery).data, status=202)


class WebhookDeliveries(ApiListView):
    scope = Scope.WEBHOOKS
    pagination_class = Cursor
    serializer_class = s.WebhookDeliverySerializer
    cursor_ordering = ("-created_at", "-id")

    @extend_schema(tags=TAGS, parameters=[ID, OpenApiParameter(
        "state", OpenApiTypes.STR, enum=["pending", "sent", "dead"])],
        responses=s.WebhookDeliverySerializer(many=True), summary="The delivery log",
        description="Newest first, with each delivery's state, attempts and last error.")
    def get(self, request: Request, id: int) -> Response:
        sub = webhooks.access_subscription(request.user, id)
        qs = sub.deliveries.select_related("outbox", "ticket", "replay_of")
        state = request.query_params.get("state", "")
        if state:
            qs = qs.filter(outbox__state=state)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(s.WebhookDeliverySerializer(page, many=True).data)


class WebhookReplay(ApiView):
    scope = Scope.WEBHOOKS

    @extend_schema(tags=TAGS, parameters=[ID, DELIVERY], request=None,
                   responses={202: s.WebhookDeliverySerializer}, summary="Send a delivery again",
                   description="A new delivery of the same event (same id and body), signed now.")
    def post(self, request: Request, id: int, delivery: str) -> Response:
        sub = webhooks.access_subscription(request.user, id)
        original = webhooks.access_delivery(request.user, sub, delivery)
        replayed = webhooks.replay(actor=request.user, delivery=original)
        return Response(s.WebhookDeliverySerializer(replayed).data, status=202)
