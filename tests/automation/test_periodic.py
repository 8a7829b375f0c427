"""The periodic tasks besides the sweep: auto-close of resolved tickets and resumed rebuilds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import T0

from tierdesk.accounts.models import Provider
from tierdesk.automation import sweeps
from tierdesk.sla.models import Plan, RebuildJob
from tierdesk.tickets import actions

pytestmark = pytest.mark.django_db


def days(n):
    return T0 + timedelta(days=n)


def test_resolved_tickets_close_after_the_providers_delay_once(open_ticket, people):
    provider = Provider.current()
    provider.autoclose_days = 3
    provider.save()
    done, back = open_ticket("done"), open_ticket("back")
    for t in (done, back):
        actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="Fixed.",
                        at=T0 + timedelta(hours=1))
    actions.reopen(actor=people.alice.user, ticket=back, reason="Still broken", at=days(1))
    assert sweeps.autoclose_resolved(now=days(2)) == 0
    assert sweeps.autoclose_resolved(now=days(4)) == 1
    done.refresh_from_db()
    back.refresh_from_db()
    assert done.status == "closed" and back.status != "closed"
    assert done.events.filter(code="closed").count() == 1
    assert sweeps.autoclose_resolved(now=days(5)) == 0  # never twice


def test_no_delay_means_never(open_ticket, people):
    provider = Provider.current()
    provider.autoclose_days = None
    provider.save()
    t = open_ticket()
    actions.resolve(actor=people.tess.user, ticket=t, code="fixed", note="Fixed.", at=T0)
    assert sweeps.autoclose_resolved(now=days(365)) == 0


def test_a_rebuild_whose_task_never_ran_is_resumed(open_ticket):
    from tierdesk.automation.tasks import resume_rebuilds

    open_ticket()
    job = RebuildJob.objects.create(plan_ids=[Plan.objects.get(code="premium").pk])
    RebuildJob.objects.filter(pk=job.pk).update(created_at=T0 - timedelta(minutes=10))
    resume_rebuilds.call_local()
    job.refresh_from_db()
    assert job.state == RebuildJob.State.DONE
    resume_rebuilds.call_local()  # a finished job is not taken again
    assert RebuildJob.objects.get(pk=job.pk).finished_at == job.finished_at
