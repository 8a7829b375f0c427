"""The sweep's batches run without the cyclic garbage collector, and leave it as found."""

from __future__ import annotations

import gc
import threading

import pytest

from tierdesk.automation import sweeps
from tierdesk.automation.bulk import gc_paused


def test_the_collector_is_paused_inside_and_restored_after_even_on_an_error():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested (stage 2 queued inside stage 1, immediate mode)
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("a batch fails")
    assert gc.isenabled()


def test_a_collector_switched_off_by_someone_else_stays_off():
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_two_threads_overlapping_leave_it_on_when_the_last_one_ends():
    inside, release = threading.Event(), threading.Event()

    def worker():
        with gc_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(5)
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's batch still runs
    release.set()
    thread.join(5)
    assert gc.isenabled()


def test_the_sweep_and_its_follow_up_run_their_batches_paused(monkeypatch):
    seen: list[tuple[str, bool]] = []
    monkeypatch.setattr(sweeps, "due_ticket_ids", lambda now, limit: [1] if not seen else [])
    monkeypatch.setattr(sweeps, "sweep_batch",
                        lambda ids, now, report: seen.append(("sweep", gc.isenabled())) or [])
    monkeypatch.setattr(sweeps, "follow_up_batch",
                        lambda ids, now: seen.append(("follow", gc.isenabled())) or len(ids))
    sweeps.sweep(now=None, follow=False)  # type: ignore[arg-type]
    assert sweeps.follow_up([1, 2, 3], now=None) == 3  # type: ignore[arg-type]
    assert seen == [("sweep", False), ("follow", False)]
    assert gc.isenabled()
