"""Reference data and people: organisations, contacts, categories, priorities, plans, me."""

from __future__ import annotations

import threading

from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from tierdesk.api import access
from tierdesk.api import serializers as s
from tierdesk.api.auth import token_of
from tierdesk.api.pagination import Cursor
from tierdesk.api.problems import PROBLEM_TYPES
from tierdesk.api.views.base import ApiListView, ApiView
from tierdesk.tickets.errors import NotFound
from tierdesk.tickets.models import Priority

ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


class OrganisationList(ApiListView):
    pagination_class = Cursor
    serializer_class = s.OrganisationSerializer
    cursor_ordering = ("id",)

    @extend_schema(responses=s.OrganisationSerializer(many=True), summary="Organisations",
                   description="Agents: every customer. Customers: their own.")
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(access.visible_organisations(request.user))
        return self.get_paginated_response(s.OrganisationSerializer(page, many=True).data)


class OrganisationDetail(ApiView):
    @extend_schema(parameters=[ID], responses=s.OrganisationSerializer, summary="An organisation")
    def get(self, request: Request, id: int) -> Response:
        return Response(s.OrganisationSerializer(
            access.access_organisation(request.user, id)).data)


class ContactList(ApiListView):
    pagination_class = Cursor
    serializer_class = s.ContactSerializer
    cursor_ordering = ("id",)

    @extend_schema(parameters=[
        OpenApiParameter("organisation", OpenApiTypes.INT, description="An organisation id."),
        OpenApiParameter("email", OpenApiTypes.STR, description="An exact address.")],
        responses=s.ContactSerializer(many=True), summary="Contacts",
        description="Agents: every contact. Organisation admins: their organisation's. "
                    "Members: themselves.")
    def get(self, request: Request) -> Response:
        qs = access.visible_contacts(request.user)
        organisation = request.query_params.get("organisation", "")
        if organisation:
            qs = qs.filter(organisation_id=int(organisation)) if organisation.isdigit() \
                else qs.none()
        email = request.query_params.get("email", "").strip()
        if email:
            qs = qs.filter(user__email__iexact=email)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(s.ContactSerializer(page, many=True).data)


class ContactDetail(ApiView):
    @extend_schema(parameters=[ID], responses=s.ContactSerializer, summary="A contact")
    def get(self, request: Request, id: int) -> Response:
        return Response(s.ContactSerializer(access.access_contact(request.user, id)).data)


class CategoryList(ApiView):
    @extend_schema(responses=s.CategorySerializer(many=True), summary="Categories",
                   description="The tree, parents before children. Customers see active ones.")
    def get(self, request: Request) -> Response:
        return Response(s.CategorySerializer(access.visible_categories(request.user),
                                             many=True).data)


class PriorityList(ApiView):
    @extend_schema(responses=s.PrioritySerializer(many=True), summary="Priorities",
                   description="Most urgent first.")
    def get(self, request: Request) -> Response:
        return Response(s.PrioritySerializer(Priority.objects.order_by("rank"), many=True).data)


class PlanList(ApiView):
    @extend_schema(responses=s.PlanSerializer(many=True), summary="Support plans",
                   description="Agents: every plan. Customers: their organisation's.")
    def get(self, request: Request) -> Response:
        return Response(s.PlanSerializer(access.visible_plans(request.user), many=True).data)


class Me(ApiView):
    @extend_schema(responses=s.MeSerializer, summary="Who the token acts as")
    def get(self, request: Request) -> Response:
        user = request.user
        agent, contact = getattr(user, "agent", None), getattr(user, "contact", None)
        return Response(s.MeSerializer({
            "id": user.pk, "email": user.email, "name": user.get_full_name(),
            "kind": "agent" if agent else "contact",
            "organisation": contact.organisation if contact else None,
            "role": agent.role if agent else getattr(contact, "role", ""),
            "tier": agent.tier if agent else None,
            "token": token_of(request),
        }).data)


class SchemaView(SpectacularAPIView):
    """The OpenAPI document, made by one thread at a time: drf-spectacular loads its
    extensions lazily and not thread-safely, so two threads of one server process
    generating it at once can fail (seen with gunicorn's `--threads 2`; granian's
    `--blocking-threads 2` is the same)."""

    _lock = threading.Lock()

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        with self._lock:
            return super().get(request, *args, **kwargs)


class ProblemType(ApiView):
    """What a problem's `type` names: a description for people who follow the link."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(exclude=True)
    def get(self, request: Request, code: str) -> Response:
        kind = PROBLEM_TYPES.get(code)
        if kind is None:
            raise NotFound(_("No such problem type."))
        return Response({"type": f"/api/problems/{code}", "title": str(kind.title),
                         "description": str(kind.description)})


class NoSuchPath(ApiView):
    schema = None  # not an operation of the document
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    def http_method_not_allowed(self, request, *args, **kwargs):
        return self.get(request)

    def get(self, request: Request) -> Response:
        path = request.path
        if not path.endswith("/") and _is_route(path + "/"):
            raise NotFound(_("No such path in the API; did you mean %(path)s?")
                           % {"path": path + "/"})
        raise NotFound(_("No such path in the API."))

    post = put = patch = delete = get


def _is_route(path: str) -> bool:
    try:
        return getattr(resolve(path).func, "view_class", None) is not NoSuchPath
    except Resolver404:
        return False
