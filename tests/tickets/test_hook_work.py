"""The subscribers' deferred work (tickets.hooks, the production mode): recorded by the
action in its transaction, heard after the commit by the worker in batches, exactly once —
with two consumers at once and with a consumer killed by SIGKILL mid-batch (real processes).

Transactional tests: the rows must be committed for other processes to see them, and
deferred mode only runs after a commit.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.db import connection, transaction
from support import kill_part_way

from tierdesk.api.models import WebhookDelivery, WebhookSubscription
from tierdesk.lib import clock
from tierdesk.notifications.models import OutboxMessage
from tierdesk.reports.models import TicketMeasure
from tierdesk.tickets import actions, hooks
from tierdesk.tickets.models import EventCode, HookWork, Ticket, TicketEvent

pytestmark = [pytest.mark.django_db(transaction=True)]
RULE = "Tier 1 takes new tickets"


@pytest.fixture
def desk_with_rules(people):
    """The shipped rules (new tickets are routed), tess in the routing pool, and an agent's
    webhook subscription to ticket.created: each leaves a mark per hearing that is never
    deduplicated (a rule-applied event, a delivery with a fresh id)."""
    from tierdesk.automation.install import install_rules
    from tierdesk.automation.schedule import _compiled
    from tierdesk.sla.policyfile import load_preset

    class _Report:
        created: list[str] = []
        changed: list[str] = []

    install_rules(load_preset("default"), _Report())
    _compiled.clear()
    WebhookSubscription.objects.create(owner=people.max.user, url="http://127.0.0.1:9/in",
                                       events=["ticket.created"], secret="s" * 40,
                                       created_at=clock.now())
    return people


@pytest.fixture
def held(monkeypatch):
    """Work is recorded but no task is queued: the test (or its processes) runs it."""
    monkeypatch.setattr(hooks, "_kick", lambda: None)


def create(people, n: int) -> list[Ticket]:
    return [actions.create_ticket(actor=people.alice.user, new=actions.NewTicket(
        requester=people.alice, subject=f"ticket {i}", description="It broke."))
        for i in range(n)]


def assert_heard_once(tickets: list[Ticket]) -> None:
    """Every subscriber heard every ticket's creation, once."""
    ids = sorted(t.pk for t in tickets)
    assert not HookWork.objects.filter(ticket_id__in=ids).exists(), "work left pending"

    def per_ticket(qs) -> list[int]:
        return sorted(qs.values_list("ticket_id", flat=True))

    applied = TicketEvent.objects.filter(ticket_id__in=ids, code=EventCode.AUTO_ESCALATED,
                                         payload__rule=RULE)
    assert per_ticket(applied) == ids, "automation: a rule run missing or repeated"
    assigned = TicketEvent.objects.filter(ticket_id__in=ids, code=EventCode.ASSIGNED)
    assert per_ticket(assigned) == ids, "routing missing or repeated"
    created = WebhookDelivery.objects.filter(ticket_id__in=ids, event_type="ticket.created")
    assert per_ticket(created) == ids, "webhooks: a delivery missing or repeated"
    acks = OutboxMessage.objects.filter(ticket_id__in=ids, key__startswith="mail:created:")
    assert per_ticket(acks) == ids, "mail: an acknowledgement missing"
    assert per_ticket(TicketMeasure.objects.filter(ticket_id__in=ids)) == ids


# ----------------------------------------------------------------------------- in process


def test_the_action_only_records_the_work_and_the_worker_does_it(desk_with_rules, held):
    people = desk_with_rules
    [t] = create(people, 1)
    work = HookWork.objects.get()
    assert work.ticket_id == t.pk
    assert work.events == list(t.events.order_by("pk").values_list("pk", flat=True))
    t.refresh_from_db()
    assert t.assignee_id is None and not OutboxMessage.objects.exists()  # nothing yet
    assert hooks.run_pending() == 1
    t.refresh_from_db()
    assert t.assignee_id == people.tess.pk
    assert_heard_once([t])
    assert hooks.run_pending() == 0  # and never again


def test_after_commit_the_queue_runs_it_and_a_rolled_back_action_leaves_nothing(desk_with_rules):
    people = desk_with_rules
    [t] = create(people, 1)  # the immediate queue ran the work right after the commit
    assert_heard_once([t])
    with pytest.raises(RuntimeError), transaction.atomic():
        create(people, 1)
        assert HookWork.objects.count() == 1
        raise RuntimeError("the caller fails after the action")
    assert not HookWork.objects.exists() and Ticket.objects.count() == 1


