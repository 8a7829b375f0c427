"""Rebuilding SLA rows in bulk: after a policy change, or from scratch.

Tickets are taken in primary-key batches; each batch reads its timelines in one
query, evaluates them in Python, and writes its rows with one upsert and its
deadlines with one UPDATE per changed ticket group, so the cost is linear in
the tickets and bounded in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from tierdesk.accounts.models import Organisation
from tierdesk.sla.adapter import compile_policy, compute_rows, engine_events, save_rows
from tierdesk.sla.models import RebuildJob, TicketSLA
from tierdesk.tickets.lifecycle import DONE
from tierdesk.tickets.models import Ticket, TicketEvent

BATCH = 2000
_SLA_CODES = ("created", "status_changed", "resolved", "reopened", "closed", "priority_changed",
              "public_reply", "resolution_plan_posted")


def open_tickets(plan_ids: Iterable[int] | None = None):
    qs = Ticket.objects.exclude(status__in=list(DONE))
    if plan_ids is not None:
        qs = qs.filter(organisation__plan_id__in=list(plan_ids))
    return qs


def rebuild_batch(ticket_ids: list[int], *, now: datetime) -> int:
    """Recompute and store the rows of these tickets. Returns how many were rebuilt."""
    tickets = list(Ticket.objects.filter(pk__in=ticket_ids)
                   .values_list("pk", "organisation_id", "next_due_at"))
    orgs = {o.pk: o for o in Organisation.objects.select_related("plan").filter(
        pk__in={t[1] for t in tickets})}
    timelines: dict[int, list] = defaultdict(list)
    for tid, code, at, payload in (TicketEvent.objects.filter(ticket_id__in=ticket_ids,
                                                              code__in=_SLA_CODES)
                                   .order_by("ticket_id", "at", "id")
                                   .values_list("ticket_id", "code", "at", "payload")):
        timelines[tid].append((code, at, payload))
    rows: list[TicketSLA] = []
    due_changes: dict[datetime | None, list[int]] = defaultdict(list)
    for pk, org_id, old_due in tickets:
        org = orgs[org_id]
        compiled = compile_policy(org.plan, org.contract_targets)
        ticket_rows, next_due = compute_rows(pk, compiled, engine_events(timelines[pk]), now)
        rows += ticket_rows
        if next_due != old_due:
            due_changes[next_due].append(pk)
    with transaction.atomic():
        save_rows(rows)
        for due, pks in due_changes.items():
            Ticket.objects.filter(pk__in=pks).update(next_due_at=due)
    return len(tickets)


def rebuild(qs, *, now: datetime, job: RebuildJob | None = None, batch: int = BATCH) -> int:
    """Rebuild every ticket of a queryset, batch by batch, reporting progress on `job`."""
    done = 0
    last = 0
    while True:
        ids = list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return done
        done += rebuild_batch(ids, now=now)
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
