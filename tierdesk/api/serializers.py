"""What the API shows and what it accepts. Serializers shape data; the actions decide.

Input serializers check types and formats only; every rule of the desk (who may
do what, which transitions are legal, what a message needs) is the actions' to
enforce, so the API refuses exactly what the web refuses, with the same words.
"""

from __future__ import annotations

import functools
from contextvars import ContextVar

from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone, translation
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tierdesk.accounts.models import Agent, Contact, Organisation, Team
from tierdesk.api.compiled import Compiled
from tierdesk.api.models import ApiToken, EventType, Scope, WebhookDelivery, WebhookSubscription
from tierdesk.api.queries import Row, row_of
from tierdesk.sla.engine.explain import Explanation, Stretch, TargetTotals
from tierdesk.sla.models import TARGET_LABELS, Plan, TicketSLA
from tierdesk.tickets.lifecycle import ResolutionCode, Status
from tierdesk.tickets.models import (
    Attachment,
    Category,
    Channel,
    ImpactUrgency,
    Location,
    Priority,
    Ticket,
    TicketEvent,
)
from tierdesk.tickets.permissions import is_agent

# --------------------------------------------------------------------------- references


class OrganisationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ContactRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="user.get_full_name")
    email = serializers.EmailField(source="user.email")


class AgentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="user.get_full_name")
    tier = serializers.IntegerField()


class TeamRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def _audience_is_agent(context: dict) -> bool:
    """Agents see the provider's side of a ticket; contacts what the portal shows."""
    if "agent" not in context:
        request = context.get("request")
        context["agent"] = bool(request is not None and is_agent(request.user))
    return context["agent"]


# --------------------------------------------------------------------------- tickets


class SLAStateSerializer(serializers.ModelSerializer):
    label = serializers.SerializerMethodField()

    class Meta:
        model = TicketSLA
        fields = ["target", "label", "state", "due_at", "warn_at", "met_at", "breached_at",
                  "elapsed_seconds", "target_seconds", "computed_at"]

    def get_label(self, row: TicketSLA) -> str:
        return str(TARGET_LABELS.get(row.target, row.target))


class TicketInternalSerializer(serializers.Serializer):
    """The provider's side of a ticket, for agents only."""

    assignee = AgentRefSerializer(allow_null=True)
    team = TeamRefSerializer(allow_null=True)
    tier = serializers.IntegerField()
    escalation_count = serializers.IntegerField()
    reopen_count = serializers.IntegerField()
    time_spent_minutes = serializers.IntegerField()


def when(value, tz=None) -> str | None:
    """An instant as DRF's DateTimeField writes it (current zone; UTC is `Z`), quickly."""
    if value is None:
        return None
    tz = tz or timezone.get_current_timezone()
    text = (value if value.tzinfo is tz else value.astimezone(tz)).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _contact_ref(contact: Contact) -> dict:
    user = contact.user
    return {"id": contact.pk, "name": user.full_name or user.email, "email": user.email}


# An answer's labels and its tickets' URL prefix cost ~0.1 ms to make again on every request
# (a reverse() and a translation per label); they only change with the language, and with
# the script prefix or URLconf a request is served under.
@functools.lru_cache(maxsize=32)
def _labels(language: str | None) -> dict[str, str]:
    return {name: str(label) for name, label in TARGET_LABELS.items()}


@functools.lru_cache(maxsize=32)
def _tickets_url(script_prefix: str, urlconf: str | None) -> str:
    return reverse("api:tickets")


