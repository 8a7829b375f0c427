"""SQLite: the worker's loops of batch transactions leave the write lock to the web's writes.

A breach wave is minutes of batches (the sweep's, the follow-ups', the hook work's). On
SQLite each holds the one write lock; a web request waiting in SQLite's busy handler (it
sleeps up to 100 ms between tries) must find the lock free between batches, or it times
out ("database is locked"). These tests run a wave of batches that really hold the lock
in a thread, with a writer beside it that times its wait for the lock, on the test
database file; then the real wave, on two threads at once, done exactly once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection, connections, transaction
from support import T0

from tierdesk.automation import sweeps
from tierdesk.automation.models import Firing
from tierdesk.lib import sql
from tierdesk.notifications.models import Notification, OutboxMessage
from tierdesk.sla import rebuild
from tierdesk.tickets import hooks
from tierdesk.tickets.models import EventCode, HookWork, Ticket, TicketEvent

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's one write lock")]

BATCHES = 30
HOLD = 0.05  # seconds a batch holds the write lock
BOUND = 1.0  # seconds a writer may wait for it during the wave
# What a web request writes, as far as SQLite can tell (a commit that changes a page).
WRITE = ("INSERT INTO tickets_ticketcounter (id, last) VALUES (1, 100000) "
         "ON CONFLICT (id) DO UPDATE SET last = last + 1")


@pytest.fixture(autouse=True)
def _fresh_turns():
    """Each test starts as a worker does (the web not known to be idle)."""
    sql._turn.update(held=0.0, free_at=0.0, hold=sql.TURN_HOLD, version=None)


def hold_the_lock() -> None:
    """A batch's transaction: BEGIN IMMEDIATE takes the write lock (settings.py)."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE tickets_ticketcounter SET last = last")
        time.sleep(HOLD)


class Wave:
    """BATCHES fake batches, each holding the lock for HOLD, through one of the real loops."""

    def __init__(self) -> None:
        self.left = BATCHES

    def batch(self, *_args, **_kwargs) -> int:
        if self.left <= 0:
            return 0
        self.left -= 1
        hold_the_lock()
        return 1


def run_pending(monkeypatch, wave: Wave) -> None:
    monkeypatch.setattr(hooks, "run_batch", wave.batch)
    hooks.run_pending()


def follow_up(monkeypatch, wave: Wave) -> None:
    monkeypatch.setattr(sweeps, "follow_up_batch", lambda ids, **kw: wave.batch())
    sweeps.follow_up(list(range(BATCHES)), now=T0, batch=1)


def sweep(monkeypatch, wave: Wave) -> None:
    ids = iter(range(1, BATCHES + 1))
    monkeypatch.setattr(sweeps, "due_ticket_ids", lambda now, limit: [next(ids, 0)] * bool(
        wave.left))

    def sweep_batch(ids, *, now, report):
        wave.batch()
        return []

    monkeypatch.setattr(sweeps, "sweep_batch", sweep_batch)
    sweeps.sweep(now=T0)


def rebuild_rows(monkeypatch, wave: Wave) -> None:
    """The SLA rebuild's loop over real tickets, one a batch, its writes holding the lock."""
    monkeypatch.setattr(rebuild, "write_rows", lambda rows: time.sleep(HOLD))
    rebuild.rebuild(Ticket.objects.all(), now=T0 + timedelta(minutes=1), batch=1)


def autoclose(monkeypatch, wave: Wave) -> None:
    """Auto-close's loop: a transaction a resolved ticket."""
    from tierdesk.tickets import actions

    monkeypatch.setattr(actions, "close", lambda **kw: time.sleep(HOLD))
    sweeps.autoclose_resolved(now=T0 + timedelta(days=30))


@pytest.mark.parametrize("loop", [run_pending, follow_up, sweep, rebuild_rows, autoclose],
                         ids=lambda f: f.__name__)
def test_a_writer_gets_the_lock_between_a_wave_s_batches(loop, monkeypatch, open_ticket):
    if loop in (rebuild_rows, autoclose):
        from tierdesk.tickets.lifecycle import Status

        for i in range(BATCHES):
            open_ticket(f"ticket {i}")
        Ticket.objects.update(status=Status.RESOLVED, resolved_at=T0)  # for auto-close
    wave = Wave()
    failed: list[BaseException] = []

    def worker() -> None:
        try:
            loop(monkeypatch, wave)
        except BaseException as exc:  # reported by the test
            failed.append(exc)
        finally:
            connections.close_all()

    # A web request's connection: Python's sqlite3 with its busy handler (settings' timeout).
    web = sqlite3.connect(connection.settings_dict["NAME"], timeout=20, isolation_level=None)
    thread = threading.Thread(target=worker)
    started = time.monotonic()
    thread.start()
    waits: list[float] = []
    try:
        time.sleep(0.1)
        while thread.is_alive():
            t = time.monotonic()
            web.execute("BEGIN IMMEDIATE")
            waits.append(time.monotonic() - t)
            web.execute(WRITE)
            web.execute("COMMIT")
            time.sleep(0.1)
    finally:
        thread.join()
        web.close()
    assert not failed, failed
    wave_seconds = time.monotonic() - started
    assert wave_seconds >= BATCHES * HOLD  # the wave did hold the lock that long
    assert max(waits) < BOUND, (f"a writer waited {max(waits):.2f} s for the lock during a "
                                f"{wave_seconds:.1f} s wave: {[round(w, 2) for w in waits]}")
    assert len(waits) >= 3, waits  # it wrote again and again during the wave


