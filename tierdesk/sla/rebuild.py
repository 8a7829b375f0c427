"""Rebuilding SLA rows in bulk: after a policy change, or from scratch.

Tickets are taken in primary-key batches; each batch reads its timelines in one
query, evaluates them in Python, and writes its rows and deadlines in bulk (COPY
into a staging table and one upsert on PostgreSQL, executemany on SQLite), so
the cost is linear in the tickets and bounded in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models.fields.json import KT
from django.utils import timezone

from tierdesk.accounts.models import Organisation
from tierdesk.lib.sql import let_writers_in
from tierdesk.sla.adapter import (
    ROW_COLUMNS,
    announced_breaches,
    compile_policy,
    compute_row_values,
    engine_events,
)
from tierdesk.sla.models import RebuildJob, TicketSLA
from tierdesk.tickets.lifecycle import DONE
from tierdesk.tickets.models import Ticket, TicketEvent

BATCH = 2000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_SLA_CODES = ("created", "status_changed", "resolved", "reopened", "closed", "priority_changed",
              "public_reply", "resolution_plan_posted", "sla_breached")



def open_tickets(plan_ids: Iterable[int] | None = None):
    qs = Ticket.objects.exclude(status__in=list(DONE))
    if plan_ids is not None:
        qs = qs.filter(organisation__plan_id__in=list(plan_ids))
    return qs


def rebuild_batch(ticket_ids: list[int], *, now: datetime,
                  tickets: list[tuple[int, int, datetime | None]] | None = None) -> int:
    """Recompute and store the rows of these tickets. Returns how many were rebuilt.

    ``tickets``, if the caller has them already: (pk, organisation_id, next_due_at)
    of the same tickets, saving a query.
    """
    if tickets is None:
        tickets = list(Ticket.objects.filter(pk__in=ticket_ids)
                       .values_list("pk", "organisation_id", "next_due_at"))
    orgs = {o.pk: o for o in Organisation.objects.select_related("plan").filter(
        pk__in={t[1] for t in tickets})}
    timelines: dict[int, list] = defaultdict(list)
    # The few payload keys the clock reads, as columns: no JSON decoding per event.
    events: Iterable[tuple] = (
        TicketEvent.objects.filter(ticket_id__in=ticket_ids, code__in=_SLA_CODES)
        .order_by("ticket_id", "at", "id")
        .values_list("ticket_id", "code", "at", KT("payload__to"), KT("payload__priority"),
                     KT("payload__by"), KT("payload__target")))
    if connection.vendor == "postgresql":
        # The same, with the ids as one array parameter instead of thousands of
        # placeholders (psycopg parses those client-side) and no ORM per row;
        # instants as integer µs since the epoch (exact: extract() is numeric),
        # turned into datetimes here at a fraction of the cost of parsing text.
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT ticket_id, code, (extract(epoch FROM at) * 1000000)::bigint, "  # noqa: S608 - our own table name
                f"payload->>'to', payload->>'priority', payload->>'by', payload->>'target' "
                f"FROM {TicketEvent._meta.db_table} "
                f"WHERE ticket_id = ANY(%s) AND code = ANY(%s) ORDER BY ticket_id, at, id",
                [list(ticket_ids), list(_SLA_CODES)])
            epoch, unit = _EPOCH, _MICROSECOND
            events = [(tid, code, epoch + unit * us, *rest) for tid, code, us, *rest in cur.fetchall()]
    for tid, code, at, to, priority, by, target in events:
        timelines[tid].append((code, at, {"to": to, "priority": priority, "by": by,
                                          "target": target}))
    rows: list[tuple] = []
    due_changes: list[tuple[int, datetime | None]] = []
    # The tickets by the targets they have now: rows of any other target are stale
    # (a plan that dropped a target, a priority without it).
    by_targets: dict[tuple[str, ...], list[int]] = defaultdict(list)
    policies = {org_id: compile_policy(org.plan, org.contract_targets) for org_id, org in orgs.items()}
    for pk, org_id, old_due in tickets:
        compiled = policies[org_id]
        timeline = timelines[pk]
        ticket_rows, next_due = compute_row_values(pk, compiled, engine_events(timeline), now,
                                                   announced=announced_breaches(timeline))
        rows += ticket_rows
        by_targets[tuple(row[1] for row in ticket_rows)].append(pk)
        if next_due != old_due:
            due_changes.append((pk, next_due))
    with let_writers_in(), transaction.atomic():
        if connection.vendor == "postgresql":
            # A rebuild can be redone from the timelines: its commits need not wait
            # for the WAL to reach the disk (this transaction only).
            with connection.cursor() as cur:
                cur.execute("SET LOCAL synchronous_commit = off")
        write_rows(rows)
        delete_stale_rows(by_targets)
        write_next_due(due_changes)
    return len(tickets)


def _adapt(value):
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


# The SQL below is built from our own table and column names only; values always
# travel as parameters or through COPY.
def write_rows(rows: list[tuple]) -> None:
    """Upsert SLA rows (tuples in ROW_COLUMNS order) in bulk, without the ORM's per-value work."""
    if not rows:
        return
    table = TicketSLA._meta.db_table
    cols = ", ".join(ROW_COLUMNS)
    update = ", ".join(f"{c} = excluded.{c}" for c in ROW_COLUMNS[2:])
    upsert = f"INSERT INTO {table} ({cols}) %s ON CONFLICT (ticket_id, target) DO UPDATE SET {update}"
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS sla_stage ON COMMIT DELETE ROWS "  # noqa: S608 - our own table names
                        f"AS SELECT {cols} FROM {table} WITH NO DATA")
            with cur.cursor.copy(f"COPY sla_stage ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cur.execute(upsert % f"SELECT {cols} FROM sla_stage")  # noqa: S608 - our own table names
            cur.execute("DELETE FROM sla_stage")
        else:
            marks = ", ".join(["%s"] * len(ROW_COLUMNS))
            cur.executemany(upsert % f"VALUES ({marks})",
                            [tuple(_adapt(v) for v in row) for row in rows])


def delete_stale_rows(by_targets: dict[tuple[str, ...], list[int]]) -> None:
    """Delete the rows of targets the tickets no longer have: ``{targets they have: ticket ids}``."""
    table = TicketSLA._meta.db_table
    for targets, pks in by_targets.items():
        if connection.vendor == "postgresql":
            # Arrays as parameters: psycopg would parse thousands of placeholders.
            with connection.cursor() as cur:
                cur.execute(f"DELETE FROM {table} WHERE ticket_id = ANY(%s) "  # noqa: S608 - our own table name
                            f"AND NOT (target = ANY(%s))", [pks, list(targets)])
        else:
            TicketSLA.objects.filter(ticket_id__in=pks).exclude(target__in=targets).delete()


def write_next_due(changes: list[tuple[int, datetime | None]]) -> None:
    if not changes:
        return
    table = Ticket._meta.db_table
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS due_stage (id bigint, due timestamptz) "
                        "ON COMMIT DELETE ROWS")
            with cur.cursor.copy("COPY due_stage (id, due) FROM STDIN") as copy:
                for change in changes:
                    copy.write_row(change)
            cur.execute(f"UPDATE {table} t SET next_due_at = s.due FROM due_stage s "  # noqa: S608 - our own table names
                        f"WHERE t.id = s.id")
            cur.execute("DELETE FROM due_stage")
        else:
            cur.executemany(f"UPDATE {table} SET next_due_at = %s WHERE id = %s",  # noqa: S608 - our own table names
                            [(_adapt(due), pk) for pk, due in changes])


