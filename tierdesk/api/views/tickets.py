"""Tickets: thin views that parse input, call one loader and one action, and answer.

Every ticket is read through `access_ticket` / `visible_tickets` (an outsider gets a 404,
never a 403) and every change is a `tierdesk.tickets.actions` function, so the API
refuses exactly what the web refuses.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.http import FileResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from tierdesk.accounts.models import Contact
from tierdesk.api import serializers as s
from tierdesk.api.filters import TicketFilterSerializer
from tierdesk.api.pagination import Cursor
from tierdesk.api.queries import page_keys, rows_of, sla_rows_of
from tierdesk.api.views.base import ApiListView, ApiView, parse
from tierdesk.lib import clock
from tierdesk.reports import surveys
from tierdesk.sla.adapter import explain_ticket
from tierdesk.sla.models import TicketSLA
from tierdesk.tickets import actions
from tierdesk.tickets.access import access_attachment, access_ticket, timeline_for, visible_tickets
from tierdesk.tickets.errors import ActionError, Forbidden, NotFound
from tierdesk.tickets.models import Attachment, Channel, Ticket
from tierdesk.tickets.permissions import is_agent

REF = OpenApiParameter("ref", OpenApiTypes.STR, OpenApiParameter.PATH,
                       description="The ticket's reference (TD-100234) or case number.",
                       examples=[OpenApiExample("reference", value="TD-100001"),
                                 OpenApiExample("case number", value="100001")])
BODY_PARSERS = [JSONParser, MultiPartParser, FormParser]


DETAIL_JOINS = ("organisation", "requester__user", "priority", "category", "assignee__user",
                "team", "merged_into")


def load(request: Request, ref: str) -> Ticket:
    return access_ticket(request.user, ref)


def detail(request: Request, ticket: Ticket, *, status_code: int = 200,
           reload: bool = True) -> Response:
    """The ticket as the detail shows it. After an action it is read again (the caller
    has already been through the loader), so the answer is the state committed."""
    if reload:
        ticket = Ticket.objects.select_related(*DETAIL_JOINS).get(pk=ticket.pk)
    prefetch_related_objects(
        [ticket], Prefetch("sla_rows", queryset=TicketSLA.objects.order_by("target")), "cc__user")
    data = s.TicketDetailSerializer(ticket, context={"request": request}).data
    headers = {"Location": data["url"]} if status_code == 201 else None
    return Response(data, status=status_code, headers=headers)


class TicketList(ApiListView):
    pagination_class = Cursor
    parser_classes = BODY_PARSERS
    serializer_class = s.TicketSerializer

    def cursor_ordering(self):
        return self._ordering

    @extend_schema(parameters=[TicketFilterSerializer], responses=s.TicketSerializer(many=True),
                   summary="List tickets", description=(
                       "The tickets you may see, newest first, in pages with a cursor. "
                       "Customers see their organisation's (admins) or their own and CC'd "
                       "(members) tickets; agents see all."))
    def get(self, request: Request) -> Response:
        query = TicketFilterSerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        self._ordering = query.order_by()
        keys = self.paginate_queryset(page_keys(query.apply(visible_tickets(request.user))))
        data = s.TicketSerializer(rows_of(keys), many=True, context={"request": request}).data
        return self.get_paginated_response(data)

    @extend_schema(request={"application/json": s.TicketCreateSerializer,
                            "multipart/form-data": s.TicketCreateSerializer},
                   responses={201: s.TicketDetailSerializer}, summary="Open a ticket")
    def post(self, request: Request) -> Response:
        data = s.TicketCreateSerializer.parse(request)
        agent = is_agent(request.user)
        requester = requester_of(request, data, agent=agent)
        if not agent and (data.get("priority") or data.get("channel") not in (None, Channel.API)):
            raise ActionError(_("Customers give impact and urgency; the desk sets the priority "
                                "and the channel."), field="priority" if data.get("priority")
                              else "channel")
        ticket = actions.create_ticket(actor=request.user, new=actions.NewTicket(
            requester=requester, subject=data["subject"], description=data["description"],
            channel=data.get("channel") or Channel.API, category=data.get("category"),
            priority=data.get("priority"), impact=data.get("impact", ""),
            urgency=data.get("urgency", ""), cc=list(data.get("cc", [])),
            attachments=list(data.get("attachments", [])),
            intake=actions.Intake(**{k: data[k] for k in s.INTAKE_FIELDS
                                     if data.get(k) not in (None, "")})))
        return created(request, ticket, cc=list(data.get("cc", [])))


def created(request: Request, ticket: Ticket, *, cc: list[Contact]) -> Response:
    """The answer to a create, from the ticket `create_ticket` returns rather than read
    back: its columns are those it wrote (and what its subscribers changed, on the same
    object, in its transaction); the requester, priority, category and CC are the objects
    the input named, with their users. Its SLA rows are those the action left in the
    ticket's prefetch cache, else one query."""
    data = s.TicketDetailSerializer(ticket, context={
        "request": request, "cc": cc, "sla": sla_rows_of(ticket)}).data
    return Response(data, status=201, headers={"Location": data["url"]})


