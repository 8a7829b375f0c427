"""The two actions every channel runs most (`create_ticket`, `add_reply`): the statements
they send, what they write (the same rows as a computation from scratch), and the SLA
rows a create hands back to its caller."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from support import T0

from tierdesk.accounts.models import Contact
from tierdesk.sla import adapter
from tierdesk.sla.models import TicketSLA
from tierdesk.tickets import actions
from tierdesk.tickets.models import Ticket

ROW_VALUES = ("ticket_id", "target", "state", "elapsed_seconds", "target_seconds", "due_at",
              "warn_at", "met_at", "breached_at", "plan_version", "calendar_version",
              "computed_at")


def _written(sql: list[str]) -> list[str]:
    """The statements of an action inside a test's transaction, savepoints aside."""
    return [q for q in sql if not q.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def _requester(people) -> Contact:
    """Alice as the mail and API doors hand her over: organisation and plan loaded."""
    return Contact.objects.select_related("user", "organisation__plan").get(pk=people.alice.pk)


def _expected(ticket: Ticket, now) -> tuple[list[tuple], object]:
    """The ticket's SLA rows and deadline computed from scratch (the ORM's timeline)."""
    timeline = adapter.ticket_timeline(ticket)
    organisation = type(ticket.organisation).objects.select_related("plan").get(
        pk=ticket.organisation_id)
    compiled = adapter.compile_policy(organisation.plan, organisation.contract_targets)
    values, next_due = adapter.compute_row_values(
        ticket.pk, compiled, adapter.engine_events(timeline), now,
        announced=adapter.announced_breaches(timeline))
    return sorted(values, key=lambda v: v[1]), next_due


def _stored(ticket: Ticket) -> list[tuple]:
    return list(TicketSLA.objects.filter(ticket=ticket).order_by("target")
                .values_list(*ROW_VALUES))


def test_a_create_asks_six_statements_and_reads_before_its_transaction(people, settings):
    settings.TICKET_HOOKS_INLINE = False  # production: one hook-work row, heard later
    alice = _requester(people)
    actions.create_ticket(actor=None, at=T0, new=actions.NewTicket(  # the counter's row made
        requester=alice, subject="First", description="The desk's first.", channel="email"))
    with CaptureQueriesContext(connection) as ctx:
        t = actions.create_ticket(actor=None, at=T0, new=actions.NewTicket(
            requester=alice, subject="Printer", description="Jammed.", channel="email"))
    sql = [q["sql"] for q in ctx.captured_queries]
    written = _written(sql)
    assert [q.split()[0] for q in written] == ["SELECT", "UPDATE", "INSERT", "INSERT", "INSERT",
                                               "INSERT"], written
    # The default priority is read before the action's transaction (its savepoint here,
    # BEGIN IMMEDIATE on SQLite outside a test): only writes hold the write lock.
    assert sql[0].startswith("SELECT") and sql[1].startswith("SAVEPOINT")
    assert t.priority.code == "medium"


def test_a_reply_asks_five_statements(open_ticket, people, settings):
    settings.TICKET_HOOKS_INLINE = False
    t = open_ticket(at=T0)
    t = Ticket.objects.select_related("organisation__plan").get(pk=t.pk)
    with CaptureQueriesContext(connection) as ctx:
        actions.add_reply(actor=people.alice.user, ticket=t, body="Any news?",
                          at=T0 + timedelta(minutes=5), via="email")
    written = _written([q["sql"] for q in ctx.captured_queries])
    # The event; the timeline with the targets of the rows; the rows; the ticket; the
    # hook work. No DELETE (no target went away), no second UPDATE of the ticket.
    assert [q.split()[0] for q in written] == ["INSERT", "SELECT", "INSERT", "UPDATE",
                                               "INSERT"], written


def test_the_created_ticket_hands_over_its_sla_rows(people, settings, django_assert_num_queries):
    settings.TICKET_HOOKS_INLINE = False
    t = actions.create_ticket(actor=None, at=T0, new=actions.NewTicket(
        requester=_requester(people), subject="VPN", description="Drops.", priority=None))
    with django_assert_num_queries(0):
        handed = [(r.pk, *(getattr(r, name) for name in ROW_VALUES)) for r in t.sla_rows.all()]
        assert all(r.ticket is t for r in t.sla_rows.all())
    read = list(TicketSLA.objects.filter(ticket=t).order_by("target")
                .values_list("pk", *ROW_VALUES))
    assert handed == read and len(read) == 3
    # Anything but all() still asks the database.
    with django_assert_num_queries(1):
        assert [r.target for r in t.sla_rows.filter(target="resolution")] == ["resolution"]
    # An action on the same object drops them: they would be stale.
    actions.add_reply(actor=people.tess.user, ticket=t, body="On it.", at=T0 + timedelta(hours=1))
    with django_assert_num_queries(1):
        assert {r.state for r in t.sla_rows.all() if r.target == "first_response"} == {"met"}


def test_inline_hooks_hand_over_nothing(people, django_assert_num_queries):
    """Inline subscribers run after the rows were written and may rewrite them."""
    t = actions.create_ticket(actor=None, at=T0, new=actions.NewTicket(
        requester=_requester(people), subject="VPN", description="Drops."))
    with django_assert_num_queries(1):
        assert len(t.sla_rows.all()) == 3


@pytest.mark.parametrize("priority", [None, "critical"])
def test_a_create_writes_what_a_computation_from_scratch_gives(people, desk, priority):
    t = actions.create_ticket(actor=people.tess.user, at=T0, new=actions.NewTicket(
        requester=people.alice, subject="Mail down", description="Since 9.",
        priority=desk[priority] if priority else None, channel="phone"))
    stored = Ticket.objects.get(pk=t.pk)
    values, next_due = _expected(stored, T0)
    assert _stored(stored) == [tuple(v) for v in values]
    assert stored.next_due_at == next_due


def test_every_step_leaves_the_rows_a_computation_from_scratch_gives(open_ticket, people):
    """Replies from both sides, a wait on the customer, a reopen: after each, the rows
    and the deadline are those of the whole timeline evaluated again."""
    t = open_ticket(at=T0)
    steps = [
        lambda at: actions.add_reply(actor=people.alice.user, ticket=t, body="More", at=at),
        lambda at: actions.add_reply(actor=people.tess.user, ticket=t, body="Look", at=at),
        lambda at: actions.change_status(actor=people.tess.user, ticket=t,
                                         status="waiting_customer", at=at),
        lambda at: actions.add_reply(actor=people.alice.user, ticket=t, body="Here", at=at),
        lambda at: actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="ok",
                                   at=at),
        lambda at: actions.add_reply(actor=people.alice.user, ticket=t, body="Again", at=at),
    ]
    for i, step in enumerate(steps, start=1):
        at = T0 + timedelta(hours=3 * i)
        step(at)
        stored = Ticket.objects.get(pk=t.pk)
        values, next_due = _expected(stored, at)
        assert _stored(stored) == [tuple(v) for v in values], i
        assert stored.next_due_at == next_due == t.next_due_at, i
        assert stored.updated_at == at


def test_a_reply_drops_the_rows_of_targets_no_longer_in_the_plan(open_ticket, people):
    t = open_ticket(at=T0)
    plan = t.organisation.plan
    plan.targets = {k: v for k, v in plan.targets.items() if k != "resolution_plan"}
    plan.version += 1
    plan.save()
    t = Ticket.objects.select_related("organisation__plan").get(pk=t.pk)
    actions.add_reply(actor=people.alice.user, ticket=t, body="Still broken",
                      at=T0 + timedelta(hours=1))
    assert {r[1] for r in _stored(t)} == {"first_response", "resolution"}
    values, _next_due = _expected(t, T0 + timedelta(hours=1))
    assert _stored(t) == [tuple(v) for v in values]