class _Writer:
    """What every row of one answer shares, looked up once: the zone, labels, URL prefix."""

    def __init__(self, context: dict):
        self.tz = timezone.get_current_timezone()
        self.agent = _audience_is_agent(context)
        self.labels = _labels(translation.get_language())
        self.tickets_url = _tickets_url(get_script_prefix(), get_urlconf())
        self.prefix = settings.TICKET_PREFIX

    @classmethod
    def of(cls, context: dict) -> _Writer:
        writer = context.get("_writer")
        if writer is None:
            writer = context["_writer"] = cls(context)
        return writer

    def row(self, row: Row) -> dict:
        """A list row, from the values of `queries.rows_of` or `queries.row_of`."""
        v, tz = row.values, self.tz
        reference = f"{self.prefix}-{v['number']}"  # as Ticket.reference
        return {
            "reference": reference,
            "number": v["number"],
            "subject": v["subject"],
            "status": v["status"],
            "priority": v["priority__code"],
            "category": v["category__code"],
            "channel": v["channel"],
            "organisation": {"id": v["organisation_id"], "name": v["organisation__name"]},
            "requester": {"id": v["requester_id"],
                          "name": v["requester__user__full_name"] or v["requester__user__email"],
                          "email": v["requester__user__email"]},
            "created_at": when(v["created_at"], tz),
            "updated_at": when(v["updated_at"], tz),
            "first_response_at": when(v["first_response_at"], tz),
            "resolved_at": when(v["resolved_at"], tz),
            "closed_at": when(v["closed_at"], tz),
            "next_due_at": when(v["next_due_at"], tz),
            "resolution_code": v["resolution_code"],
            "sla": [self.sla_row(s) for s in row.sla],
            "internal": self.internal(v) if self.agent else None,
            "url": f"{self.tickets_url}{reference}/",
        }

    def sla_row(self, s: dict) -> dict:
        tz = self.tz
        return {"target": s["target"], "label": self.labels.get(s["target"], s["target"]),
                "state": s["state"], "due_at": when(s["due_at"], tz),
                "warn_at": when(s["warn_at"], tz), "met_at": when(s["met_at"], tz),
                "breached_at": when(s["breached_at"], tz),
                "elapsed_seconds": s["elapsed_seconds"], "target_seconds": s["target_seconds"],
                "computed_at": when(s["computed_at"], tz)}

    @staticmethod
    def internal(v: dict) -> dict:
        return {
            "assignee": None if v["assignee_id"] is None else {
                "id": v["assignee_id"],
                "name": v["assignee__user__full_name"] or v["assignee__user__email"],
                "tier": v["assignee__tier"]},
            "team": None if v["team_id"] is None else {"id": v["team_id"], "name": v["team__name"]},
            "tier": v["tier"], "escalation_count": v["escalation_count"],
            "reopen_count": v["reopen_count"], "time_spent_minutes": v["time_spent_minutes"],
        }


class TicketSerializer(serializers.Serializer):
    """A ticket as a list shows it (with its SLA targets).

    The fields below document the shape (the OpenAPI document is made from them);
    `to_representation` writes it directly, because DRF's generic path costs about
    2 ms a row, most of a list's time; a list gives it plain values (queries.rows_of).
    tests/api (schemathesis included) hold the two to the same shape.
    """

    reference = serializers.CharField()
    number = serializers.IntegerField()
    subject = serializers.CharField()
    status = serializers.ChoiceField(choices=Status.choices)
    priority = serializers.CharField(source="priority.code")
    category = serializers.CharField(source="category.code", allow_null=True, default=None)
    channel = serializers.ChoiceField(choices=Channel.choices)
    organisation = OrganisationRefSerializer()
    requester = ContactRefSerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    first_response_at = serializers.DateTimeField(allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    next_due_at = serializers.DateTimeField(allow_null=True,
                                            help_text="The earliest running SLA deadline.")
    resolution_code = serializers.CharField(allow_blank=True)
    sla = SLAStateSerializer(source="sla_rows.all", many=True)
    internal = TicketInternalSerializer(
        allow_null=True, source="*",
        help_text="Assignment, tier and effort: for agents; null for customers.")
    url = serializers.CharField()

    def to_representation(self, ticket: Ticket | Row) -> dict:
        if isinstance(ticket, Row):
            return _Writer.of(self.context).row(ticket)
        # A create's answer is given the SLA rows the action wrote (views.tickets.created).
        return _Writer.of(self.context).row(row_of(ticket, sla=self.context.get("sla")))


class IntakeSerializer(serializers.Serializer):
    started_at = serializers.DateTimeField(required=False, allow_null=True)
    users_affected = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                              max_value=2_000_000_000)
    machines_affected = serializers.IntegerField(required=False, allow_null=True, min_value=0,
                                                 max_value=2_000_000_000)
    location = serializers.ChoiceField(choices=Location.choices, required=False, allow_blank=True)
    troubleshooting_done = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    business_impact = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    business_stopped = serializers.BooleanField(required=False)
    affected_accounts = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    environment = serializers.CharField(required=False, allow_blank=True, max_length=20_000)
    product_build = serializers.CharField(required=False, allow_blank=True, max_length=100)
    callback_phone = serializers.CharField(required=False, allow_blank=True, max_length=40)


