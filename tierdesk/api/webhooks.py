"""Webhooks: subscriptions, signed deliveries through the outbox, the log and replays.

1. `on_ticket_events` hears every action's events inside its transaction (tickets.hooks)
   and turns them into event types: `created` -> ticket.created, an escalation ->
   ticket.escalated, `sla_warning` / `sla_breached` -> sla.warning / sla.breached,
   anything else -> ticket.updated (one per action, not one per event).
2. Each active subscription that wants the type, and whose owner may see the ticket,
   gets one `WebhookDelivery` and one outbox message in that same transaction: a
   rolled-back action sends nothing; a committed one is sent after commit, retried
   with backoff while the receiver is down, and kept (state "dead") if it never
   answers, to be replayed.
3. The body is signed when it is queued: header
   `Tierdesk-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
   Retries of one delivery carry the same signature; a replay is a new delivery with a
   fresh timestamp and the same event id. Receivers drop duplicates by the event id.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from tierdesk.accounts.models import Organisation, User
from tierdesk.api.models import EventType, WebhookDelivery, WebhookSubscription
from tierdesk.lib import clock
from tierdesk.notifications.outbox import enqueue_webhook
from tierdesk.tickets.errors import ActionError, Forbidden, NotFound
from tierdesk.tickets.hooks import Happened
from tierdesk.tickets.models import Ticket, TicketEvent
from tierdesk.tickets.permissions import can_view, is_agent

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Tierdesk-Signature"
USER_AGENT = "Tierdesk-Webhooks/1"

# Timeline codes with an event type of their own; every other code is ticket.updated.
CODE_TYPES: dict[str, str] = {
    "created": EventType.TICKET_CREATED,
    "escalated": EventType.TICKET_ESCALATED,
    "auto_escalated": EventType.TICKET_ESCALATED,
    "sla_warning": EventType.SLA_WARNING,
    "sla_breached": EventType.SLA_BREACHED,
}


# --------------------------------------------------------------------------- who may


def can_manage(user: User) -> bool:
    """Team leads and above for the provider; organisation admins for their organisation."""
    agent = getattr(user, "agent", None)
    if agent is not None:
        return user.is_active and agent.is_lead_or_above
    contact = getattr(user, "contact", None)
    return bool(user.is_active and contact is not None and contact.is_org_admin
                and not contact.held_for_review)


def visible_subscriptions(user: User):
    if not can_manage(user):
        return WebhookSubscription.objects.none()
    qs = WebhookSubscription.objects.select_related("owner")
    if is_agent(user):
        return qs
    # Customers see their organisation's customer-made subscriptions, never the provider's.
    return qs.filter(owner__contact__organisation_id=user.contact.organisation_id)


def access_subscription(user: User, pk: int | str) -> WebhookSubscription:
    try:
        return visible_subscriptions(user).get(pk=int(pk))
    except (WebhookSubscription.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("No such webhook subscription.")) from None


def access_delivery(user: User, subscription: WebhookSubscription, ref: str) -> WebhookDelivery:
    try:
        return subscription.deliveries.select_related("outbox", "subscription").get(
            uuid=uuid.UUID(str(ref)))
    except (WebhookDelivery.DoesNotExist, ValueError):
        raise NotFound(_("No such delivery.")) from None


# --------------------------------------------------------------------------- managing


def _check_url(url: str, *, for_customer: bool) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ActionError(_("Give an http or https URL."), field="url")
    if for_customer:
        # The server posts to this address: a customer must not point it at our network.
        if parts.scheme != "https":
            raise ActionError(_("Webhook URLs must use https."), field="url")
        host = parts.hostname.lower()
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise ActionError(_("That address is not reachable from the internet."), field="url")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if address is not None and not address.is_global:
            raise ActionError(_("That address is not reachable from the internet."), field="url")
        if address is None and not _resolves_to_internet(host, parts.port or 443):
            raise ActionError(_("That address is not reachable from the internet."), field="url")
    return url


def _resolves_to_internet(host: str, port: int) -> bool:
    """False when the name points into a private network (a name that does not resolve
    yet passes: it may be set up later, and a delivery to it only fails)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return True
    for info in infos:
        try:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        except ValueError:
            return False
        if not address.is_global:
            return False
    return True


