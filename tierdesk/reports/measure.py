"""Per-ticket measures: the figures reports aggregate, made from the SLA rows, timeline and clock.

One function, `measure_rows`, makes the rows of any set of tickets with a fixed
number of queries; the tickets.hooks subscriber calls it for the ticket an
action touched (inside the action's transaction), `backfill` for every ticket in
primary-key batches (after an SLA rebuild, or on a desk that had tickets before
this app).

Paused time by reason needs the clock itself (business time, on the plan's
calendar): it comes from the engine's explanation (`TargetTotals.paused`), and is
only computed for tickets whose timeline ever entered a pause status.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.db.models.fields.json import KT

from tierdesk.accounts.models import Organisation
from tierdesk.sla.adapter import compile_policy, engine_events
from tierdesk.sla.engine import Calendar, explain
from tierdesk.sla.models import Plan, TicketSLA
from tierdesk.tickets.models import Ticket, TicketEvent

from .models import MeasureState, TicketMeasure

PREFIX = {"first_response": "fr", "resolution_plan": "rp", "resolution": "res"}
STATE = {"running": MeasureState.RUNNING, "paused": MeasureState.PAUSED,
         "met": MeasureState.MET, "breached": MeasureState.BREACHED}
# The pause statuses reports split paused time by (seed 004 leaves third-party time out).
PAUSE_COLUMNS = {"waiting_customer": "paused_customer_seconds",
                 "waiting_third_party": "paused_third_party_seconds"}
_STATUS_CODES = ("created", "status_changed", "resolved", "reopened", "closed")
_CLOCK_CODES = ("created", "status_changed", "resolved", "reopened", "closed",
                "priority_changed", "public_reply", "resolution_plan_posted")
UPDATE_FIELDS = [f.name for f in TicketMeasure._meta.concrete_fields if f.name != "ticket"]
BATCH = 2000


def next_business_day_close(calendar: Calendar, instant: datetime) -> datetime:
    """The close of the first open day after the local date of `instant`.

    What "answered by the next business day" allows: a mail of Monday 10:00 may
    wait until Tuesday's close; one of Friday evening or Saturday, until Monday's.
    """
    local_day = instant.astimezone(calendar.zone).date()
    day = calendar.open_day_after(local_day, 1)
    close = calendar.day_hours(day)[-1][1]
    # Aware datetime + timedelta is wall-clock arithmetic: "close" seconds after local midnight.
    return datetime.combine(day, time(), tzinfo=calendar.zone) + timedelta(seconds=close)


class _Policies:
    """Compiled policies and calendars of the organisations in a batch (cached per version)."""

    def __init__(self, org_ids: Iterable[int]) -> None:
        orgs = list(Organisation.objects.filter(pk__in=set(org_ids))
                    .values_list("pk", "plan_id", "contract_targets"))
        plans = {p.pk: p for p in Plan.objects.filter(pk__in={o[1] for o in orgs})}
        self.plan_of = {pk: plan_id for pk, plan_id, _ in orgs}
        self._contract = {pk: contract for pk, _, contract in orgs}
        self._plans = plans
        self._deadlines: dict[tuple[int, date], datetime] = {}

    def policy(self, org_id: int):
        plan = self._plans[self.plan_of[org_id]]
        return compile_policy(plan, self._contract[org_id] or None).policy

    def pause_statuses(self) -> set[str]:
        return {s for p in self._plans.values() for s in (p.pause_statuses or [])}

    def answer_due(self, org_id: int, created: datetime) -> datetime | None:
        calendar = self.policy(org_id).calendar
        key = (self.plan_of[org_id], created.astimezone(calendar.zone).date())
        if key not in self._deadlines:
            try:
                self._deadlines[key] = next_business_day_close(calendar, created)
            except ValueError:  # a calendar with no open day in reach: no such promise
                return None
        return self._deadlines[key]


def _scope(ticket_ids: list[int] | None, span: tuple[int, int] | None, field: str) -> Q:
    """The tickets asked for: a list of ids, or a primary-key range [lo, hi] (a batch:
    a range is much cheaper to send and to plan than thousands of ids)."""
    if span is not None:
        return Q(**{f"{field}__gte": span[0], f"{field}__lte": span[1]})
    return Q(**{f"{field}__in": ticket_ids or []})


def measure_rows(ticket_ids: list[int] | None = None, *, now: datetime,
                 span: tuple[int, int] | None = None) -> list[dict[str, Any]]:
    """The measure rows (as {attname: value}) of these tickets, as of `now`.

    1. The tickets' cached columns; their organisations' plans and calendars.
    2. Their SLA rows, pivoted into the three targets' columns.
    3. Their escalations and first resolution, counted in SQL over the timeline.
    4. For the tickets that ever waited, the clock's explanation: paused time by reason.
    """
    tickets: list[dict[str, Any]] = [dict(t) for t in Ticket.objects.filter(
        _scope(ticket_ids, span, "pk")).values(
        "pk", "organisation_id", "priority_id", "category_id", "assignee_id", "team_id", "tier",
        "channel", "status", "created_at", "first_response_at", "resolved_at", "reopen_count")]
    if not tickets:
        return []
    policies = _Policies(t["organisation_id"] for t in tickets)

    sla: dict[int, dict[str, tuple]] = defaultdict(dict)
    for tid, target, state, elapsed, due_at, met_at in TicketSLA.objects.filter(
            _scope(ticket_ids, span, "ticket_id")).values_list(
            "ticket_id", "target", "state", "elapsed_seconds", "due_at", "met_at"):
        sla[tid][target] = (state, elapsed, due_at, met_at)

    escalated = Q(code="escalated")
    counts: dict[int, dict[str, Any]] = {row["ticket_id"]: dict(row) for row in TicketEvent.objects.filter(
        _scope(ticket_ids, span, "ticket_id"), code__in=("escalated", "resolved")).values(
        "ticket_id").annotate(
        first_resolved=Min("at", filter=Q(code="resolved")),
        tier2=Count("pk", filter=escalated & Q(payload__kind="tier", payload__to=2)),
        tier3=Count("pk", filter=escalated & Q(payload__kind="tier", payload__to=3)),
        customer=Count("pk", filter=escalated & Q(payload__kind="customer")))}

    paused = _paused_by_reason(tickets, policies, now=now, span=span)

    rows = []
    no_pause = dict.fromkeys(PAUSE_COLUMNS.values(), 0)
    for t in tickets:
        tid = t["pk"]
        c = counts.get(tid, {})
        row: dict[str, Any] = {
            "ticket_id": tid, "organisation_id": t["organisation_id"],
            "plan_id": policies.plan_of.get(t["organisation_id"]),
            "priority_id": t["priority_id"], "category_id": t["category_id"],
            "assignee_id": t["assignee_id"], "team_id": t["team_id"], "tier": t["tier"],
            "channel": t["channel"], "status": t["status"], "created_at": t["created_at"],
            "first_response_at": t["first_response_at"],
            "first_resolved_at": c.get("first_resolved"), "resolved_at": t["resolved_at"],
            "answer_due_at": policies.answer_due(t["organisation_id"], t["created_at"]),
            "reopens": min(t["reopen_count"], 32767), "escalations_tier2": c.get("tier2", 0),
            "escalations_tier3": c.get("tier3", 0), "escalations_customer": c.get("customer", 0),
            "refreshed_at": now, **paused.get(tid, no_pause)}
        for target, prefix in PREFIX.items():
            state, elapsed, due_at, met_at = sla[tid].get(target, (None, None, None, None))
            row[f"{prefix}_state"] = STATE.get(state or "", MeasureState.NONE)
            row[f"{prefix}_seconds"] = elapsed if met_at is not None else None
            row[f"{prefix}_due_at"] = due_at if state == "running" else None
        rows.append(row)
    return rows


def _paused_by_reason(tickets: list[dict[str, Any]], policies: _Policies, *, now: datetime,
                      span: tuple[int, int] | None) -> dict[int, dict[str, int]]:
    """{ticket id: {column: seconds}} for the tickets whose timeline entered a pause status."""
    pauses = policies.pause_statuses()
    if not pauses:
        return {}
    waited = set(TicketEvent.objects.filter(
        _scope([t["pk"] for t in tickets], span, "ticket_id"), code__in=_STATUS_CODES,
        payload__to__in=sorted(pauses)).values_list("ticket_id", flat=True).distinct())
    if not waited:
        return {}
    timelines: dict[int, list[tuple[str, datetime, dict]]] = defaultdict(list)
    for tid, code, at, to, priority, by in (
            TicketEvent.objects.filter(ticket_id__in=waited, code__in=_CLOCK_CODES)
            .order_by("ticket_id", "at", "id")
            .values_list("ticket_id", "code", "at", KT("payload__to"), KT("payload__priority"),
                         KT("payload__by"))):
        timelines[tid].append((code, at, {"to": to, "priority": priority, "by": by}))
    org_of = {t["pk"]: t["organisation_id"] for t in tickets}
    result: dict[int, dict[str, int]] = {}
    for tid, timeline in timelines.items():
        events = engine_events(timeline)
        if not events or events[0]["type"] != "created":
            continue
        explanation = explain(policies.policy(org_of[tid]), events, max(now, events[-1]["at"]))
        by_reason: dict[str, int] = {}
        # Each target keeps its own account; the one that ran longest saw every pause.
        for totals in explanation.targets.values():
            for reason, spent in totals.paused.items():
                by_reason[reason] = max(by_reason.get(reason, 0), int(spent.total_seconds()))
        result[tid] = {column: by_reason.get(reason, 0) for reason, column in PAUSE_COLUMNS.items()}
    return result


_FIELDS = TicketMeasure._meta.concrete_fields
_COLUMNS = [str(f.column) for f in _FIELDS]


# The SQL below is built from our own table and column names only; values always
# travel as parameters or through COPY.
def save(rows: list[dict[str, Any]]) -> None:
    """Upsert measure rows in bulk, without the ORM's per-value work (as sla.rebuild does):
    COPY into a staging table and one upsert on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    table = TicketMeasure._meta.db_table
    cols = ", ".join(_COLUMNS)
    update = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "ticket_id")
    upsert = f"INSERT INTO {table} ({cols}) %s ON CONFLICT (ticket_id) DO UPDATE SET {update}"
    values = [tuple(row[f.attname] for f in _FIELDS) for row in rows]
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS measure_stage ON COMMIT DELETE ROWS "  # noqa: S608 - our own table names
                        f"AS SELECT {cols} FROM {table} WITH NO DATA")
            with cur.cursor.copy(f"COPY measure_stage ({cols}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
            cur.execute(upsert % f"SELECT {cols} FROM measure_stage")  # noqa: S608 - our own table names
            cur.execute("DELETE FROM measure_stage")
        else:
            marks = ", ".join(["%s"] * len(_COLUMNS))
            cur.executemany(upsert % f"VALUES ({marks})",
                            [tuple(_adapt(v) for v in value) for value in values])


def _adapt(value: Any) -> Any:
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


def refresh(ticket_ids: list[int] | None = None, *, now: datetime,
            span: tuple[int, int] | None = None) -> None:
    save(measure_rows(ticket_ids, now=now, span=span))


def backfill(*, now: datetime, batch: int = BATCH, progress: Callable[[int], Any] | None = None,
             lo: int = 0, hi: int | None = None) -> int:
    """Recompute the measure of every ticket (with pk in [lo, hi)), in primary-key batches
    of one transaction each."""
    done, last = 0, lo - 1
    scope = Ticket.objects.all() if hi is None else Ticket.objects.filter(pk__lt=hi)
    while True:
        ids = list(scope.filter(pk__gt=last).order_by("pk")
                   .values_list("pk", flat=True)[:batch])
        if not ids:
            return done
        with transaction.atomic():
            refresh(now=now, span=(ids[0], ids[-1]))
        done += len(ids)
        last = ids[-1]
        if progress is not None:
            progress(done)


def backfill_parallel(*, now: datetime, processes: int = 2, batch: int = BATCH) -> int:
    """`backfill` shared by several processes, each over its own range of primary keys
    (the clock's explanation is Python: it scales with the cores)."""
    import multiprocessing

    from django.db import connections
    from django.db.models import Max, Min

    bounds = Ticket.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is None:
        return 0
    if processes <= 1:
        return backfill(now=now, batch=batch)
    lo, hi = bounds["lo"], bounds["hi"] + 1
    step = -(-(hi - lo) // processes)
    ranges = [(lo + k * step, min(hi, lo + (k + 1) * step)) for k in range(processes)]
    connections.close_all()  # each child opens its own connection
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return sum(pool.starmap(_backfill_range, [(a, b, now, batch) for a, b in ranges]))


def _backfill_range(lo: int, hi: int, now: datetime, batch: int) -> int:
    return backfill(now=now, batch=batch, lo=lo, hi=hi)