INTAKE_FIELDS = tuple(IntakeSerializer().fields)


class TicketDetailSerializer(TicketSerializer):
    """A ticket with everything the requester told us."""

    description = serializers.CharField()
    impact = serializers.CharField(allow_blank=True)
    urgency = serializers.CharField(allow_blank=True)
    intake = IntakeSerializer(source="*")
    cc = ContactRefSerializer(source="cc.all", many=True)
    resolution_note = serializers.CharField(allow_blank=True)
    merged_into = serializers.CharField(source="merged_into.reference", allow_null=True,
                                        default=None)

    def to_representation(self, ticket: Ticket | Row) -> dict:
        assert isinstance(ticket, Ticket), "the detail is made from a loaded ticket"
        data = super().to_representation(ticket)
        intake = {name: getattr(ticket, name) for name in INTAKE_FIELDS}
        intake["started_at"] = when(ticket.started_at, _Writer.of(self.context).tz)
        data.update({
            "description": ticket.description, "impact": ticket.impact,
            "urgency": ticket.urgency, "intake": intake,
            # A create's answer names the CC it was given (no read of what it just wrote).
            "cc": [_contact_ref(c) for c in self.context.get("cc", ticket.cc.all())],
            "resolution_note": ticket.resolution_note,
            "merged_into": merged.reference if (merged := ticket.merged_into) else None,
        })
        return data


class AttachmentSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["token", "filename", "content_type", "size", "is_public", "created_at", "url"]

    def get_url(self, att: Attachment) -> str:
        return reverse("api:attachment", args=[att.token])


class ActorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["agent", "contact", "system"])
    name = serializers.CharField(allow_null=True)


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    attachments = AttachmentSerializer(many=True, source="attachments.all")
    payload = serializers.JSONField()

    class Meta:
        model = TicketEvent
        fields = ["id", "code", "at", "actor", "is_public", "body", "payload", "attachments"]

    @extend_schema_field(ActorSerializer)
    def get_actor(self, event: TicketEvent) -> dict:
        kind = (event.payload or {}).get("by") or ("system" if event.actor_id is None else "contact")
        return {"kind": kind, "name": event.actor.get_full_name() if event.actor else None}


# --------------------------------------------------------------------------- ticket input


def _scoped(field: serializers.Field, queryset) -> None:
    field.queryset = queryset


# The organisation whose contacts a customer's create may name (None: an agent's, all).
# Set for the length of one validation (`TicketCreateSerializer.parse`): the fields are
# shared by every request of the process, so the scope cannot live on them.
_contact_scope: ContextVar[int | None] = ContextVar("contact_scope", default=None)


class ContactField(serializers.PrimaryKeyRelatedField):
    """A contact by id. Outside the caller's organisation a contact does not exist: the
    same refusal as an unknown id. `compiled` reads it (one query, compiled once)."""

    def __init__(self, *, compiled: Compiled | None = None, **kwargs):
        self.compiled = compiled
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        contact = super().to_internal_value(data) if self.compiled is None else self._read(data)
        scope = _contact_scope.get()
        if scope is not None and contact.organisation_id != scope:
            self.fail("does_not_exist", pk_value=data)
        return contact

    def _read(self, data) -> Contact:
        """As PrimaryKeyRelatedField.to_internal_value, through the compiled query."""
        try:
            if isinstance(data, bool):
                raise TypeError
            pk = Contact._meta.pk.get_prep_value(data)
        except (TypeError, ValueError):
            self.fail("incorrect_type", data_type=type(data).__name__)
        found = self.compiled.objects(pk, model=Contact) if self.compiled else []
        if not found:
            self.fail("does_not_exist", pk_value=data)
        return found[0]


