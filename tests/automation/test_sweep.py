"""The SLA sweep: warnings, breaches and time rules fire once, from an index, in bulk."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from support import T0

from tests.automation.conftest import sweep
from tierdesk.automation import sweeps
from tierdesk.automation.models import Alarm, Firing
from tierdesk.notifications.models import Notification, OutboxMessage
from tierdesk.tickets import actions
from tierdesk.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def codes(ticket, *only):
    qs = ticket.events.order_by("at", "id")
    return [c for c in qs.values_list("code", flat=True) if not only or c in only]


def minutes(n):
    return T0 + timedelta(minutes=n)


def test_warning_at_75_percent_then_breach_each_once(open_ticket, people):
    t = open_ticket()  # medium on 24x7: first response 480 min -> warning at 360
    assert Alarm.objects.get(ticket=t).at == minutes(360)
    assert t.next_due_at == minutes(480)
    assert sweep(minutes(359)).steps == {}
    report = sweep(minutes(360))
    assert report.steps == {"warning": 1}
    assert codes(t, "sla_warning") == ["sla_warning"]
    # Nobody is assigned: the team lead hears of it, in the console and by mail.
    (note,) = Notification.objects.filter(kind="sla_warning")
    assert note.recipient == people.lea.user and "First response" in note.title
    assert OutboxMessage.objects.filter(to=["lea@helpful.test"]).count() == 1
    # Again: nothing new.
    assert sweep(minutes(361)).steps == {}
    assert sweep(minutes(420)).steps == {}
    t.refresh_from_db()
    assert t.next_due_at == minutes(480)
    assert sweep(minutes(480)).steps == {"breach": 1}
    assert sweep(minutes(481)).steps == {}
    t.refresh_from_db()
    assert codes(t, "sla_warning", "sla_breached") == ["sla_warning", "sla_breached"]
    # The deadline moved on to the next target (resolution plan, 1440 min).
    assert t.next_due_at == minutes(1440)
    assert Notification.objects.filter(kind="sla_breached", recipient=people.lea.user).count() == 1


def test_a_late_sweep_announces_the_breach_not_the_warning(open_ticket):
    t = open_ticket()
    assert sweep(minutes(1100)).steps == {"breach": 1, "warning": 1}  # two targets
    t.refresh_from_db()
    rows = dict(t.events.filter(code__in=["sla_warning", "sla_breached"])
                .values_list("payload__target", "code"))
    assert rows == {"first_response": "sla_breached", "resolution_plan": "sla_warning"}


def test_the_warning_share_is_configurable(open_ticket, settings):
    settings.SLA_WARNING_SHARE = 0.5
    t = open_ticket()
    assert Alarm.objects.get(ticket=t).at == minutes(240)
    assert sweep(minutes(240)).steps == {"warning": 1}


def test_an_answered_ticket_is_not_warned(open_ticket, people):
    t = open_ticket()
    actions.add_reply(actor=people.tess.user, ticket=t, body="On it.", at=minutes(10))
    # first response met; the resolution plan warns at 1080
    assert Alarm.objects.get(ticket=t).at == minutes(1080)
    assert sweep(minutes(400)).steps == {}


def test_a_reopened_ticket_gets_a_new_cycle(open_ticket, people):
    t = open_ticket()
    sweep(minutes(480))
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="Done", at=minutes(500))
    assert Alarm.objects.get(ticket=t).at is None
    actions.reopen(actor=people.tess.user, ticket=t, reason="again", at=minutes(600))
    t.refresh_from_db()
    assert t.reopen_count == 1
    # The resolution clock runs again; its warning and breach can fire in the new cycle.
    assert sweep(minutes(3 * 1440)).steps.get("warning", 0) >= 1


def test_the_sweep_reads_only_due_tickets(open_ticket, monkeypatch):
    from tierdesk.tickets import hooks

    # Count our queries only, not those of other apps' hooks.
    monkeypatch.setattr(hooks, "_subscribers",
                        [s for s in hooks._subscribers if s[0] == "automation"])
    due = open_ticket("due")
    with CaptureQueriesContext(connection) as few:
        sweeps.sweep(now=minutes(-1), follow=False)
    for i in range(30):
        open_ticket(f"later {i}", at=T0 + timedelta(days=2))
    with CaptureQueriesContext(connection) as idle:
        sweeps.sweep(now=minutes(-1), follow=False)
    assert len(idle) == len(few) == 2  # two index range scans, nothing due
    with CaptureQueriesContext(connection) as one:
        report = sweeps.sweep(now=minutes(360), follow=False)
    assert report.tickets == 1 and report.steps == {"warning": 1}
    for i in range(10):
        open_ticket(f"due {i}")
    Firing.objects.all().delete()
    Ticket.objects.exclude(pk=due.pk).update(next_due_at=None)
    with CaptureQueriesContext(connection) as eleven:
        report = sweeps.sweep(now=minutes(360), follow=False)
    assert report.tickets == 10 and report.steps == {"warning": 10}
    # A batch costs the same number of queries for 1 or 10 tickets, but for the events
    # it records (one INSERT each).
    assert len(eleven) - len(one) <= 9 + 2
    for q in idle.captured_queries:
        assert "next_due_at" in q["sql"] or '"at"' in q["sql"]


def test_five_days_unresolved_goes_to_the_support_manager(open_ticket, rules):
    t = open_ticket()
    sweep(T0 + timedelta(days=5) - timedelta(minutes=1))
    t.refresh_from_db()
    assert t.assignee != rules.max
    sweep(T0 + timedelta(days=5))
    t.refresh_from_db()
    assert t.assignee == rules.max
    applied = t.events.filter(code="auto_escalated").values_list("payload__rule", flat=True)
    assert "Unresolved after five days" in list(applied)
    assert Notification.objects.filter(recipient=rules.max.user, ticket=t).count() == 1
    sweep(T0 + timedelta(days=6))
    assert list(t.events.filter(code="auto_escalated").values_list("payload__rule", flat=True)) \
        .count("Unresolved after five days") == 1


def test_a_critical_response_breach_goes_to_the_team_lead(open_ticket, rules, desk):
    t = open_ticket(priority=desk["critical"])
    actions.assign(actor=rules.tess.user, ticket=t, agent=rules.tess, at=minutes(1))
    sweep(minutes(60))
    lead_notes = Notification.objects.filter(recipient=rules.lea.user, ticket=t)
    assert lead_notes.count() == 1
    # The assignee hears of the breach too; the lead watches the ticket from now on.
    assert Notification.objects.filter(recipient=rules.tess.user, kind="sla_breached").count() == 1
    from tierdesk.automation.models import Watcher

    assert Watcher.objects.filter(ticket=t, user=rules.lea.user).exists()


def test_a_rule_that_fails_is_logged_and_the_others_still_run(open_ticket, people):
    from tierdesk.accounts.models import Team
    from tierdesk.automation.models import EscalationRule

    gone = Team.objects.create(name="Gone")
    EscalationRule.objects.create(name="Broken", when={"unresolved_for_days": 1},
                                  then={"assign_team": "Gone"})
    EscalationRule.objects.create(name="Works", when={"unresolved_for_days": 1},
                                  then={"notify": ["support_manager"]})
    gone.delete()  # the rule was valid when saved; it fails at run time
    t = open_ticket()
    other = open_ticket("second")
    sweep(T0 + timedelta(days=1))
    for ticket in (t, other):
        failed = ticket.events.filter(code="automation_failed")
        assert failed.count() == 1 and "Broken" in failed.get().body
        assert ticket.events.filter(code="auto_escalated", payload__rule="Works").count() == 1
    sweep(T0 + timedelta(days=2))
    assert t.events.filter(code="automation_failed").count() == 1


def test_a_ticket_that_cannot_be_evaluated_is_logged_once_and_the_others_go_on(
        open_ticket, monkeypatch):
    from tierdesk.sla import adapter

    bad, good = open_ticket("bad data"), open_ticket("fine")
    real = adapter.compute_row_values

    def compute(pk, *args, **kwargs):
        if pk == bad.pk:
            raise ValueError("corrupt timeline")
        return real(pk, *args, **kwargs)

    monkeypatch.setattr(adapter, "compute_row_values", compute)
    assert sweep(minutes(360)).steps == {"warning": 1}
    assert codes(good, "sla_warning") == ["sla_warning"]
    failed = bad.events.get(code="automation_failed")
    assert "corrupt timeline" in failed.body and not failed.is_public
    assert sweep(minutes(361)).steps == {}
    assert bad.events.filter(code="automation_failed").count() == 1  # logged once
    # Put right, its steps are taken (late, never lost).
    monkeypatch.setattr(adapter, "compute_row_values", real)
    assert sweep(minutes(362)).steps == {"warning": 1}
    assert codes(bad, "sla_warning") == ["sla_warning"]


def test_with_every_apps_hooks_a_sweep_costs_the_same_queries_for_2_or_12_tickets(open_ticket):
    """The sweep's steps are one action on many tickets: subscribers with a batch handler
    (reports' measures, webhooks) hear them all at once, in a fixed number of queries."""
    def due_sweep(n):
        for i in range(n):
            open_ticket(f"due {n}-{i}")
        with CaptureQueriesContext(connection) as queries:
            report = sweeps.sweep(now=minutes(360), follow=False)
        assert report.steps == {"warning": n}
        return len(queries)

    two = due_sweep(2)
    Ticket.objects.update(next_due_at=None)
    Alarm.objects.update(at=None)
    twelve = due_sweep(12)
    assert twelve - two <= 10  # one savepoint pair per ticket at most, from per-ticket hooks


def test_a_batch_subscriber_hears_all_tickets_at_once(open_ticket, monkeypatch):
    from tierdesk.tickets import hooks

    heard: list = []
    monkeypatch.setattr(hooks, "_subscribers",
                        [s for s in hooks._subscribers if s[0] == "automation"])
    monkeypatch.setattr(hooks, "_batch", {})
    hooks.subscribe("probe", lambda h: heard.append(("one", h.ticket.pk)),
                    batch=lambda hs: heard.append(("many", sorted(h.ticket.pk for h in hs))))
    tickets = [open_ticket(f"t{i}") for i in range(3)]
    heard.clear()
    sweeps.sweep(now=minutes(360), follow=False)
    assert heard == [("many", sorted(t.pk for t in tickets))]
    heard.clear()
    actions.add_internal_note(actor=None, ticket=tickets[0], body="one ticket", at=minutes(361))
    assert heard == [("one", tickets[0].pk)]


# --------------------------------------------------------------------------- stage 2, batched


def test_stage_2_costs_the_same_queries_for_2_or_12_steps(open_ticket, people):
    """A breach wave is told in bulk: claim, read, render, write — not one transaction and
    a dozen queries per step."""
    def follow(n):
        for i in range(n):
            open_ticket(f"wave {n}-{i}")
        report = sweeps.sweep(now=minutes(360), follow=False)
        assert report.steps == {"warning": n}
        with CaptureQueriesContext(connection) as queries:
            assert sweeps.follow_up(report.claimed, now=minutes(360)) == n
        return len(queries)

    two = follow(2)
    Ticket.objects.update(next_due_at=None)
    Alarm.objects.update(at=None)
    twelve = follow(12)
    assert twelve == two
    assert Notification.objects.filter(kind="sla_warning", recipient=people.lea.user).count() == 14
    assert OutboxMessage.objects.filter(to=["lea@helpful.test"]).count() == 14


def test_batched_stage_2_tells_what_one_step_at_a_time_tells(open_ticket, people, desk):
    """Same people, same texts, per language and zone, as `notify` one step at a time."""
    from tierdesk.automation.models import Watcher

    people.tess.user.language, people.tess.user.time_zone = "es", "America/Bogota"
    people.tess.user.save()
    spanish = open_ticket("en español")
    actions.assign(actor=people.lea.user, ticket=spanish, agent=people.tess, at=minutes(1))
    watched = open_ticket("watched")
    Watcher.objects.create(ticket=watched, user=people.tess.user, added_at=minutes(1))
    plain = open_ticket("nobody assigned")
    report = sweeps.sweep(now=minutes(360), follow=False)
    first, rest = report.claimed[:1], report.claimed[1:]
    sweeps.follow_up(first, now=minutes(360), batch=1)
    sweeps.follow_up(rest, now=minutes(360), batch=50)
    sweeps.follow_up(report.claimed, now=minutes(360))  # again: nothing more
    told = {(n.ticket_id, n.recipient_id): n
            for n in Notification.objects.filter(kind="sla_warning")}
    assert sorted(told) == sorted([(spanish.pk, people.tess.user.pk),
                                   (watched.pk, people.lea.user.pk),
                                   (watched.pk, people.tess.user.pk),
                                   (plain.pk, people.lea.user.pk)])
    es = told[(spanish.pk, people.tess.user.pk)]
    assert "Primera respuesta" in es.title or "primera respuesta" in es.title.lower(), es.title
    assert "America/Bogota" in es.body
    assert "First response" in told[(plain.pk, people.lea.user.pk)].title
    mails = [m for m in OutboxMessage.objects.order_by("pk")
             if m.headers.get("X-Tierdesk-Kind") == "sla_warning"]
    assert len(mails) == 4
    (mail,) = [m for m in mails if m.ticket_id == spanish.pk]
    assert mail.text == es.body and mail.to == [people.tess.user.email]
    assert not Firing.objects.filter(done_at__isnull=True).exists()


def test_a_failing_batch_is_taken_step_by_step_and_only_the_bad_step_fails(
        open_ticket, people, monkeypatch):
    from tierdesk.notifications import notifier

    tickets = [open_ticket(f"t{i}") for i in range(3)]
    report = sweeps.sweep(now=minutes(360), follow=False)
    real = notifier.notify_many

    def notify_many(notices, **kwargs):
        notices = list(notices)
        if any(n.ticket.pk == tickets[1].pk for n in notices):
            raise RuntimeError("template exploded")
        return real(notices, **kwargs)

    monkeypatch.setattr(sweeps, "notify_many", notify_many)
    assert sweeps.follow_up(report.claimed, now=minutes(360)) == 2
    assert not Firing.objects.filter(done_at__isnull=True).exists()
    bad = Firing.objects.get(ticket=tickets[1])
    assert bad.failed
    assert tickets[1].events.filter(code="automation_failed").count() == 1
    assert sorted(Notification.objects.values_list("ticket_id", flat=True)) == sorted(
        [tickets[0].pk, tickets[2].pk])