def test_deferred_and_inline_hear_the_same(desk_with_rules, held, settings):
    people = desk_with_rules

    def effects(t: Ticket) -> tuple:
        t.refresh_from_db()
        codes = sorted(t.events.values_list("code", flat=True))
        mails = sorted(key.split(":")[1] for key in OutboxMessage.objects.filter(
            ticket=t, kind=OutboxMessage.Kind.EMAIL).values_list("key", flat=True))
        return (t.assignee_id, t.tier, codes, mails,
                WebhookDelivery.objects.filter(ticket=t).count())

    [deferred] = create(people, 1)
    hooks.run_pending()
    settings.TICKET_HOOKS_INLINE = True
    [inline] = create(people, 1)
    assert not HookWork.objects.exists()
    # The same agent takes both only if the first one is not counted: compare the rest.
    assert effects(deferred)[1:] == effects(inline)[1:]


def test_a_ticket_s_actions_are_heard_in_order_one_batch_each(desk_with_rules, held):
    people = desk_with_rules
    heard: list[tuple[int, list[str]]] = []
    hooks.subscribe("probe", lambda h: heard.append((h.ticket.pk, sorted(h.codes()))))
    try:
        t, u = create(people, 2)
        actions.add_reply(actor=people.tess.user, ticket=t, body="On it.")
        assert HookWork.objects.count() == 3
        assert hooks.run_batch() == 2  # t's creation and u's: t's reply waits for the next
        assert hooks.run_batch() == 1
    finally:
        hooks.unsubscribe("probe")
    assert heard == [(t.pk, ["created"]), (u.pk, ["created"]),
                     (t.pk, ["public_reply", "status_changed"])]


def test_a_failing_subscriber_retries_later_and_holds_no_one_else(desk_with_rules, held):
    people = desk_with_rules
    t, u = create(people, 2)

    def fail_on_t(happened):
        if happened.ticket.pk == t.pk:
            raise ValueError("boom")

    hooks.subscribe("fragile", fail_on_t)
    try:
        assert hooks.run_pending() == 2
    finally:
        hooks.unsubscribe("fragile")
    assert_heard_once([u])  # u's work committed without t's
    again = HookWork.objects.get()
    assert (again.ticket_id, again.attempts, again.last_error) == (t.pk, 1, "boom")
    assert again.due_at > clock.now()  # backed off: not taken at once
    assert hooks.run_pending() == 0
    assert not TicketEvent.objects.filter(ticket=t, code=EventCode.ASSIGNED).exists()
    HookWork.objects.update(due_at=clock.now())
    assert hooks.run_pending() == 1
    assert_heard_once([t, u])


def test_the_inbound_mail_travels_with_the_work(desk_with_rules, held):
    """An automated sender's mail opening a ticket is never answered, even hours later."""
    from tierdesk.mail import outbound

    people = desk_with_rules
    facts = outbound.Inbound(sender=people.alice.user.email, automated=True,
                             message_id="robot.1@acme.test")
    with outbound.answering(facts):
        [t] = create(people, 1)
    assert HookWork.objects.get().context == {"mail.inbound": {
        "sender": "alice@acme.test", "automated": True, "message_id": "robot.1@acme.test"}}
    hooks.run_pending()
    assert not OutboxMessage.objects.filter(ticket=t, key__startswith="mail:created:").exists()
    assert TicketEvent.objects.filter(ticket=t, code=EventCode.ASSIGNED).exists()


# ---------------------------------------------------------------------------- processes


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    host, port = s["HOST"] or "127.0.0.1", s["PORT"] or 5432
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{host}:{port}/{s['NAME']}"


def start(*argv: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HUEY_IMMEDIATE")}
    env.update({"DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "tierdesk.settings",
                "EMAIL_URL": "dummymail://", "HUEY_IMMEDIATE": "true", "LOG_LEVEL": "WARNING"})
    return subprocess.Popen([sys.executable, "-m", "tierdesk", "hooks", *argv],  # noqa: S603
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    return out


def test_two_consumers_at_once_hear_each_ticket_once(desk_with_rules, held):
    tickets = create(desk_with_rules, 40)
    assert HookWork.objects.count() == 40
    outputs = [finish(p) for p in [start("run", "--batch", "3") for _ in range(2)]]
    heard = [int(re.search(r"(\d+) tickets' events heard", o).group(1)) for o in outputs]
    assert sum(heard) == 40, outputs
    assert_heard_once(tickets)


def test_a_consumer_killed_mid_batch_loses_and_repeats_nothing(desk_with_rules, held):
    tickets = create(desk_with_rules, 60)
    kills = 0
    for _attempt in range(4):
        proc = start("run", "--batch", "4")
        # Kill it once some batches have committed and before all have (it is then, most
        # likely, inside a batch's transaction).
        def part_way(kills=kills):
            return 0 < HookWork.objects.count() <= 60 - 8 * (kills + 1)

        if not kill_part_way(proc, part_way, timeout=120, poll=0.01):
            break
        kills += 1
    assert kills >= 1, "the consumer finished before it could be killed"
    assert 0 < HookWork.objects.count() < 60
    finish(start("run"))
    assert_heard_once(tickets)
