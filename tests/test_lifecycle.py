"""The ticket lifecycle through the actions, and refusals that leave nothing behind."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from support import T0, snapshot

from tierdesk.tickets import actions
from tierdesk.tickets.errors import ActionError, Forbidden
from tierdesk.tickets.models import Category, EventCode, Ticket


def codes(ticket):
    return list(ticket.events.order_by("at", "id").values_list("code", flat=True))


def test_create_writes_reference_event_and_sla(open_ticket, desk):
    t = open_ticket()
    assert t.reference == f"TD-{t.number}" and t.number > 100000
    assert t.status == "new" and t.priority.code == "medium" and t.channel == "portal"
    assert codes(t) == ["created"]
    rows = {r.target: r for r in t.sla_rows.all()}
    assert set(rows) == {"first_response", "resolution_plan", "resolution"}
    assert rows["first_response"].due_at == T0 + timedelta(minutes=480)
    assert t.next_due_at == T0 + timedelta(minutes=480)


def test_case_numbers_are_unique_and_increasing(open_ticket):
    numbers = [open_ticket(f"t{i}").number for i in range(5)]
    assert numbers == sorted(set(numbers))


def test_priority_from_impact_and_urgency(open_ticket):
    t = open_ticket(impact="most_users", urgency="stopped")
    assert t.priority.code == "critical"
    t = open_ticket(impact="one_user", urgency="stopped")
    assert t.priority.code == "medium"


def test_full_lifecycle(open_ticket, people):
    t = open_ticket()
    actions.assign(actor=people.tess.user, ticket=t, agent=people.tess, at=T0 + timedelta(minutes=5))
    assert t.status == "open"
    actions.add_reply(actor=people.tess.user, ticket=t, body="Which client version?",
                      at=T0 + timedelta(minutes=10))
    assert t.first_response_at == T0 + timedelta(minutes=10)
    actions.change_status(actor=people.tess.user, ticket=t, status="waiting_customer",
                          at=T0 + timedelta(minutes=11))
    actions.add_reply(actor=people.alice.user, ticket=t, body="5.2.1",
                      at=T0 + timedelta(minutes=40))
    assert t.status == "open", "a customer's reply puts a waiting ticket back to open"
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="Upgraded the client.",
                    at=T0 + timedelta(hours=2))
    assert t.status == "resolved" and t.resolution_code == "fixed"
    actions.reopen(actor=people.alice.user, ticket=t, reason="It dropped again.",
                   at=T0 + timedelta(days=1))
    assert t.status == "open" and t.reopen_count == 1
    actions.resolve(actor=people.tess.user, ticket=t, code="workaround", note="Use TCP mode.",
                    at=T0 + timedelta(days=2))
    actions.close(actor=people.tess.user, ticket=t, at=T0 + timedelta(days=3))
    t.refresh_from_db()
    assert t.status == "closed"
    assert codes(t) == ["created", "assigned", "status_changed", "public_reply", "status_changed",
                        "public_reply", "status_changed", "resolved", "reopened", "resolved",
                        "closed"]
    rows = {r.target: r for r in t.sla_rows.all()}
    assert rows["first_response"].state == "met"
    assert rows["resolution"].state == "met"


def test_resolution_needs_note_and_code(open_ticket, people):
    t = open_ticket()
    before = snapshot()
    with pytest.raises(ActionError) as exc:
        actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="  ")
    assert exc.value.field == "note"
    with pytest.raises(ActionError) as exc:
        actions.resolve(actor=people.tess.user, ticket=t, code="magic", note="done")
    assert exc.value.field == "code"
    assert snapshot() == before


def test_illegal_transition_is_refused_and_changes_nothing(open_ticket, people):
    t = open_ticket()
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="ok",
                    at=T0 + timedelta(hours=1))
    before = snapshot()
    with pytest.raises(ActionError) as exc:
        actions.change_status(actor=people.tess.user, ticket=Ticket.objects.get(pk=t.pk),
                              status="waiting_customer")
    assert exc.value.code == "illegal_transition"
    assert "cannot go from" in exc.value.message
    assert snapshot() == before


def test_closing_an_unresolved_ticket_is_refused(open_ticket, people):
    t = open_ticket()
    before = snapshot()
    with pytest.raises(ActionError):
        actions.close(actor=people.tess.user, ticket=t)
    assert snapshot() == before


def test_customer_cannot_reopen_after_the_window(open_ticket, people):
    t = open_ticket()
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="ok",
                    at=T0 + timedelta(hours=1))
    late = T0 + timedelta(days=15, hours=2)
    before = snapshot()
    with pytest.raises(ActionError) as exc:
        actions.reopen(actor=people.alice.user, ticket=t, reason="again", at=late)
    assert "new ticket" in exc.value.message
    with pytest.raises(ActionError):
        actions.add_reply(actor=people.alice.user, ticket=t, body="hello?", at=late)
    assert snapshot() == before
    # An agent may still reopen it.
    actions.reopen(actor=people.tess.user, ticket=t, reason="", at=late)
    assert t.status == "open"


def test_customer_reply_inside_window_reopens(open_ticket, people):
    t = open_ticket()
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="ok",
                    at=T0 + timedelta(hours=1))
    actions.add_reply(actor=people.alice.user, ticket=t, body="Still broken",
                      at=T0 + timedelta(days=2))
    assert t.status == "open" and t.reopen_count == 1


def test_missing_mandatory_fields_refused(people):
    before = snapshot()
    for field, kw in [("subject", {"subject": " "}), ("description", {"description": ""})]:
        args = {"subject": "s", "description": "d", **kw}
        with pytest.raises(ActionError) as exc:
            actions.create_ticket(actor=people.alice.user, new=actions.NewTicket(
                requester=people.alice, **args))
        assert exc.value.field == field
    assert snapshot() == before


def test_unknown_or_retired_category_refused(people):
    before = snapshot()
    with pytest.raises(ActionError) as exc:
        actions.create_ticket(actor=people.alice.user, new=actions.NewTicket(
            requester=people.alice, subject="s", description="d",
            category=Category.objects.get(code="retired")))
    assert exc.value.field == "category"
    assert snapshot() == before


def test_contact_cannot_open_for_someone_else(people):
    with pytest.raises(Forbidden):
        actions.create_ticket(actor=people.bob.user, new=actions.NewTicket(
            requester=people.alice, subject="s", description="d"))


def test_contacts_cannot_work_tickets(open_ticket, people):
    t = open_ticket()
    before = snapshot()
    for call in (
        lambda: actions.change_status(actor=people.alice.user, ticket=t, status="open"),
        lambda: actions.add_internal_note(actor=people.alice.user, ticket=t, body="x"),
        lambda: actions.resolve(actor=people.alice.user, ticket=t, code="fixed", note="x"),
        lambda: actions.change_tier(actor=people.alice.user, ticket=t, tier=2, reason="x"),
        lambda: actions.add_reply(actor=people.charlie.user, ticket=t, body="x"),
    ):
        with pytest.raises(Forbidden):
            call()
    assert snapshot() == before


def test_tier_change_needs_reason_and_unassigns_lower_tier(open_ticket, people):
    t = open_ticket()
    actions.assign(actor=people.tess.user, ticket=t, agent=people.tess)
    with pytest.raises(ActionError):
        actions.change_tier(actor=people.tess.user, ticket=t, tier=2, reason="")
    actions.change_tier(actor=people.tess.user, ticket=t, tier=2, reason="Needs a specialist")
    assert t.tier == 2 and t.assignee is None and t.escalation_count == 1
    assert t.events.filter(code=EventCode.ESCALATED, is_public=False).exists()
    with pytest.raises(ActionError):
        actions.assign(actor=people.tess.user, ticket=t, agent=people.tess)


def test_merge_closes_duplicate_and_links(open_ticket, people):
    a = open_ticket("Printer broken")
    b = open_ticket("Printer still broken", requester=people.bob)
    actions.merge(actor=people.tess.user, source=b, target=a)
    b.refresh_from_db()
    assert b.status == "closed" and b.resolution_code == "duplicate" and b.merged_into == a
    assert people.bob in a.cc.all()
    with pytest.raises(ActionError):
        actions.merge(actor=people.tess.user, source=a, target=a)


def test_merge_across_organisations_refused(open_ticket, people):
    a = open_ticket()
    c = open_ticket("Other", requester=people.charlie)
    before = snapshot()
    with pytest.raises(ActionError):
        actions.merge(actor=people.tess.user, source=c, target=a)
    assert snapshot() == before


def test_log_time_and_resolution_plan(open_ticket, people):
    t = open_ticket(impact="most_users", urgency="stopped")
    actions.log_time(actor=people.tess.user, ticket=t, minutes=25, note="remote session")
    actions.post_resolution_plan(actor=people.tess.user, ticket=t, body="Replace the switch.",
                                 at=T0 + timedelta(minutes=30))
    rows = {r.target: r for r in t.sla_rows.all()}
    assert rows["resolution_plan"].state == "met"
    assert rows["first_response"].state == "met"
    assert t.time_spent_minutes == 25
    with pytest.raises(ActionError):
        actions.log_time(actor=people.tess.user, ticket=t, minutes=0)


def test_events_are_append_only(open_ticket):
    ev = open_ticket().events.first()
    ev.body = "rewritten"
    with pytest.raises(RuntimeError):
        ev.save()


def test_dangerous_and_oversized_attachments_refused(open_ticket, people, settings):
    t = open_ticket()
    before = snapshot()
    with pytest.raises(ActionError) as exc:
        actions.add_reply(actor=people.alice.user, ticket=t, body="see file", attachments=[
            SimpleUploadedFile("shot.png", b"\x89PNG....", content_type="image/png"),
            SimpleUploadedFile("invoice.exe", b"MZ", content_type="application/octet-stream")])
    assert "invoice.exe" in exc.value.message and exc.value.field == "attachments"
    settings.ATTACHMENT_MAX_BYTES = 10
    with pytest.raises(ActionError) as exc:
        actions.add_reply(actor=people.alice.user, ticket=t, body="see file", attachments=[
            SimpleUploadedFile("big.txt", b"x" * 11, content_type="text/plain")])
    assert "limit" in exc.value.message
    assert snapshot() == before


def test_files_are_removed_when_the_action_fails(open_ticket, people, settings, monkeypatch):
    import os

    t = open_ticket()
    from tierdesk.sla import adapter

    def boom(*a, **k):
        raise RuntimeError("engine down")

    monkeypatch.setattr(adapter, "refresh_ticket", boom)
    with pytest.raises(RuntimeError):
        actions.add_reply(actor=people.alice.user, ticket=t, body="with file", attachments=[
            SimpleUploadedFile("log.txt", b"hello", content_type="text/plain")])
    stored = []
    for _root, _dirs, files in os.walk(settings.MEDIA_ROOT):
        stored += files
    assert stored == []


def test_internal_attachments_stay_internal(open_ticket, people):
    t = open_ticket()
    actions.add_internal_note(actor=people.tess.user, ticket=t, body="firewall dump",
                              attachments=[SimpleUploadedFile("fw.txt", b"rules")])
    att = t.attachments.get()
    assert not att.is_public
    assert not t.events.get(code=EventCode.ATTACHMENT_ADDED).is_public


def test_subscribers_hear_each_action_once_inside_its_transaction(open_ticket, people):
    from tierdesk.tickets import hooks

    heard = []
    hooks.subscribe("test", lambda h: heard.append((h.ticket.pk, sorted(h.codes()))))
    try:
        t = open_ticket()
        actions.add_reply(actor=people.tess.user, ticket=t, body="hi")
        with pytest.raises(ActionError):
            actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="")
    finally:
        hooks.unsubscribe("test")
    assert heard == [(t.pk, ["created"]), (t.pk, ["public_reply", "status_changed"])]
