"""Reading many rows by id without laying out a parameter per id; batches without the
cyclic garbage collector."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL


def among(field: str, ids: list[int]) -> Q:
    """`field IN ids`. On PostgreSQL the ids travel as one array parameter: a thousand
    placeholders cost the driver more to lay out than the query costs the server."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__in": RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])})
    return Q(**{f"{field}__in": list(ids)})


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch runs.

    A batch makes tens of thousands of short-lived objects (model instances, rows,
    datetimes); freed by reference counting at its end, they still count towards the
    collector's thresholds while alive, and set off full collections of the whole
    process (~100-200 ms each on the sweep's thousand tickets). Whatever cycles a batch
    leaves are collected after it. Process-wide (the worker's threads share it): the
    first holder pauses the collector, the last one restores it as it found it.
    """
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()
