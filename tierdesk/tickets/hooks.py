"""Who hears about what happened to a ticket, and when.

An action appends events. When the outermost action has finished its writes (SLA
rows included), `dispatch` hands them on, in one of two modes:

- **deferred** (the default): the action writes ONE `HookWork` row per ticket it
  touched (the event ids and the action's context) in its own transaction and
  nothing else; after the commit the worker (`tickets.tasks.run_hooks`, and every
  minute `run_hooks_pending` for work whose task never ran) claims pending rows in
  batches and calls every subscriber for the whole batch in ONE transaction that
  also deletes the rows. Exactly once: the subscribers' writes and the deletion
  commit together or not at all; a second consumer cannot claim the same rows
  (a conditional DELETE on SQLite, whose writers queue; `FOR UPDATE SKIP LOCKED`
  on PostgreSQL); a consumer killed mid-batch leaves its rows pending. Per ticket,
  the order of actions holds: a batch takes a ticket's oldest pending row only.
- **inline** (`TICKET_HOOKS_INLINE = True`): the subscribers run inside the action's
  transaction before it commits.

Subscribers write what must happen because of the events (outbox mail, webhook
deliveries, escalation records, routing) in the transaction they are called in.
They must not do I/O themselves: whatever leaves the process goes through the
outbox, sent after commit. Actions they call are nested: their events are heard
by no other subscriber (the automation reacts to its own in rounds).

Apps subscribe in their AppConfig.ready(), so tickets imports none of them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tierdesk.tickets.models import Ticket, TicketEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Happened:
    """The events one action appended to one ticket, in order."""

    ticket: Ticket
    events: tuple[TicketEvent, ...]
    # What the action knew besides its events, as captured by `add_context` (deferred mode).
    context: dict[str, Any] = field(default_factory=dict, compare=False)

    def codes(self) -> set[str]:
        return {e.code for e in self.events}

    def first(self, code: str) -> TicketEvent | None:
        return next((e for e in self.events if e.code == code), None)


Subscriber = Callable[[Happened], None]
BatchSubscriber = Callable[[list[Happened]], None]
_subscribers: list[tuple[str, Subscriber]] = []
# Optional: a subscriber's handler for many tickets at once (an action that touched many,
# like the SLA sweep's, or a batch of deferred work): called once with all of them, in
# place of one call per ticket, so that it can do its work in a fixed number of queries.
# It hears at most one action per ticket per call, and runs without the actions' contexts.
_batch: dict[str, BatchSubscriber] = {}


def subscribe(name: str, fn: Subscriber, *, batch: BatchSubscriber | None = None) -> None:
    """Register `fn` under a unique name (re-registering the name replaces it)."""
    global _subscribers
    _subscribers = [(n, f) for n, f in _subscribers if n != name] + [(name, fn)]
    if batch is not None:
        _batch[name] = batch
    else:
        _batch.pop(name, None)


def unsubscribe(name: str) -> None:
    global _subscribers
    _subscribers = [(n, f) for n, f in _subscribers if n != name]
    _batch.pop(name, None)


# ------------------------------------------------------------------- action context

Capture = Callable[[], Any]
Restore = Callable[[Any], AbstractContextManager[Any]]
_contexts: dict[str, tuple[Capture, Restore]] = {}


def add_context(name: str, capture: Capture, restore: Restore) -> None:
    """Something a subscriber reads from the running action's context (a ContextVar):
    `capture()` returns it as JSON (None: nothing to keep) when the action records its
    work; `restore(value)` is a context manager that sets it again around the
    per-ticket subscriber calls in the worker."""
    _contexts[name] = (capture, restore)


def _capture() -> dict[str, Any]:
    out = {}
    for name, (capture, _restore) in _contexts.items():
        value = capture()
        if value is not None:
            out[name] = value
    return out


@contextlib.contextmanager
def _restored(context: dict[str, Any]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for name, value in context.items():
            entry = _contexts.get(name)
            if entry is not None:
                stack.enter_context(entry[1](value))
        yield


# --------------------------------------------------------------------------- dispatch


def inline_mode() -> bool:
    from django.conf import settings

    return bool(getattr(settings, "TICKET_HOOKS_INLINE", False))


def _grouped(events: list[TicketEvent]) -> list[tuple[Ticket, list[TicketEvent]]]:
    by_ticket: dict[int, list[TicketEvent]] = {}
    tickets: dict[int, Ticket] = {}
    for event in events:
        by_ticket.setdefault(event.ticket_id, []).append(event)
        tickets[event.ticket_id] = event.ticket
    return [(tickets[pk], evs) for pk, evs in by_ticket.items()]


def dispatch(events: list[TicketEvent], *, inline: bool | None = None) -> None:
    """Hand an action's events to the subscribers: now, inside the caller's transaction
    (`inline`, or the TICKET_HOOKS_INLINE setting), or after its commit (the default)."""
    if not events:
        return
    if inline if inline is not None else inline_mode():
        deliver([Happened(t, tuple(evs)) for t, evs in _grouped(events)])
    else:
        defer(events)


def deliver(happenings: list[Happened]) -> None:
    """Each subscriber hears each ticket's events (in the order subscribed; for one
    ticket, subscriber after subscriber). At most one Happened per ticket."""
    if not happenings:
        return
    if len(happenings) == 1:
        with _restored(happenings[0].context):
            for _name, fn in list(_subscribers):
                fn(happenings[0])
        return
    for name, fn in list(_subscribers):
        many = _batch.get(name)
        if many is not None:
            many(happenings)
        else:
            for happened in happenings:
                with _restored(happened.context):
                    fn(happened)


# --------------------------------------------------------------------- deferred work

# Rows (tickets) claimed at once by the worker. A batch's subscribers read what they need
# once (the rules, the routing pool and its agents' open work, preferences, policies...)
# and write in a few multi-row statements: ~35 ms of CPU a batch whatever its size, on top
# of ~2 ms a new ticket (session 8: 3.5 ms a create at 25, ~2.2 at 100). On SQLite a batch
# holds the one write lock for its whole transaction: 100 new tickets hold it ~0.2 s on a
# quiet machine, which web requests wait out well within SQLite's 20 s timeout.
BATCH = 100
MAX_ATTEMPTS = 12  # then the row stays, "dead", for an administrator to read
BACKOFF_CAP = timedelta(hours=1)
KICK_INTERVAL = 0.5  # seconds: at most one task queued per process per interval (+ one trailing)


def defer(events: list[TicketEvent]) -> None:
    """Record, in the caller's transaction, that the subscribers have work: one INSERT.
    After the commit, ask the worker to run it."""
    import json

    from django.db import connection, transaction

    from tierdesk.lib import clock
    from tierdesk.tickets.models import HookWork

    now = clock.now()
    context = _capture()
    grouped = _grouped(events)
    if connection.vendor == "postgresql" and len(grouped) > 1:
        # Many tickets at once (the SLA sweep's thousand): one COPY, no model instances.
        table, payload = HookWork._meta.db_table, json.dumps(context)
        with connection.cursor() as cur, cur.cursor.copy(
                f"COPY {table} (ticket_id, events, context, created_at, due_at, attempts, "
                "last_error) FROM STDIN") as copy:
            for ticket, evs in grouped:
                copy.write_row((ticket.pk, json.dumps([e.pk for e in evs]), payload, now, now,
                                0, ""))
    else:
        # An action's one row (or few): one statement prepared once, no model instances.
        payload, at = json.dumps(context), connection.ops.adapt_datetimefield_value(now)
        params: list[Any] = []
        for ticket, evs in grouped:
            params += [ticket.pk, json.dumps([e.pk for e in evs]), payload, at, at]
        with connection.cursor() as cur:
            cur.execute(_insert_sql(connection.vendor, len(grouped)), params)
    transaction.on_commit(_kick)


@functools.cache
def _insert_sql(vendor: str, n: int) -> str:
    """Identifiers from the model only; every value is a parameter."""
    from tierdesk.tickets.models import HookWork

    json_value = "%s::jsonb" if vendor == "postgresql" else "%s"
    row = f"(%s, {json_value}, {json_value}, %s, %s, 0, '')"
    return (f"INSERT INTO {HookWork._meta.db_table} (ticket_id, events, context, "  # noqa: S608
            f"created_at, due_at, attempts, last_error) VALUES {', '.join([row] * n)}")


_kick_lock = threading.Lock()
_kick_state = {"next": 0.0, "trailing": -1.0}


def _kick() -> None:
    """Queue the worker's task. At 200 actions a second a task each would flood the
    queue: a process queues one at once, then at most one more for the end of each
    KICK_INTERVAL (which sees every row committed before it; each task drains)."""
    from huey.contrib.djhuey import HUEY

    from tierdesk.tickets import tasks

    delay = 0.0
    if not HUEY.immediate:
        now = time.monotonic()
        with _kick_lock:
            if now >= _kick_state["next"]:
                _kick_state["next"] = now + KICK_INTERVAL
            elif _kick_state["trailing"] != _kick_state["next"]:
                _kick_state["trailing"] = _kick_state["next"]
                delay = _kick_state["next"] - now
            else:
                return
    try:
        if delay:
            tasks.run_hooks.schedule(delay=delay)
        else:
            tasks.run_hooks()
    except Exception:
        # The queue is down or the immediate run failed: the rows are still pending and
        # the periodic task runs them.
        log.exception("could not hand the hooks' work to the queue")


# A ticket's oldest live row only, so that its actions are heard in order; dead rows (too
# many attempts) no longer hold a ticket back. Claimed by deleting them: on SQLite the
# transaction holds the write lock from BEGIN (IMMEDIATE), on PostgreSQL rows that another
# consumer holds are skipped; either way a row goes to one consumer, and comes back if it dies.
_CLAIM = (
    "DELETE FROM tickets_hookwork WHERE id IN ("
    " SELECT w.id FROM tickets_hookwork w"
    " WHERE w.due_at <= %s AND w.attempts < %s AND NOT EXISTS ("
    "  SELECT 1 FROM tickets_hookwork e"
    "  WHERE e.ticket_id = w.ticket_id AND e.id < w.id AND e.attempts < %s)"
    " ORDER BY w.id LIMIT %s{lock})"
    " RETURNING id, ticket_id, events, context, created_at, attempts"
)
_CLAIM_SQL = {"postgresql": _CLAIM.replace("{lock}", " FOR UPDATE SKIP LOCKED"),
              "sqlite": _CLAIM.replace("{lock}", "")}


@dataclass
class _Row:
    pk: int
    ticket_id: int
    events: list[int]
    context: dict[str, Any]
    created_at: datetime
    attempts: int


def _claim(limit: int, now: datetime) -> list[_Row]:
    import json

    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(_CLAIM_SQL[connection.vendor],
                    [connection.ops.adapt_datetimefield_value(now), MAX_ATTEMPTS, MAX_ATTEMPTS,
                     limit])
        raw = cur.fetchall()
    rows = []
    for pk, ticket_id, events, context, created_at, attempts in raw:
        if isinstance(events, str):
            events = json.loads(events)
        if isinstance(context, str):
            context = json.loads(context)
        if isinstance(created_at, str):  # SQLite answers RETURNING with the stored UTC text
            created_at = datetime.fromisoformat(created_at)
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        rows.append(_Row(pk, ticket_id, events, context or {}, created_at, attempts))
    rows.sort(key=lambda r: r.pk)
    return rows


def _happenings(rows: list[_Row]) -> list[tuple[_Row, Happened]]:
    """The claimed rows' events, read in one query, each ticket one instance."""
    from tierdesk.tickets.models import TicketEvent

    ids = [pk for row in rows for pk in row.events]
    found = {e.pk: e for e in TicketEvent.objects.filter(pk__in=ids).select_related(
        "ticket__organisation__plan", "ticket__priority", "ticket__requester__user", "actor")}
    out = []
    for row in rows:
        events = [found[pk] for pk in row.events if pk in found]
        if not events:
            continue
        ticket = events[0].ticket
        for event in events:
            event.ticket = ticket
        out.append((row, Happened(ticket, tuple(events), row.context)))
    return out