def _check_events(events: Iterable[str], *, for_customer: bool) -> list[str]:
    wanted = set(events)
    allowed = [v for v in EventType.values if v != EventType.PING]
    unknown = wanted - set(allowed)
    if unknown:
        raise ActionError(_("Unknown event type “%(t)s”.") % {"t": sorted(unknown)[0]},
                          field="events")
    if for_customer and EventType.CSAT_RECEIVED in wanted:
        # Some contracts keep satisfaction internal: answers go to the provider only.
        raise ActionError(_("Satisfaction answers are sent to the provider's subscriptions "
                            "only."), field="events")
    if not wanted:
        raise ActionError(_("Choose at least one event type."), field="events")
    return [v for v in allowed if v in wanted]


def _organisation_for(actor: User, organisation: Organisation | None) -> Organisation | None:
    if is_agent(actor):
        return organisation
    own = actor.contact.organisation
    if organisation is not None and organisation.pk != own.pk:
        raise ActionError(_("You can only subscribe to your organisation's tickets."),
                          field="organisation")
    return own


def create_subscription(*, actor: User, url: str, events: Iterable[str],
                        organisation: Organisation | None = None, description: str = "",
                        is_active: bool = True, at: datetime | None = None) -> WebhookSubscription:
    if not can_manage(actor):
        raise Forbidden(_("Only team leads, managers and organisation admins manage webhooks."))
    return WebhookSubscription.objects.create(
        owner=actor, organisation=_organisation_for(actor, organisation),
        url=_check_url(url, for_customer=not is_agent(actor)),
        events=_check_events(events, for_customer=not is_agent(actor)),
        description=description.strip()[:200], secret=new_secret(), is_active=is_active,
        created_at=at or clock.now())


_MISSING: Any = object()


def update_subscription(*, actor: User, subscription: WebhookSubscription, url: str | None = None,
                        events: Iterable[str] | None = None, organisation: Any = _MISSING,
                        description: str | None = None, is_active: bool | None = None) -> None:
    if not can_manage(actor):
        raise Forbidden()
    if url is not None:
        subscription.url = _check_url(url, for_customer=not is_agent(subscription.owner))
    if events is not None:
        subscription.events = _check_events(events, for_customer=not is_agent(subscription.owner))
    if organisation is not _MISSING:
        subscription.organisation = _organisation_for(actor, organisation)
    if description is not None:
        subscription.description = description.strip()[:200]
    if is_active is not None:
        subscription.is_active = is_active
    subscription.save()


def delete_subscription(*, actor: User, subscription: WebhookSubscription) -> None:
    if not can_manage(actor):
        raise Forbidden()
    subscription.delete()


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def rotate_secret(*, actor: User, subscription: WebhookSubscription) -> str:
    """A new signing secret; deliveries already queued keep the old signature."""
    if not can_manage(actor):
        raise Forbidden()
    subscription.secret = new_secret()
    subscription.save(update_fields=["secret"])
    return subscription.secret


# --------------------------------------------------------------------------- signing


def jsonb_order(value: Any) -> Any:
    """`value` with every object's keys in PostgreSQL jsonb's order (shorter first, then
    bytewise), so the body the outbox reads back and sends is byte for byte the body we
    signed, on PostgreSQL as on SQLite (which keeps the order it is given)."""
    if isinstance(value, dict):
        return {k: jsonb_order(value[k])
                for k in sorted(value, key=lambda k: (len(k.encode()), k.encode()))}
    if isinstance(value, list):
        return [jsonb_order(v) for v in value]
    return value


def body_bytes(body: Any) -> bytes:
    """The bytes the outbox sends for `body` (it posts json.dumps of the stored JSON)."""
    return json.dumps(body).encode()