# The requester with its user, organisation and plan: the answer names it, and
# `create_ticket` needs the organisation and plan (one query, not two).
_REQUESTER = Compiled(lambda pk: Contact.objects.select_related("user", "organisation__plan")
                      .filter(pk=pk))


# What a create accepts. Its fields are built once per process (`parse`): DRF deep-copies
# a serializer's declared fields on every instantiation, 1.2 ms a create. (A comment, not
# a docstring: drf-spectacular would publish a docstring in the OpenAPI document.)
class TicketCreateSerializer(IntakeSerializer):
    subject = serializers.CharField(max_length=200, allow_blank=True)
    description = serializers.CharField(max_length=100_000, allow_blank=True)
    category = serializers.SlugRelatedField(slug_field="code", queryset=Category.objects.all(),
                                            required=False, allow_null=True)
    priority = serializers.SlugRelatedField(
        slug_field="code", queryset=Priority.objects.all(), required=False, allow_null=True,
        help_text="Agents only; customers give impact and urgency and the priority follows.")
    impact = serializers.ChoiceField(choices=ImpactUrgency.Impact.choices, required=False,
                                     allow_blank=True)
    urgency = serializers.ChoiceField(choices=ImpactUrgency.Urgency.choices, required=False,
                                      allow_blank=True)
    requester = ContactField(
        queryset=Contact.objects.select_related("user", "organisation__plan"),
        compiled=_REQUESTER, required=False, allow_null=True,
        help_text="Agents: the contact the ticket is for (or give requester_email). "
                  "Customers: leave it out, it is you.")
    requester_email = serializers.EmailField(required=False, allow_blank=True)
    cc = ContactField(queryset=Contact.objects.select_related("user"), many=True,
                      required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False,
                                      help_text="Agents only: how the customer reached us. "
                                                "Default: api.")
    attachments = serializers.ListField(child=serializers.FileField(), required=False,
                                        help_text="Files, when sent as multipart/form-data.")

    _shared: TicketCreateSerializer | None = None

    @classmethod
    def parse(cls, request) -> dict:
        """The request's body validated, or a ValidationError as `is_valid` raises it.

        One instance per process validates every request (its fields hold no state of a
        request); a customer may name only contacts of their own organisation."""
        shared = cls._shared
        if shared is None:
            shared = cls._shared = cls()
            shared.fields  # noqa: B018 (built and bound once, here)
        if is_agent(request.user):
            scope = None
        else:
            contact = getattr(request.user, "contact", None)
            scope = contact.organisation_id if contact is not None else 0
        token = _contact_scope.set(scope)
        try:
            return shared.run_validation(request.data)
        finally:
            _contact_scope.reset(token)


class TicketUpdateSerializer(serializers.Serializer):
    """Agents: each field given is one action (status, priority, category, tier, assignment)."""

    status = serializers.ChoiceField(choices=Status.choices, required=False)
    priority = serializers.SlugRelatedField(slug_field="code", queryset=Priority.objects.all(),
                                            required=False)
    category = serializers.SlugRelatedField(slug_field="code", queryset=Category.objects.all(),
                                            required=False, allow_null=True)
    tier = serializers.IntegerField(required=False, min_value=1, max_value=3)
    assignee = serializers.PrimaryKeyRelatedField(queryset=Agent.objects.select_related("user"),
                                                  required=False, allow_null=True)
    team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False,
                                              allow_null=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000,
                                   help_text="Why: required with tier, kept with priority.")


class MessageSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, max_length=100_000, trim_whitespace=False)
    attachments = serializers.ListField(child=serializers.FileField(), required=False,
                                        help_text="Files, when sent as multipart/form-data.")


class ResolveSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=ResolutionCode.choices)
    note = serializers.CharField(allow_blank=True, max_length=100_000,
                                 help_text="How it was resolved: the customer reads it.")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class EscalateSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, max_length=5000)