def run_batch(*, limit: int = BATCH, now: datetime | None = None) -> int:
    """Claim up to `limit` pending rows and let every subscriber hear them, in one
    transaction. Returns how many rows were claimed (0: nothing pending)."""
    from django.db import transaction

    from tierdesk.lib import clock
    from tierdesk.tickets.actions.base import hearing

    now = now or clock.now()
    with transaction.atomic():
        rows = _claim(limit, now)
        if not rows:
            return 0
        pairs = _happenings(rows)
        try:
            with transaction.atomic(), hearing():
                deliver([h for _row, h in pairs])
            return len(rows)
        except Exception:
            log.exception("hooks: a batch of %s failed; hearing its tickets one by one",
                          len(pairs))
        # Read again: the instances the failed batch changed in memory are stale now.
        for row, happened in _happenings(rows):
            try:
                with transaction.atomic(), hearing():
                    deliver([happened])
            except Exception as exc:
                log.exception("hooks: ticket %s's events %s failed", row.ticket_id, row.events)
                _retry_later(row, exc, now)
    return len(rows)


def _retry_later(row: _Row, exc: Exception, now: datetime) -> None:
    """Put the row back (same id, so the ticket's order holds) with a backoff."""
    from tierdesk.tickets.models import HookWork

    attempts = row.attempts + 1
    wait = min(timedelta(minutes=2 ** (attempts - 1)), BACKOFF_CAP)
    HookWork.objects.create(pk=row.pk, ticket_id=row.ticket_id, events=row.events,
                            context=row.context, created_at=row.created_at, due_at=now + wait,
                            attempts=attempts, last_error=(str(exc) or repr(exc))[:2000])