def sign(secret: str, raw: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, raw: bytes, header: str, *, now: int, tolerance: int | None = None) -> bool:
    """What a receiver does (and what our tests do): check the HMAC, maybe the age."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    if tolerance is not None and abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, raw, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


# --------------------------------------------------------------------------- delivering


def enqueue(*, subscription: WebhookSubscription, event_type: str, data: dict,
            ticket: Ticket | None, at: datetime, event_id: uuid.UUID | None = None,
            replay_of: WebhookDelivery | None = None, body: dict | None = None) -> WebhookDelivery:
    """One delivery: its log row and its signed outbox message, in the caller's transaction."""
    delivery_id = uuid.uuid4()
    event_id = event_id or uuid.uuid4()
    if body is None:
        plain = json.loads(json.dumps(
            {"id": str(event_id), "type": event_type, "created_at": at.astimezone(UTC).isoformat(),
             "data": data}, cls=DjangoJSONEncoder))
        body = jsonb_order(plain)
    timestamp = int(clock.now().timestamp())
    headers = {
        "User-Agent": USER_AGENT,
        "Tierdesk-Event": event_type,
        "Tierdesk-Delivery": str(delivery_id),
        SIGNATURE_HEADER: sign(subscription.secret, body_bytes(body), timestamp),
    }
    with transaction.atomic():
        message = enqueue_webhook(key=f"webhook:{delivery_id}", url=subscription.url, body=body,
                                  headers=headers, ticket=ticket,
                                  internet_only=not is_agent(subscription.owner))
        return WebhookDelivery.objects.create(
            uuid=delivery_id, subscription=subscription, event_id=event_id,
            event_type=event_type, ticket=ticket, outbox=message, replay_of=replay_of, body=body,
            created_at=at)


def replay(*, actor: User | None, delivery: WebhookDelivery,
           at: datetime | None = None) -> WebhookDelivery:
    """Send a delivery's event again, now, as a new delivery (same event id and body).

    `actor` None is the admin site or the command line, which have their own permissions.
    """
    if actor is not None and not can_manage(actor):
        raise Forbidden()
    subscription = delivery.subscription
    if not subscription.is_active:
        raise ActionError(_("The subscription is paused; activate it first."), field="is_active")
    return enqueue(subscription=subscription, event_type=delivery.event_type, data={},
                   ticket=delivery.ticket, at=at or clock.now(), event_id=delivery.event_id,
                   replay_of=delivery, body=delivery.body)


def ping(*, actor: User, subscription: WebhookSubscription,
         at: datetime | None = None) -> WebhookDelivery:
    if not can_manage(actor):
        raise Forbidden()
    return enqueue(subscription=subscription, event_type=EventType.PING,
                   data={"subscription": subscription.pk, "message": "Hello from Tierdesk."},
                   ticket=None, at=at or clock.now())


def types_of(events: Iterable[TicketEvent]) -> dict[str, list[TicketEvent]]:
    """An action's events grouped by webhook event type; a new ticket is one ticket.created."""
    grouped: dict[str, list[TicketEvent]] = {}
    for event in events:
        grouped.setdefault(CODE_TYPES.get(event.code, EventType.TICKET_UPDATED), []).append(event)
    if EventType.TICKET_CREATED in grouped:
        everything = [e for evs in grouped.values() for e in evs]
        return {EventType.TICKET_CREATED: sorted(everything, key=lambda e: e.pk)}
    return grouped


def _data(ticket: Ticket, events: list[TicketEvent], *, agent: bool) -> dict:
    from tierdesk.api.serializers import EventSerializer, TicketSerializer

    context = {"agent": agent}
    with timezone.override(UTC):  # the same instants the API shows
        return {"ticket": TicketSerializer(ticket, context=context).data,
                "events": EventSerializer(events, many=True, context=context).data}


