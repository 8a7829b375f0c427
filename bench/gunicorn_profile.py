"""A bench-only gunicorn configuration: cProfile in every worker, dumped when it exits.

    gunicorn tierdesk.wsgi -c bench/gunicorn_profile.py --workers 1 --threads 2 ...

The worker's main thread (accept, poll, keep-alive bookkeeping: gthread's machinery, or
the whole request for a sync worker) is profiled from `post_fork`; with gthread each pool
thread's `handle` (HTTP parsing, WSGI, Django, the answer written) gets a profile of its
own. Timed by each thread's CPU clock (`time.thread_time`): waits (poll, the GIL, SQLite's
lock) are not counted. On exit each is written to $TIERDESK_PROFILE_DIR/<pid>-<n>.prof (pstats files:
`bench/api.py --profile` merges and summarises them).
"""

from __future__ import annotations

import cProfile
import os
import threading
import time
from pathlib import Path

_profiles: list[cProfile.Profile] = []
_local = threading.local()


def post_fork(server, worker) -> None:
    main = cProfile.Profile(time.thread_time)
    _profiles.append(main)
    from gunicorn.workers import gthread

    if isinstance(worker, gthread.ThreadWorker):
        handle = gthread.ThreadWorker.handle

        def profiled(self, conn, _handle=handle):
            profile = getattr(_local, "profile", None)
            if profile is None:
                profile = _local.profile = cProfile.Profile(time.thread_time)
                _profiles.append(profile)
            profile.enable()
            try:
                return _handle(self, conn)
            finally:
                profile.disable()

        gthread.ThreadWorker.handle = profiled  # type: ignore[method-assign]
    main.enable()


def post_worker_init(worker) -> None:
    # The application is loaded: what came before (imports, URLconf) is not a request's.
    _profiles[0].disable()
    _profiles[0].clear()
    _profiles[0].enable()


def worker_exit(server, worker) -> None:
    _profiles[0].disable()
    out = Path(os.environ.get("TIERDESK_PROFILE_DIR", "/tmp"))
    out.mkdir(parents=True, exist_ok=True)
    for n, profile in enumerate(_profiles):
        profile.dump_stats(str(out / f"{os.getpid()}-{n}.prof"))