def run_pending(*, limit: int = BATCH, max_batches: int | None = None) -> int:
    """Run batches until nothing is pending (or `max_batches`). Returns rows handled.
    On SQLite the batches take turns with the other writers (`lib.sql.let_writers_in`)."""
    from tierdesk.lib.sql import let_writers_in

    total = batches = 0
    while max_batches is None or batches < max_batches:
        with let_writers_in():
            n = run_batch(limit=limit)
        if not n:
            break
        total += n
        batches += 1
    return total


# ------------------------------------------------------------------ the worker's drainer

# Seconds a drainer waits after a batch that was not full before it claims again: work
# gathers meanwhile (fewer, fuller batches while the desk is busy: each batch costs ~40 ms
# of CPU whatever its size, under SQLite's write lock).
GATHER = 1.0
# Seconds between its looks for work when none is pending: a quiet desk's action is heard
# within about this long even when no task reaches the worker (the queue's threads busy,
# or SqliteHuey's consumer polling slowly after a quiet spell: up to 10 s).
LOOK = 0.25
# Seconds a drainer leaves SQLite's write lock free once BACKLOG full batches ran back to
# back (a backlog: a worker outage, a breach wave's hook work): the web's writers wait for
# the lock in SQLite's busy handler, which tries again every 100 ms at most (1, 2, 5 …
# 100 ms), so batch after batch would starve them until their 20 s timeout. A busy desk's
# bursts (two or three full batches after a gather) are not slowed: pausing from the
# second one on raised the web's p95 from ~70 to 200–350 ms (session 9). PostgreSQL: none.
YIELD = 0.12
BACKLOG = 4