def rebuild(qs, *, now: datetime, job: RebuildJob | None = None, batch: int = BATCH) -> int:
    """Rebuild every ticket of a queryset, batch by batch, reporting progress on `job`."""
    done = 0
    last = 0
    while True:
        tickets = list(qs.filter(pk__gt=last).order_by("pk")
                       .values_list("pk", "organisation_id", "next_due_at")[:batch])
        if not tickets:
            return done
        ids = [t[0] for t in tickets]
        done += rebuild_batch(ids, now=now, tickets=tickets)
        last = ids[-1]
        if job is not None:
            RebuildJob.objects.filter(pk=job.pk).update(done=done)


def schedule_rebuild(plan_ids: list[int]) -> RebuildJob:
    """Queue a rebuild of the open tickets on these plans, after the change commits."""
    job = RebuildJob.objects.create(plan_ids=plan_ids, total=open_tickets(plan_ids).count())

    def enqueue() -> None:
        from tierdesk.sla.tasks import run_rebuild

        run_rebuild(job.pk)

    transaction.on_commit(enqueue)
    return job


def run_job(job_id: int) -> None:
    # Claim the job: only the worker whose UPDATE moved it from queued runs it.
    if not RebuildJob.objects.filter(pk=job_id, state=RebuildJob.State.QUEUED).update(
            state=RebuildJob.State.RUNNING):
        return
    job = RebuildJob.objects.get(pk=job_id)
    try:
        rebuild(open_tickets(job.plan_ids), now=timezone.now(), job=job)
    except Exception as exc:
        RebuildJob.objects.filter(pk=job_id).update(state=RebuildJob.State.FAILED,
                                                    error=repr(exc), finished_at=timezone.now())
        raise
    RebuildJob.objects.filter(pk=job_id).update(state=RebuildJob.State.DONE,
                                                finished_at=timezone.now())


def rebuild_parallel(qs, *, now: datetime, processes: int = 2, batch: int = BATCH) -> int:
    """Rebuild with several processes, each over its own range of primary keys.

    For an operator's full rebuild (`tierdesk sla rebuild --processes N`): the
    Python evaluation is the bulk of the cost, so it scales with the cores.
    """
    import multiprocessing

    from django.db import connections
    from django.db.models import Max, Min

    bounds = qs.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return 0
    if processes <= 1:
        return rebuild(qs, now=now, batch=batch)
    lo, hi = bounds["lo"], bounds["hi"] + 1
    step = -(-(hi - lo) // processes)
    ranges = [(lo + k * step, min(hi, lo + (k + 1) * step)) for k in range(processes)]
    connections.close_all()  # each child opens its own connection
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes) as pool:
        counts = pool.starmap(_rebuild_range, [(qs.query, a, b, now, batch) for a, b in ranges])
    return sum(counts)


def _rebuild_range(query, lo: int, hi: int, now: datetime, batch: int) -> int:
    qs = Ticket.objects.all()
    qs.query = query
    return rebuild(qs.filter(pk__gte=lo, pk__lt=hi), now=now, batch=batch)