def on_ticket_events(happened: Happened) -> None:
    """The tickets.hooks subscriber: queue the deliveries an action's events call for.

    In a savepoint: a fault here is logged and leaves no half-written deliveries, and
    never stops the desk's own work (the action goes on and commits).
    """
    try:
        # Every action of every ticket comes through here: first a cheap look at who
        # wants what (one query, no joins, no savepoint), the rest only when one does.
        grouped = types_of(happened.events)
        wanted = [pk for pk, events in WebhookSubscription.objects.filter(is_active=True)
                  .values_list("pk", "events") if set(events or ()) & grouped.keys()]
        if not wanted:
            return
        with transaction.atomic():
            _queue_deliveries(happened, grouped, wanted)
    except Exception:
        log.exception("webhooks: could not queue the deliveries of ticket %s",
                      happened.ticket.pk)


def on_many_tickets(happenings: list[Happened]) -> None:
    """One action's events on several tickets (the SLA sweep's): one look at the
    subscriptions for them all; each ticket's deliveries only when one wants its events."""
    wanted: set[str] = set()
    for happened in happenings:
        wanted |= types_of(happened.events).keys()
    if not any(set(events or ()) & wanted for events in WebhookSubscription.objects
               .filter(is_active=True).values_list("events", flat=True)):
        return
    for happened in happenings:
        on_ticket_events(happened)


def _queue_deliveries(happened: Happened, grouped: dict[str, list[TicketEvent]],
                      wanted: list[int]) -> None:
    subscriptions = list(WebhookSubscription.objects.filter(pk__in=wanted).order_by("pk")
                         .select_related("owner__agent", "owner__contact__organisation"))
    ticket = happened.ticket
    at = max(e.at for e in happened.events)
    built: dict[tuple[str, bool], dict | None] = {}
    for sub in subscriptions:
        owner = sub.owner
        if sub.organisation_id is not None and sub.organisation_id != ticket.organisation_id:
            continue
        if not can_manage(owner) or not can_view(owner, ticket):
            continue
        agent = is_agent(owner)
        for event_type, events in grouped.items():
            if event_type not in sub.events:
                continue
            key = (event_type, agent)
            if key not in built:
                shown = events if agent else [e for e in events if e.is_public]
                built[key] = _data(ticket, shown, agent=agent) if shown else None
            data = built[key]
            if data is not None:
                enqueue(subscription=sub, event_type=event_type, data=data, ticket=ticket, at=at)


def on_survey_saved(sender, instance, update_fields=None, **kwargs) -> None:
    """csat.received: a satisfaction answer was recorded (or changed), in its transaction.

    Survey answers are not ticket actions, so they are heard through the model's
    post_save; only the provider's subscriptions hear them.
    """
    if instance.rating is None or not update_fields or "rating" not in update_fields:
        return
    try:
        with transaction.atomic():
            _queue_csat(instance)
    except Exception:
        log.exception("webhooks: could not queue csat.received for survey %s", instance.pk)


def _queue_csat(instance) -> None:
    wanted = [pk for pk, events in WebhookSubscription.objects.filter(is_active=True)
              .values_list("pk", "events") if EventType.CSAT_RECEIVED in (events or ())]
    if not wanted:
        return
    from tierdesk.api.serializers import TicketSerializer

    ticket = instance.ticket
    at = instance.changed_at or instance.answered_at or clock.now()
    data: dict | None = None
    for sub in (WebhookSubscription.objects.filter(pk__in=wanted).order_by("pk")
                .select_related("owner__agent")):
        if not is_agent(sub.owner) or not can_manage(sub.owner):
            continue
        if sub.organisation_id is not None and sub.organisation_id != ticket.organisation_id:
            continue
        if data is None:
            with timezone.override(UTC):
                data = {"ticket": TicketSerializer(ticket, context={"agent": True}).data,
                        "survey": {"cycle": instance.cycle, "face": instance.face,
                                   "rating": instance.rating, "comment": instance.comment,
                                   "answered_at": instance.answered_at,
                                   "changed_at": instance.changed_at}}
        enqueue(subscription=sub, event_type=EventType.CSAT_RECEIVED, data=data, ticket=ticket,
                at=at)