class TimeframeSerializer(serializers.Serializer):
    due_at = serializers.DateTimeField(help_text="When it will be resolved, with its offset.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class PlanInputSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, max_length=100_000)


class TimeSerializer(serializers.Serializer):
    minutes = serializers.IntegerField(min_value=1, max_value=1440)
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class MergeSerializer(serializers.Serializer):
    into = serializers.CharField(max_length=40, help_text="The reference of the ticket that "
                                                          "carries on, e.g. TD-100234.")


# --------------------------------------------------------------------------- satisfaction

FACES = ["positive", "neutral", "negative"]


class SatisfactionSerializer(serializers.Serializer):
    """The survey of the ticket's latest resolution, and its answer if there is one."""

    cycle = serializers.IntegerField(help_text="Which resolution: 0 the first, 1 after a "
                                               "reopening, ...")
    resolved_at = serializers.DateTimeField()
    face = serializers.ChoiceField(choices=FACES, allow_null=True)
    comment = serializers.CharField(allow_blank=True)
    answered_at = serializers.DateTimeField(allow_null=True)
    changed_at = serializers.DateTimeField(allow_null=True)
    open = serializers.BooleanField(help_text="Whether it can be answered (or changed) now.")
    closed_because = serializers.CharField(allow_blank=True)


class SatisfactionAnswerSerializer(serializers.Serializer):
    face = serializers.ChoiceField(choices=FACES)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000)


# --------------------------------------------------------------------------- SLA


def _seconds(delta) -> int:
    return int(delta.total_seconds())


class StretchSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=["counted", "paused", "outside_hours", "stopped"])
    status = serializers.CharField()
    priority = serializers.CharField()
    business_seconds = serializers.SerializerMethodField()
    targets = serializers.DictField(child=serializers.CharField())
    reason = serializers.CharField(allow_null=True)

    def get_business_seconds(self, stretch: Stretch) -> int:
        return _seconds(stretch.business)


class TargetTotalsSerializer(serializers.Serializer):
    name = serializers.CharField()
    state = serializers.CharField(source="state.state")
    elapsed_seconds = serializers.SerializerMethodField()
    target_seconds = serializers.SerializerMethodField()
    due_at = serializers.DateTimeField(source="state.due", allow_null=True)
    met_at = serializers.DateTimeField(source="state.met_at", allow_null=True)
    breached_at = serializers.DateTimeField(source="state.breached_at", allow_null=True)
    rule = serializers.CharField()
    paused_seconds = serializers.SerializerMethodField()
    deadline = serializers.CharField(help_text="How the deadline follows, in words.")

    def get_elapsed_seconds(self, totals: TargetTotals) -> int:
        return _seconds(totals.state.elapsed)

    def get_target_seconds(self, totals: TargetTotals) -> int:
        return _seconds(totals.state.target)

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}})
    def get_paused_seconds(self, totals: TargetTotals) -> dict[str, int]:
        return {reason: _seconds(t) for reason, t in totals.paused.items()}


class ExplanationSerializer(serializers.Serializer):
    timezone = serializers.CharField()
    created = serializers.DateTimeField()
    now = serializers.DateTimeField()
    status = serializers.CharField()
    priority = serializers.CharField()
    stretches = StretchSerializer(many=True)
    targets = serializers.SerializerMethodField()
    text = serializers.SerializerMethodField(help_text="The same table as `tierdesk sla explain`.")

    @extend_schema_field(TargetTotalsSerializer(many=True))
    def get_targets(self, explanation: Explanation) -> list:
        return TargetTotalsSerializer(list(explanation.targets.values()), many=True).data

    def get_text(self, explanation: Explanation) -> str:
        return explanation.render_text()


class TicketSLASerializer(serializers.Serializer):
    reference = serializers.CharField()
    states = SLAStateSerializer(many=True)
    explanation = ExplanationSerializer()


# --------------------------------------------------------------------------- directory


class OrganisationSerializer(serializers.ModelSerializer):
    plan = serializers.CharField(source="plan.code")
    domains = serializers.SlugRelatedField(slug_field="domain", many=True, read_only=True)

    class Meta:
        model = Organisation
        fields = ["id", "name", "plan", "contract_reference", "members_see_all", "is_active",
                  "domains", "created_at"]


class ContactSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="user.get_full_name")
    email = serializers.EmailField(source="user.email")
    organisation = OrganisationRefSerializer()

    class Meta:
        model = Contact
        fields = ["id", "name", "email", "organisation", "role", "phone", "held_for_review"]


class CategorySerializer(serializers.ModelSerializer):
    parent = serializers.CharField(source="parent.code", allow_null=True, default=None)

    class Meta:
        model = Category
        fields = ["code", "name", "name_es", "parent", "path", "is_active"]


class PrioritySerializer(serializers.ModelSerializer):
    class Meta:
        model = Priority
        fields = ["code", "name", "name_es", "rank", "description", "is_active"]


class CalendarRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class PlanSerializer(serializers.ModelSerializer):
    calendar = CalendarRefSerializer()
    targets = serializers.JSONField(help_text="{target: {priority: minutes | {business_days: n}}}")
    pause_statuses = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Plan
        fields = ["code", "name", "calendar", "targets", "pause_statuses", "is_active"]


class TokenInfoSerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))

    class Meta:
        model = ApiToken
        fields = ["name", "prefix", "scopes", "created_at", "last_used_at"]


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["agent", "contact"])
    organisation = OrganisationRefSerializer(allow_null=True)
    role = serializers.CharField()
    tier = serializers.IntegerField(allow_null=True)
    token = TokenInfoSerializer(allow_null=True)


# --------------------------------------------------------------------------- webhooks

SUBSCRIBABLE = [(v, label) for v, label in EventType.choices if v != EventType.PING]


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email")
    events = serializers.ListField(child=serializers.ChoiceField(choices=SUBSCRIBABLE))
    organisation = serializers.IntegerField(source="organisation_id", allow_null=True)
    deliveries_url = serializers.SerializerMethodField()

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "description", "events", "organisation", "is_active", "owner",
                  "created_at", "deliveries_url"]

    def get_deliveries_url(self, sub: WebhookSubscription) -> str:
        return reverse("api:webhook-deliveries", args=[sub.pk])


class WebhookSecretSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(help_text="Signs every delivery (HMAC-SHA256); shown when "
                                             "the subscription is made and when it is rotated.")

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]


class WebhookInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)
    events = serializers.ListField(child=serializers.ChoiceField(choices=SUBSCRIBABLE),
                                   allow_empty=False, max_length=len(SUBSCRIBABLE))
    organisation = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.all(), required=False, allow_null=True,
        help_text="Agents: only this organisation's tickets (empty: all). Customers: "
                  "always their own.")
    is_active = serializers.BooleanField(required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and not is_agent(request.user):
            contact = getattr(request.user, "contact", None)
            _scoped(self.fields["organisation"],
                    Organisation.objects.filter(pk=contact.organisation_id)
                    if contact is not None else Organisation.objects.none())


class WebhookUpdateSerializer(WebhookInputSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class WebhookDeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid")
    ticket = serializers.CharField(source="ticket.reference", allow_null=True, default=None)
    replay_of = serializers.UUIDField(source="replay_of.uuid", allow_null=True, default=None)
    state = serializers.SerializerMethodField(
        help_text="pending (to send or retrying), sent, or dead (gave up: replay it).")
    attempts = serializers.IntegerField(source="outbox.attempts", default=0)
    last_error = serializers.CharField(source="outbox.last_error", default="")
    next_attempt_at = serializers.DateTimeField(source="outbox.next_attempt_at", allow_null=True,
                                                default=None)
    sent_at = serializers.DateTimeField(source="outbox.sent_at", allow_null=True, default=None)
    body = serializers.JSONField()

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "ticket", "state", "attempts", "last_error",
                  "next_attempt_at", "sent_at", "created_at", "replay_of", "body"]

    @extend_schema_field(serializers.ChoiceField(choices=["pending", "sent", "dead", "unknown"]))
    def get_state(self, delivery: WebhookDelivery) -> str:
        return delivery.outbox.state if delivery.outbox else "unknown"

