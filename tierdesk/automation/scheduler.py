"""Who schedules the periodic tasks: one consumer per desk, held by a lock.

`tierdesk worker` asks for the scheduler's lock before it starts. The first
consumer to hold it schedules the periodic tasks (the sweep every minute...);
any other one started without `--no-periodic` finds the lock taken and runs
with periodic tasks off, saying so. The lock lives as long as the process:

- PostgreSQL: a session advisory lock on a connection of its own (the database
  drops it when the process dies, even by SIGKILL);
- SQLite: an exclusive `flock` on a file beside the database (the kernel drops
  it when the process dies).

Two schedulers would only waste work (every step is claimed, nothing happens
twice), but one is the design; this makes it hold without anyone remembering.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

from django.db import connection

# An arbitrary, fixed 64-bit key: "tierdesk periodic scheduler".
ADVISORY_KEY = 0x7D_5C_4E_D0_0F_0C_E0_01
_held: list[Any] = []  # what keeps the lock: a connection or an open file


def lock_path() -> Path:
    return Path(str(connection.settings_dict["NAME"]) + ".scheduler.lock")


def acquire() -> bool:
    """Take the scheduler's lock for the life of this process; False if another holds it."""
    if _held:
        return True
    if connection.vendor == "postgresql":
        raw = connection.get_new_connection(connection.get_connection_params())
        raw.autocommit = True
        with raw.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
            row = cur.fetchone()
        if not row or not row[0]:
            raw.close()
            return False
        _held.append(raw)
        return True
    handle = lock_path().open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    _held.append(handle)
    return True


def release() -> None:
    while _held:
        _held.pop().close()
