"""`tierdesk worker` with every batch of the hooks' deferred work timed, for
`bench/api.py --trace-batches`: run from a tree's root (its code first on sys.path),
it appends one JSON line a batch to $BENCH_BATCH_LOG:

    {"at": wall clock, "rows": claimed, "wait": ms from the call to the claim (waiting
     for SQLite's write lock at BEGIN IMMEDIATE, mostly), "hold": ms from the claim to
     the commit (the write lock held), "cpu": the thread's CPU ms for the batch}

Nothing else differs from `python -m tierdesk worker`: the batch itself is the tree's.
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tierdesk.settings")

from tierdesk.tickets import hooks  # (no Django at import time)

_out = open(os.environ["BENCH_BATCH_LOG"], "a", buffering=1)  # noqa: SIM115
_write = threading.Lock()
_claimed = threading.local()
_run_batch, _claim = hooks.run_batch, hooks._claim


def claim(*args, **kwargs):
    _claimed.at = time.perf_counter()  # BEGIN IMMEDIATE has returned: the lock is ours
    rows = _claim(*args, **kwargs)
    _claimed.rows = len(rows)
    return rows


def run_batch(*args, **kwargs):
    _claimed.at, _claimed.rows = None, 0
    start, cpu = time.perf_counter(), time.thread_time()
    try:
        return _run_batch(*args, **kwargs)
    finally:
        end = time.perf_counter()
        got = _claimed.at or end
        line = json.dumps({"at": round(time.time(), 3), "rows": _claimed.rows,
                           "wait": round((got - start) * 1000, 2),
                           "hold": round((end - got) * 1000, 2),
                           "cpu": round((time.thread_time() - cpu) * 1000, 2)})
        with _write:
            _out.write(line + "\n")


hooks._claim = claim
hooks.run_batch = run_batch

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(["tierdesk", "worker", *sys.argv[1:]])