class Drainer:
    """The worker's own thread for the hooks' deferred work (`tierdesk worker` starts one).

    In the task queue the hooks' task waits behind whatever the consumer's threads are
    doing: mail delivery (a batch of new tickets queues a delivery of their
    acknowledgements, seconds of SMTP or console I/O), sweeps, reports. Measured in session
    9 with the web beside it: both threads delivering mail while thousands of creates
    waited to be heard. The drainer claims batches itself (`run_batch`, unchanged: the
    same exactly-once claims, order and retries) and looks for work on its own: a cheap
    read every LOOK seconds, or at once when a task wakes it (`wake`). After a full
    batch it claims again at once (a backlog; on SQLite, from the BACKLOG-th full batch
    in a row, after leaving the write lock free for YIELD seconds); after a short one it
    lets work gather for GATHER seconds first. The tasks (`tickets.tasks`) wake it
    instead of draining on a queue thread when one runs in their process."""

    def __init__(self, *, gather: float | None = None, look: float | None = None) -> None:
        self.gather = GATHER if gather is None else gather
        self.look = min(LOOK, self.gather) if look is None else look
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hooks-drainer", daemon=True)

    def start(self) -> Drainer:
        global _drainer
        _drainer = self
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the batch under way finish (its commit), then end."""
        global _drainer
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        if _drainer is self:
            _drainer = None

    def _run(self) -> None:
        from django.db import close_old_connections, connection

        full = 0  # full batches in a row
        try:
            while not self._stop.is_set():
                close_old_connections()
                try:
                    heard = self.drain_once()
                except Exception:
                    log.exception("hooks: the drainer's batch failed; trying again later")
                    heard = 1
                if heard >= BATCH:  # a backlog: the next batch at once, or soon
                    full += 1
                    if full >= BACKLOG and connection.vendor == "sqlite":
                        self._stop.wait(YIELD)
                    continue
                full = 0
                if heard:
                    self._stop.wait(self.gather)  # a short batch: let work gather
                else:
                    self._wake.wait(self.look)  # nothing due: a task's wake-up or a look
                self._wake.clear()
        finally:
            connection.close()

    def drain_once(self) -> int:
        """One look: if work is due, claim and hear a batch (then, when it was not full,
        let the search index catch up, as the task does). How many rows it claimed."""
        from tierdesk.lib.sql import let_writers_in
        from tierdesk.tickets import search

        if not _due():
            return 0
        with let_writers_in():  # on SQLite, in turn with the worker's other batch loops
            heard = run_batch(limit=BATCH)
        if 0 < heard < BATCH:
            search.catch_up()
        return heard


_drainer: Drainer | None = None


def drainer() -> Drainer | None:
    """The drainer running in this process, if any."""
    return _drainer


def _due() -> bool:
    """Is any row claimable now? A read (no write lock); the table holds pending work only."""
    from django.db import connection

    from tierdesk.lib import clock

    with connection.cursor() as cur:
        cur.execute(_DUE, [connection.ops.adapt_datetimefield_value(clock.now()), MAX_ATTEMPTS,
                           MAX_ATTEMPTS])
        return cur.fetchone() is not None


# What `_claim` would take, read only (so a retry backing off behind a ticket's older row
# does not make the drainer take the write lock for nothing every GATHER seconds).
_DUE = _CLAIM[_CLAIM.index(" SELECT w.id"):_CLAIM.index(" ORDER BY")].replace(
    "SELECT w.id", "SELECT 1", 1) + " LIMIT 1"


def pending() -> int:
    """Rows waiting for the subscribers (dead ones included)."""
    from tierdesk.tickets.models import HookWork

    return HookWork.objects.count()
