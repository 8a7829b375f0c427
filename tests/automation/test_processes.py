"""Real processes: two sweeps at once, sweeps killed with SIGKILL, and two Huey consumers on
Redis. Every step is taken exactly once and every notification written exactly once.

These start `python -m tierdesk ...` against the test database, so they use
`transactional_db` (the rows must be committed for other processes to see them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from support import kill_part_way, stop

from tierdesk.automation.models import Firing
from tierdesk.lib import clock
from tierdesk.notifications.models import Notification, OutboxMessage
from tierdesk.tickets.models import TicketEvent

pytestmark = [pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    host, port = s["HOST"] or "127.0.0.1", s["PORT"] or 5432
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{host}:{port}/{s['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HUEY_IMMEDIATE")}
    env.update({"DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "tierdesk.settings",
                "EMAIL_URL": "dummymail://", "HUEY_IMMEDIATE": "true", "LOG_LEVEL": "WARNING",
                **extra})
    return env


def start(*argv: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tierdesk", *argv],  # noqa: S603 - our own command
                            env=child_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out
    return out


def make_tickets(open_ticket, n: int, at):
    return [open_ticket(f"ticket {i}", at=at) for i in range(n)]


def assert_exactly_once(tickets, lead):
    """One warning per ticket on the timeline, one claim, one notice and one mail to the lead."""
    ids = [t.pk for t in tickets]
    warnings = list(TicketEvent.objects.filter(ticket_id__in=ids, code="sla_warning")
                    .values_list("ticket_id", flat=True))
    assert sorted(warnings) == sorted(ids), "a warning missing or repeated"
    firings = Firing.objects.filter(ticket_id__in=ids)
    assert firings.count() == len(ids) and not firings.filter(done_at__isnull=True).exists()
    notes = list(Notification.objects.filter(recipient=lead, kind="sla_warning")
                 .values_list("ticket_id", flat=True))
    assert sorted(notes) == sorted(ids), "a notification missing or repeated"
    mails = [m for m in OutboxMessage.objects.filter(to=[lead.email], ticket_id__in=ids)
             if m.headers.get("X-Tierdesk-Kind") == "sla_warning"]
    assert sorted(m.ticket_id for m in mails) == sorted(ids), "a mail missing or repeated"


def test_two_sweeps_at_once_take_each_step_once(open_ticket, people):
    created = clock.now() - timedelta(hours=7)  # the first response warned at 6 h, due at 8 h
    tickets = make_tickets(open_ticket, 30, created)
    at = (created + timedelta(hours=7)).isoformat()
    procs = [start("sweep", "--at", at, "--batch", "5") for _ in range(2)]
    outputs = [finish(p) for p in procs]
    assert_exactly_once(tickets, people.lea.user)
    assert sum(int(o.split(" tickets due")[0].split()[-1]) for o in outputs) >= 30, outputs


def test_a_sweep_killed_mid_way_and_started_again_misses_and_repeats_nothing(open_ticket, people):
    created = clock.now() - timedelta(hours=7)
    tickets = make_tickets(open_ticket, 40, created)
    ids = [t.pk for t in tickets]
    at = (created + timedelta(hours=7)).isoformat()
    kills = 0
    for _attempt in range(4):
        proc = start("sweep", "--at", at, "--batch", "2")
        # Kill it once some of its batches have committed and before all have.
        def part_way(kills=kills):
            done = Firing.objects.filter(ticket_id__in=ids).count()
            return 0 < done < len(ids) and done >= 4 * (kills + 1)

        if not kill_part_way(proc, part_way):
            break
        kills += 1
    assert kills >= 1, "the sweep finished before it could be killed"
    partial = Firing.objects.filter(ticket_id__in=ids).count()
    assert 0 < partial <= len(ids)
    finish(start("sweep", "--at", at))
    assert_exactly_once(tickets, people.lea.user)


# --------------------------------------------------------------------------- Huey on Redis


def redis_url() -> str:
    url = os.environ.get("REDIS_URL_FOR_TESTS", "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but REDIS_URL_FOR_TESTS is unset: .ci/run starts Redis and "
                        "exports it; this test must run in CI")
        pytest.skip("REDIS_URL_FOR_TESTS is unset (`bash .ci/run` with TIERDESK_SERVICES=1 "
                    "starts Redis): the two-consumer Redis test needs a real Redis")
    # A database of its own, emptied, so that no other run's tasks are in the way.
    return url.rsplit("/", 1)[0] + "/13"


@pytest.mark.services
def test_two_consumers_on_redis_one_killed_take_each_step_once(open_ticket, people):
    import redis

    url = redis_url()
    redis.Redis.from_url(url).flushdb()
    created = clock.now() - timedelta(hours=7)
    tickets = make_tickets(open_ticket, 30, created)
    ids = [t.pk for t in tickets]
    env = {"REDIS_URL": url, "HUEY_IMMEDIATE": "false", "WORKER_THREADS": "2"}
    first = start("worker", **env)
    second = start("worker", "--no-periodic", **env)
    procs = [first, second]
    try:
        enqueue = ("from tierdesk.automation.tasks import sla_sweep\n"
                   "for _ in range(4): sla_sweep()\n")
        finish(start("shell", "-c", enqueue, **env))
        # Kill the first consumer as soon as the work has started, then start it again.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not Firing.objects.filter(ticket_id__in=ids).exists():
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        procs.append(start("worker", **env))
        finish(start("shell", "-c", enqueue, **env))
        # Every step claimed (stage 1), then a little while for the queued follow-ups.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and \
                Firing.objects.filter(ticket_id__in=ids).count() < len(ids):
            time.sleep(0.2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and \
                Firing.objects.filter(ticket_id__in=ids, done_at__isnull=True).exists():
            time.sleep(0.2)
        # A follow-up lost with the killed consumer is taken by the periodic retry; run it
        # now rather than wait for the next minute.
        finish(start("shell", "-c", "from tierdesk.automation import sweeps\n"
                     "from tierdesk.lib import clock\n"
                     "from datetime import timedelta\n"
                     "sweeps.follow_up_pending(now=clock.now(), older_than=timedelta(0))\n"))
    finally:
        stop(procs)
    assert_exactly_once(tickets, people.lea.user)


# --------------------------------------------------------------------------- one scheduler


def first_line(proc: subprocess.Popen, timeout: float = 60) -> str:
    import threading

    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else ""


def test_only_one_consumer_schedules_the_periodic_tasks(db):
    """A second consumer started without --no-periodic runs with periodic tasks off; once
    the scheduler is killed (SIGKILL), the next consumer started takes its place."""
    procs = []
    try:
        first = start("worker", HUEY_IMMEDIATE="false")
        procs.append(first)
        assert "this consumer schedules the periodic tasks" in first_line(first)
        second = start("worker", HUEY_IMMEDIATE="false")
        procs.append(second)
        assert "another consumer schedules the periodic tasks" in first_line(second)
        third = start("worker", "--no-periodic", HUEY_IMMEDIATE="false")
        procs.append(third)
        assert "periodic tasks off (--no-periodic)" in first_line(third)
        first.send_signal(signal.SIGKILL)
        first.wait()
        fourth = start("worker", HUEY_IMMEDIATE="false")
        procs.append(fourth)
        assert "this consumer schedules the periodic tasks" in first_line(fourth)
    finally:
        stop(procs)


def test_a_follow_up_killed_mid_way_and_started_again_misses_and_repeats_nothing(
        open_ticket, people):
    """Stage 2, batched: steps are claimed and told many per transaction. A consumer killed
    with SIGKILL between two of its transactions loses nothing and repeats nothing."""
    from tierdesk.automation import sweeps

    created = clock.now() - timedelta(hours=7)
    tickets = make_tickets(open_ticket, 40, created)
    ids = [t.pk for t in tickets]
    at = created + timedelta(hours=7)
    report = sweeps.sweep(now=at, follow=False)  # stage 1 only, committed
    assert report.steps == {"warning": 40}
    pending = Firing.objects.filter(ticket_id__in=ids, done_at__isnull=True)
    kills = 0
    for _attempt in range(4):
        proc = start("sweep", "--at", at.isoformat(), "--follow-batch", "3")
        def part_way(kills=kills):
            left = pending.count()
            return 0 < left < len(ids) and left <= len(ids) - 6 * (kills + 1)

        if not kill_part_way(proc, part_way):
            break
        kills += 1
    assert kills >= 1, "the follow-up finished before it could be killed"
    assert 0 < pending.count() < len(ids)
    finish(start("sweep", "--at", at.isoformat(), "--follow-batch", "3"))
    assert_exactly_once(tickets, people.lea.user)
