"""The SLA inside the desk: policy files installed, rows rebuilt, clocks explained."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from support import T0

from tierdesk.sla.models import BusinessCalendar, Plan, RebuildJob, TicketSLA
from tierdesk.sla.policyfile import PRESETS_DIR
from tierdesk.tickets import actions
from tierdesk.tickets.models import Priority


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("sla", *args, stdout=out)
    return out.getvalue()


def test_check_accepts_every_preset(db):
    for path in sorted(PRESETS_DIR.glob("*.toml")):
        assert "OK" in run("check", str(path))


def test_check_reports_the_line(tmp_path, db):
    bad = tmp_path / "bad.toml"
    text = (PRESETS_DIR / "default.toml").read_text().replace('critical = "1h"', 'critical = "1x"', 1)
    bad.write_text(text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if 'critical = "1x"' in t)
    with pytest.raises(CommandError) as exc:
        run("check", str(bad))
    assert f"line {line}" in str(exc.value)


def test_load_is_idempotent_and_versions_changes(tmp_path, db):
    assert "installed" in run("load", "default")
    assert "nothing changed" in run("load", "default")
    standard = Plan.objects.get(code="standard")
    text = (PRESETS_DIR / "default.toml").read_text().replace('critical = "1h"', 'critical = "45m"', 1)
    edited = tmp_path / "edited.toml"
    edited.write_text(text)
    out = run("load", str(edited))
    assert "changed plan standard" in out
    standard.refresh_from_db()
    assert standard.version == 2
    assert standard.targets["first_response"]["critical"] == 45


def test_policy_change_rebuilds_open_tickets_in_background(open_ticket, people,
                                                           django_capture_on_commit_callbacks):
    t = open_ticket(impact="most_users", urgency="stopped")  # critical, premium 24x7
    done = open_ticket("already done")
    actions.resolve(actor=people.tess.user, ticket=done, code="fixed", note="ok",
                    at=T0 + timedelta(minutes=5))
    row = TicketSLA.objects.get(ticket=t, target="first_response")
    assert row.target_seconds == 3600 and row.plan_version == 1
    plan = Plan.objects.get(code="premium")
    plan.targets = {**plan.targets, "first_response": {**plan.targets["first_response"],
                                                        "critical": 30}}
    plan.version += 1
    plan.save()
    from tierdesk.sla.rebuild import schedule_rebuild

    with django_capture_on_commit_callbacks(execute=True):
        job = schedule_rebuild([plan.pk])
    job.refresh_from_db()
    assert job.state == "done" and job.total == 1 and job.done == 1 and job.percent == 100
    row.refresh_from_db()
    assert row.target_seconds == 1800 and row.plan_version == 2
    # The rebuild runs "now", months after T0: the tighter target is long breached.
    assert row.state == "breached" and row.breached_at == T0 + timedelta(minutes=30)


def test_calendar_version_bump_reaches_the_rows(open_ticket, people):
    t = open_ticket()
    cal = BusinessCalendar.objects.get(code="always")
    cal.spec = {**cal.spec, "closed": ["2026-03-02"]}
    cal.version += 1
    cal.save()
    Plan.objects.filter(calendar=cal).update(version=2)
    from tierdesk.sla.rebuild import open_tickets, rebuild

    rebuild(open_tickets(), now=T0 + timedelta(hours=1))
    row = TicketSLA.objects.get(ticket=t, target="first_response")
    assert row.calendar_version == 2 and row.elapsed_seconds == 0
    # Closed all of 2 March (UTC): the 8 hours start on the 3rd.
    assert row.due_at == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


def test_waiting_on_third_party_stops_the_clock(open_ticket, people):
    t = open_ticket()
    actions.change_status(actor=people.tess.user, ticket=t, status="waiting_third_party",
                          at=T0 + timedelta(hours=1))
    rows = {r.target: r for r in t.sla_rows.all()}
    assert rows["resolution"].state == "paused" and rows["resolution"].due_at is None
    actions.change_status(actor=people.tess.user, ticket=t, status="open",
                          at=T0 + timedelta(hours=5))
    rows = {r.target: r for r in t.sla_rows.all()}
    # 1 hour counted before the pause; 4320 - 60 minutes left from 5 h.
    assert rows["resolution"].elapsed_seconds == 3600
    assert rows["resolution"].due_at == T0 + timedelta(hours=5, minutes=4320 - 60)


def test_priority_change_applies_new_targets_to_elapsed_time(open_ticket, people):
    t = open_ticket()  # medium: 480 min first response
    actions.change_priority(actor=people.tess.user, ticket=t,
                            priority=Priority.objects.get(code="critical"),
                            at=T0 + timedelta(minutes=90))
    row = TicketSLA.objects.get(ticket=t, target="first_response")
    assert row.state == "breached" and row.target_seconds == 3600


def test_explain_prints_the_clock(open_ticket, people):
    t = open_ticket()
    actions.add_reply(actor=people.tess.user, ticket=t, body="hello", at=T0 + timedelta(minutes=3))
    out = run("explain", t.reference)
    assert t.reference in out and "first_response" in out and "met" in out
    with pytest.raises(CommandError):
        run("explain", "TD-1")


def test_contract_may_only_tighten(people):
    people.acme.contract_targets = {"first_response": {"critical": 30}}
    people.acme.full_clean()
    people.acme.contract_targets = {"first_response": {"critical": 600}}
    with pytest.raises(ValidationError) as exc:
        people.acme.full_clean()
    assert "critical" in str(exc.value)


def test_contract_targets_shape_the_clock(people, open_ticket):
    people.acme.contract_targets = {"first_response": {"critical": 30}}
    people.acme.save()
    t = open_ticket(impact="most_users", urgency="stopped")
    assert TicketSLA.objects.get(ticket=t, target="first_response").target_seconds == 1800


def test_rebuild_jobs_are_claimed_once(db):
    job = RebuildJob.objects.create(plan_ids=[], total=0)
    from tierdesk.sla.rebuild import run_job

    run_job(job.pk)
    run_job(job.pk)  # a second worker finds it taken and does nothing
    job.refresh_from_db()
    assert job.state == "done"


def test_rebuild_command_recomputes_rows(open_ticket, people):
    t = open_ticket()
    TicketSLA.objects.filter(ticket=t).update(state="met", due_at=None)
    assert "rebuilt the SLA rows of 1 tickets" in run("rebuild")
    assert TicketSLA.objects.get(ticket=t, target="resolution").state in {"running", "breached"}


def test_rebuild_drops_the_rows_of_targets_no_longer_in_the_plan(open_ticket, people):
    t = open_ticket()
    kept = open_ticket("a ticket whose rows stay")
    targets = {row.target for row in TicketSLA.objects.filter(ticket=t)}
    assert "resolution_plan" in targets
    plan = t.organisation.plan
    plan.targets = {name: value for name, value in plan.targets.items() if name != "resolution_plan"}
    plan.version += 1
    plan.save()
    from tierdesk.sla.rebuild import rebuild_batch

    assert rebuild_batch([t.pk, kept.pk], now=T0 + timedelta(hours=1)) == 2
    assert {row.target for row in TicketSLA.objects.filter(ticket=t)} == targets - {"resolution_plan"}
    assert {row.target for row in TicketSLA.objects.filter(ticket=kept)} == targets - {"resolution_plan"}
    assert set(TicketSLA.objects.filter(ticket=t).values_list("plan_version", flat=True)) == {plan.version}
