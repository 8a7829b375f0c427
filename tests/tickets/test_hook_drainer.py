"""The worker's drainer (tickets.hooks.Drainer): the hooks' deferred work heard on a thread
of the worker's own, not behind mail delivery in the task queue — on its own look, when a
task wakes it, by two at once, each ticket exactly once; and `tierdesk worker` runs one.

Transactional tests: the drainer's thread has its own connection and sees committed rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from tickets.test_hook_work import assert_heard_once, create, database_url, desk_with_rules, held
from tierdesk.tickets import hooks, tasks
from tierdesk.tickets.models import HookWork

pytestmark = [pytest.mark.django_db(transaction=True)]
__all__ = ["desk_with_rules", "held"]  # fixtures


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def drainers():
    started: list[hooks.Drainer] = []

    def start(**kwargs) -> hooks.Drainer:
        drainer = hooks.Drainer(**kwargs).start()
        started.append(drainer)
        return drainer

    yield start
    for drainer in started:
        drainer.stop()
    assert hooks.drainer() is None


def test_it_finds_the_work_on_its_own_look(desk_with_rules, held, drainers):
    """No task reaches it (the queue's threads busy): it looks every `gather` seconds."""
    tickets = create(desk_with_rules, 3)
    assert HookWork.objects.count() == 3
    drainers(gather=0.05)
    assert wait_until(lambda: not HookWork.objects.exists(), 10)
    assert_heard_once(tickets)


def test_a_task_wakes_it_instead_of_draining_on_the_queue_s_thread(desk_with_rules, held,
                                                                    drainers):
    drainer = drainers(gather=60, look=60)  # it looked once (nothing due), waits a minute
    time.sleep(0.2)
    assert hooks.drainer() is drainer
    tickets = create(desk_with_rules, 2)
    assert tasks.run_hooks.call_local() == 0  # the task heard nothing itself...
    assert wait_until(lambda: not HookWork.objects.exists(), 10)  # ...it woke the drainer
    assert_heard_once(tickets)


def test_a_backlog_goes_batch_after_batch_then_short_batches_gather(desk_with_rules, held,
                                                                   drainers, monkeypatch):
    monkeypatch.setattr(hooks, "BATCH", 4)
    claimed: list[int] = []
    run_batch = hooks.run_batch

    def counted(*, limit: int = hooks.BATCH, **kwargs) -> int:
        claimed.append(run_batch(limit=limit, **kwargs))
        return claimed[-1]

    monkeypatch.setattr(hooks, "run_batch", counted)
    tickets = create(desk_with_rules, 10)
    started = time.monotonic()
    drainers(gather=1.5)
    assert wait_until(lambda: sum(claimed) == 10, 10)
    # Full batches one after another: the whole backlog well before one `gather`.
    assert claimed == [4, 4, 2] and time.monotonic() - started < 1.5
    assert_heard_once(tickets)
    later = create(desk_with_rules, 1)  # after a short batch, it waits before it claims
    time.sleep(0.5)
    assert HookWork.objects.count() == 1
    assert wait_until(lambda: not HookWork.objects.exists(), 10)
    assert_heard_once([*tickets, *later])


def test_two_drainers_hear_each_ticket_once(desk_with_rules, held, drainers, monkeypatch):
    monkeypatch.setattr(hooks, "BATCH", 3)
    tickets = create(desk_with_rules, 30)
    drainers(gather=0.01)
    drainers(gather=0.01)
    assert wait_until(lambda: not HookWork.objects.exists(), 30)
    assert_heard_once(tickets)


def test_a_retry_backing_off_is_not_due(desk_with_rules, held):
    """The drainer's look answers what a claim would take: not a row backing off, nor a
    ticket's later row behind it (else it would take the write lock for nothing)."""
    [t] = create(desk_with_rules, 1)
    assert hooks._due()
    row = HookWork.objects.get()
    HookWork.objects.filter(pk=row.pk).update(due_at=row.due_at.replace(year=2099), attempts=1)
    HookWork.objects.create(ticket=t, events=row.events, created_at=row.created_at,
                            due_at=row.created_at)
    assert not hooks._due()
    assert hooks.run_batch() == 0


def niceness(pid: int) -> list[int]:
    """Each thread's nice value (Linux: a thread's own)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/stat") as f:
            out.append(int(f.read().rsplit(")", 1)[1].split()[16]))
    return sorted(out)


def test_the_worker_command_hears_the_work_without_the_queue(desk_with_rules, held, tmp_path):
    """`tierdesk worker` with its queue's tasks never reaching it (none queued: `held`);
    its queue's threads run WORKER_NICE lower, its drainer (the write lock's holder) not."""
    tickets = create(desk_with_rules, 5)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "HUEY_IMMEDIATE")}
    env.update({"DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "tierdesk.settings",
                "EMAIL_URL": "dummymail://", "LOG_LEVEL": "WARNING", "WORKER_NICE": "5",
                "WORKER_THREADS": "2", "TIERDESK_VAR_DIR": str(tmp_path)})
    base = os.getpriority(os.PRIO_PROCESS, 0)
    proc = subprocess.Popen([sys.executable, "-m", "tierdesk", "worker", "--no-periodic"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: not HookWork.objects.exists(), 60)
        # the main thread, the consumer's scheduler and two workers lowered; the drainer not
        assert wait_until(lambda: len(niceness(proc.pid)) >= 5, 10)
        nice = niceness(proc.pid)
        assert nice.count(min(base + 5, 19)) >= 4 and base in nice, nice
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert_heard_once(tickets)


def test_the_worker_lowers_the_queue_s_threads_not_the_drainer_s(settings, monkeypatch):
    """Run in a thread of its own (nice is a thread's on Linux: the test's stays as it is)."""
    from tierdesk.automation.management.commands import worker

    settings.WORKER_NICE, settings.HOOKS_DRAINER = 5, True
    seen: dict[str, int] = {}

    def run_huey(*argv):  # the consumer, as the command would start it: what runs at what
        drainer = hooks.drainer()
        assert drainer is not None
        seen["queue"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        seen["drainer"] = os.getpriority(os.PRIO_PROCESS, drainer._thread.native_id)

    monkeypatch.setattr(worker, "call_command", lambda name, *argv: run_huey(*argv))
    monkeypatch.setattr(worker.scheduler, "acquire", lambda: False)
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=lambda: worker.Command().handle(no_periodic=True))
    thread.start()
    thread.join(60)
    assert seen == {"queue": min(base + 5, 19), "drainer": base}
    assert hooks.drainer() is None  # stopped when the consumer returned


def test_on_sqlite_a_backlog_leaves_the_write_lock_free_between_batches(desk_with_rules, held,
                                                                      drainers, monkeypatch):
    """Back-to-back batches would starve the web's writers, whose busy handler tries again
    every 100 ms at most: from the BACKLOG-th full batch in a row the drainer leaves the
    lock free longer than that (PostgreSQL's row locks need no pause)."""
    from django.db import connection

    monkeypatch.setattr(hooks, "BATCH", 3)
    spans: list[tuple[float, float, int]] = []
    run_batch = hooks.run_batch

    def timed(**kwargs) -> int:
        start = time.monotonic()
        n = run_batch(**kwargs)
        spans.append((start, time.monotonic(), n))
        return n

    monkeypatch.setattr(hooks, "run_batch", timed)
    monkeypatch.setattr(hooks, "BACKLOG", 2)
    tickets = create(desk_with_rules, 12)
    drainers(gather=5)
    assert wait_until(lambda: sum(n for _s, _e, n in spans) == 12, 20)
    assert [n for _s, _e, n in spans] == [3, 3, 3, 3]
    gaps = [spans[i + 1][0] - spans[i][1] for i in range(3)]
    if connection.vendor == "sqlite":
        assert min(gaps[1:]) >= hooks.YIELD > 0.1, gaps  # from the second full batch on
    else:
        assert max(gaps) < 1.0, gaps  # at once (well before the 5 s gather)
    assert_heard_once(tickets)