def test_gaps_nobody_uses_come_less_often_until_one_is_used(monkeypatch):
    """A worker alone (the web idle) loses little to gaps: each unused one doubles the
    hold, up to TURN_HOLD_IDLE; a write in a gap brings it back to TURN_HOLD."""
    gaps: list[float] = []
    real_sleep = time.sleep
    def clock(sleep):  # lib.sql's own time module
        return SimpleNamespace(monotonic=time.monotonic, sleep=sleep)

    monkeypatch.setattr(sql, "time", clock(lambda s: (gaps.append(s), real_sleep(s))))
    wave = Wave()
    wave.left = 60  # 3 s of batches, nobody else writing
    run_pending(monkeypatch, wave)
    assert sql._turn["hold"] == sql.TURN_HOLD_IDLE
    assert 2 <= len(gaps) <= 3, gaps  # after 0.5 s, 1 s, 2 s of batches (not six)
    web = sqlite3.connect(connection.settings_dict["NAME"], timeout=20, isolation_level=None)
    try:
        wave.left = 60
        gaps.clear()

        def write_in_the_gaps(s: float) -> None:
            gaps.append(s)
            web.execute("BEGIN IMMEDIATE")
            web.execute(WRITE)
            web.execute("COMMIT")
            real_sleep(s)

        monkeypatch.setattr(sql, "time", clock(write_in_the_gaps))
        run_pending(monkeypatch, wave)
    finally:
        web.close()
    assert sql._turn["hold"] == sql.TURN_HOLD
    assert len(gaps) >= 4, gaps  # every half second again


# ----------------------------------------------------------- the real wave, exactly once


def test_a_wave_on_two_threads_takes_every_step_and_its_follow_up_once(
        open_ticket, people, monkeypatch):
    """The sweep, the follow-ups and the hook work, each loop on two threads at once (the
    worker's two), taking turns: every step claimed once, followed up once, told once."""
    from tierdesk.automation.install import install_rules
    from tierdesk.automation.schedule import _compiled
    from tierdesk.sla.policyfile import load_preset

    class _Report:
        created: list[str] = []
        changed: list[str] = []

    install_rules(load_preset("default"), _Report())
    _compiled.clear()
    monkeypatch.setattr(hooks, "_kick", lambda: None)  # the threads run the hook work
    monkeypatch.setattr(sweeps, "FOLLOW_BATCH_SQLITE", 7)  # many follow-up batches
    tickets = [open_ticket(f"wave {i}") for i in range(24)]
    hooks.run_pending()  # the creations heard
    now = T0 + timedelta(days=3)  # every target breached
    failed: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        try:
            barrier.wait()
            sweeps.sweep(now=now, batch=5, follow=False)
            sweeps.follow_up_pending(now=now, older_than=timedelta(0))
            hooks.run_pending(limit=4)
        except BaseException as exc:  # reported by the test
            failed.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failed, failed
    # Whatever one thread left when the other finished its loops, taken now: nothing.
    assert sweeps.sweep(now=now, follow=False).steps == {}
    assert sweeps.follow_up_pending(now=now, older_than=timedelta(0)) == 0
    assert hooks.run_pending() == 0

    ids = [t.pk for t in tickets]
    firings = list(Firing.objects.filter(ticket_id__in=ids).values_list(
        "ticket_id", "target", "kind", "cycle", "done_at"))
    breaches = [f for f in firings if f[2] == "breach"]
    assert len(breaches) >= 2 * len(ids)  # first response and resolution plan at least
    assert all(f[4] is not None for f in firings), "a follow-up left undone"
    events = TicketEvent.objects.filter(ticket_id__in=ids, code=EventCode.SLA_BREACHED)
    assert sorted(events.values_list("payload__step", flat=True)) == sorted(
        Firing.objects.filter(ticket_id__in=ids, kind="breach").values_list("pk", flat=True))
    told = list(Notification.objects.filter(kind="sla_breached").values_list(
        "ticket_id", "recipient_id", "key"))
    assert len(told) == len(set(told)) == len(breaches)  # the team lead, once a breach
    mails = [m for m in OutboxMessage.objects.filter(ticket_id__in=ids)
             if m.headers.get("X-Tierdesk-Kind") == "sla_breached"]
    assert len(mails) == len(breaches)
    assert not HookWork.objects.exists()