def requester_of(request: Request, data: dict, *, agent: bool) -> Contact:
    """Customers open tickets for themselves; agents name the contact (id or email)."""
    if not agent:
        contact = request.user.contact
        given = data.get("requester")
        if given is not None and given.pk != contact.pk:
            raise Forbidden(_("You can only open tickets for yourself."))
        return contact
    if data.get("requester") is not None:
        return data["requester"]
    email = (data.get("requester_email") or "").strip()
    if email:
        contact = (Contact.objects.select_related("organisation__plan", "user")
                   .filter(user__email__iexact=email).first())
        if contact is None:
            raise ActionError(_("No contact has this address."), field="requester_email")
        return contact
    raise ActionError(_("Say who the ticket is for: requester or requester_email."),
                      field="requester")


class TicketDetail(ApiView):
    parser_classes = BODY_PARSERS

    @extend_schema(parameters=[REF], responses=s.TicketDetailSerializer, summary="A ticket")
    def get(self, request: Request, ref: str) -> Response:
        return detail(request, load(request, ref), reload=False)

    @extend_schema(parameters=[REF], request=s.TicketUpdateSerializer,
                   responses=s.TicketDetailSerializer, summary="Work a ticket (agents)",
                   description="Each field given runs one action, all or nothing: status, "
                               "priority, category, tier (with a reason), assignee and team.")
    def patch(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        if not is_agent(request.user):
            raise Forbidden(_("Customers reply, reopen or escalate; agents change tickets."))
        data = parse(s.TicketUpdateSerializer, request)
        apply_changes(request, ticket, data)
        return detail(request, ticket)


def apply_changes(request: Request, ticket: Ticket, data: dict) -> None:
    """One action per field given, in one transaction: all of them happen or none."""
    user, reason = request.user, data.get("reason", "")
    with transaction.atomic():
        if "category" in data:
            actions.change_category(actor=user, ticket=ticket, category=data["category"])
        if "priority" in data:
            actions.change_priority(actor=user, ticket=ticket, priority=data["priority"],
                                    reason=reason)
        if "tier" in data and data["tier"] != ticket.tier:
            actions.change_tier(actor=user, ticket=ticket, tier=data["tier"], reason=reason)
        if "assignee" in data or "team" in data:
            actions.assign(actor=user, ticket=ticket,
                           agent=data.get("assignee", ticket.assignee),
                           team=data.get("team", ticket.team))
        if "status" in data:
            actions.change_status(actor=user, ticket=ticket, status=data["status"])


class TicketEvents(ApiListView):
    pagination_class = Cursor
    serializer_class = s.EventSerializer
    cursor_ordering = ("at", "id")

    @extend_schema(parameters=[REF, OpenApiParameter(
        "code", OpenApiTypes.STR, description="Only events with this code (e.g. public_reply).")],
        responses=s.EventSerializer(many=True), summary="A ticket's timeline",
        description="Oldest first. Customers see the public events only.")
    def get(self, request: Request, ref: str) -> Response:
        events = timeline_for(request.user, load(request, ref))
        code = request.query_params.get("code", "")
        if code:
            events = events.filter(code=code)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(
            s.EventSerializer(page, many=True, context={"request": request}).data)


class TicketReplies(ApiView):
    parser_classes = BODY_PARSERS

    @extend_schema(parameters=[REF], request={"application/json": s.MessageSerializer,
                                              "multipart/form-data": s.MessageSerializer},
                   responses={201: s.EventSerializer}, summary="Reply on a ticket",
                   description="A public message. A customer's reply reopens a resolved ticket "
                               "inside the reopen window.")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        data = parse(s.MessageSerializer, request)
        event = actions.add_reply(actor=request.user, ticket=ticket, body=data["body"],
                                  attachments=list(data.get("attachments", [])), via="api")
        return Response(s.EventSerializer(event, context={"request": request}).data, status=201)


class TicketNotes(ApiView):
    parser_classes = BODY_PARSERS

    @extend_schema(parameters=[REF], request={"application/json": s.MessageSerializer,
                                              "multipart/form-data": s.MessageSerializer},
                   responses={201: s.EventSerializer}, summary="Add an internal note (agents)")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        data = parse(s.MessageSerializer, request)
        event = actions.add_internal_note(actor=request.user, ticket=ticket, body=data["body"],
                                          attachments=list(data.get("attachments", [])))
        return Response(s.EventSerializer(event, context={"request": request}).data, status=201)


class TicketAttachments(ApiView):
    @extend_schema(parameters=[REF], responses=s.AttachmentSerializer(many=True),
                   summary="A ticket's files", description="Customers see the public ones.")
    def get(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        files = ticket.attachments.order_by("created_at", "pk")
        if not is_agent(request.user):
            files = files.filter(is_public=True)
        return Response(s.AttachmentSerializer(files, many=True).data)


class AttachmentContent(ApiView):
    @extend_schema(parameters=[OpenApiParameter("token", OpenApiTypes.STR, OpenApiParameter.PATH)],
                   responses={(200, "*/*"): OpenApiTypes.BINARY}, summary="Download a file")
    def get(self, request: Request, token: str) -> FileResponse:
        att: Attachment = access_attachment(request.user, token)
        response = FileResponse(att.file.open("rb"), as_attachment=True, filename=att.filename,
                                content_type=att.content_type)
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        response["X-Content-Type-Options"] = "nosniff"
        return response


class TicketSLAView(ApiView):
    @extend_schema(parameters=[REF], responses=s.TicketSLASerializer,
                   summary="A ticket's SLA targets and how their clocks ran",
                   description="The stored states and the explanation, stretch by stretch, "
                               "that `tierdesk sla explain` prints.")
    def get(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        states = ticket.sla_rows.order_by("target")
        explanation = explain_ticket(ticket, now=clock.now())
        return Response(s.TicketSLASerializer({
            "reference": ticket.reference, "states": states, "explanation": explanation}).data)


def _verb(serializer_class, summary: str, description: str = ""):
    return extend_schema(parameters=[REF], request=serializer_class,
                         responses=s.TicketDetailSerializer, summary=summary,
                         description=description)


class TicketResolve(ApiView):
    parser_classes = BODY_PARSERS

    @_verb(s.ResolveSerializer, "Resolve a ticket (agents)")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        data = parse(s.ResolveSerializer, request)
        actions.resolve(actor=request.user, ticket=ticket, code=data["code"], note=data["note"])
        return detail(request, ticket)


class TicketReopen(ApiView):
    parser_classes = BODY_PARSERS

    @_verb(s.ReasonSerializer, "Reopen a resolved or closed ticket",
           "Customers inside the provider's reopen window, with a reason; agents at any time.")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        data = parse(s.ReasonSerializer, request)
        actions.reopen(actor=request.user, ticket=ticket, reason=data.get("reason", ""))
        return detail(request, ticket)


class TicketEscalate(ApiView):
    parser_classes = BODY_PARSERS

    @_verb(s.EscalateSerializer, "Escalate a case (the customer's request)",
           "Customers escalate their own case; an agent records a customer's escalation made "
           "by phone, on their behalf. The team lead reviews it. Once a day at most. "
           "(Agents move a ticket between tiers with PATCH tier.)")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        data = parse(s.EscalateSerializer, request)
        channel = "phone" if is_agent(request.user) else "portal"
        actions.escalate_by_customer(actor=request.user, ticket=ticket, reason=data["reason"],
                                     channel=channel)
        return detail(request, ticket)


class TicketTimeframe(ApiView):
    parser_classes = BODY_PARSERS

    @_verb(s.TimeframeSerializer, "Commit a resolution time-frame (agents)",
           "The engineer at the ticket's tier promises the customer a resolution time; "
           "the customer sees it, and a missed one is escalated.")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        data = parse(s.TimeframeSerializer, request)
        actions.commit_timeframe(actor=request.user, ticket=ticket, due_at=data["due_at"],
                                 note=data.get("note", ""))
        return detail(request, ticket)


class TicketSatisfaction(ApiView):
    parser_classes = BODY_PARSERS

    def _survey(self, ticket: Ticket):
        survey = surveys.current_survey(ticket)
        if survey is None:
            raise NotFound(_("No satisfaction survey: it is asked when the ticket is resolved."))
        return survey

    def _answer(self, survey) -> Response:
        state = surveys.window(survey, clock.now())
        return Response(s.SatisfactionSerializer({
            "cycle": survey.cycle, "resolved_at": survey.resolved_at, "face": survey.face,
            "comment": survey.comment, "answered_at": survey.answered_at,
            "changed_at": survey.changed_at, "open": state.open,
            "closed_because": state.reason}).data)

    @extend_schema(parameters=[REF], responses=s.SatisfactionSerializer,
                   summary="The satisfaction survey of the latest resolution")
    def get(self, request: Request, ref: str) -> Response:
        return self._answer(self._survey(load(request, ref)))

    @extend_schema(parameters=[REF], request=s.SatisfactionAnswerSerializer,
                   responses=s.SatisfactionSerializer, summary="Answer the survey (customers)",
                   description="Three faces and a comment; it can be changed for a few days.")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        if is_agent(request.user):
            raise Forbidden(_("Only the customer answers the satisfaction survey."))
        data = parse(s.SatisfactionAnswerSerializer, request)
        survey = self._survey(ticket)
        try:
            surveys.answer(survey, face=data["face"], comment=data.get("comment", ""),
                           by=request.user)
        except surveys.SurveyClosed as exc:
            raise ActionError(str(exc), field="face", code="survey_closed") from None
        return self._answer(survey)


class TicketPlan(ApiView):
    parser_classes = BODY_PARSERS

    @_verb(s.PlanInputSerializer, "Post the resolution plan (agents)",
           "A public message that meets the resolution-plan target.")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        data = parse(s.PlanInputSerializer, request)
        actions.post_resolution_plan(actor=request.user, ticket=ticket, body=data["body"])
        return detail(request, ticket)


class TicketTime(ApiView):
    parser_classes = BODY_PARSERS

    @_verb(s.TimeSerializer, "Log time spent (agents)")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        data = parse(s.TimeSerializer, request)
        actions.log_time(actor=request.user, ticket=ticket, minutes=data["minutes"],
                         note=data.get("note", ""))
        return detail(request, ticket)


class TicketMerge(ApiView):
    parser_classes = BODY_PARSERS

    @_verb(s.MergeSerializer, "Merge this ticket into another (agents)",
           "This ticket is resolved as a duplicate and closed; its people are CC'd on the other.")
    def post(self, request: Request, ref: str) -> Response:
        ticket = load(request, ref)
        data = parse(s.MergeSerializer, request)
        try:
            target = access_ticket(request.user, data["into"])
        except NotFound:
            raise ActionError(_("No ticket with that reference."), field="into") from None
        actions.merge(actor=request.user, source=ticket, target=target)
        return detail(request, ticket)

