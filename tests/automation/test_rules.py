"""Escalation rules as data: refused when they cannot run, installed from the policy file."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tierdesk.automation.models import EscalationRule
from tierdesk.automation.rules import RuleError, compile_rule
from tierdesk.sla.install import install_policy
from tierdesk.sla.policyfile import PolicyFileError, load_policy_file, load_preset

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("when,then,part,message", [
    ({}, {"notify": ["team_lead"]}, "when", "empty"),
    ({"unresolved_for_days": 5}, {}, "then", "does nothing"),
    ({"priority": "critical"}, {"notify": ["team_lead"]}, "when", "no moment"),
    ({"new": True, "unresolved_for_days": 2}, {"route": True}, "when", "exactly one moment"),
    ({"unresolved_for_dayz": 5}, {"route": True}, "when", "unknown condition"),
    ({"new": True, "priority": "urgentest"}, {"route": True}, "when", "unknown 'urgentest'"),
    ({"new": True, "priority": []}, {"route": True}, "when", "could never match"),
    ({"target": "first_response", "state": "late"}, {"route": True}, "when", "state"),
    ({"unresolved_for_days": 0}, {"route": True}, "when", "at least 1"),
    ({"new": True}, {"assign_team": "Nightshift"}, "then", "no team 'Nightshift'"),
    ({"new": True}, {"notify": ["the_boss"]}, "then", "unknown role"),
    ({"new": True}, {"notify": ["nobody@x.test"]}, "then", "nobody active"),
    ({"new": True}, {"escalate_to": "requester"}, "then", "not a role one can assign"),
    ({"new": True}, {"tier": 4}, "then", "tiers are 1, 2 and 3"),
    ({"new": True}, {"frobnicate": True}, "then", "unknown action"),
])
def test_rules_that_cannot_match_or_act_are_refused(people, when, then, part, message):
    with pytest.raises(RuleError, match=message) as refused:
        compile_rule("r", when, then)
    assert refused.value.part == part


def test_the_admin_refuses_them_with_the_reason(people):
    rule = EscalationRule(name="Bad", when={"new": True}, then={"assign_team": "Nightshift"})
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert "no team 'Nightshift'" in str(refused.value.message_dict["then"])
    EscalationRule(name="Good", when={"new": True}, then={"assign_team": "Service desk"}
                   ).full_clean()


def test_the_admin_page_shows_the_reason(people, client):
    from support import PASSWORD

    client.login(email=people.max.user.email, password=PASSWORD)
    people.max.user.is_superuser = True
    people.max.user.save()
    response = client.post("/admin/automation/escalationrule/add/", {
        "name": "Bad", "position": 0, "is_active": "on", "when": "{}",
        "then": '{"notify": ["team_lead"]}'})
    assert response.status_code == 200
    assert "the condition is empty" in response.content.decode()
    assert not EscalationRule.objects.exists()


@pytest.mark.parametrize("when", [
    {"unresolved_for_days": 5},
    {"customer_escalated": True},
    {"priority": "critical", "first_response_left": "10m"},
    {"breached": "resolution", "category": "technical", "organisation": "Acme", "plan": "premium",
     "tier": [1, 2], "reopen_count": 1},
    {"age_business_days": 3},
    {"warned": "first_response", "channel": "email"},
])
def test_the_language(people, when):
    compile_rule("r", when, {"notify": ["team_lead", "tess@helpful.test"], "raise_priority": True})


def test_keepitsafe_installs_its_five_day_rule_and_the_defaults(db):
    report = install_policy(load_preset("keepitsafe"))
    rules = {r.name: r for r in EscalationRule.objects.all()}
    five = rules["Unresolved after five days"]
    assert five.source == "policy" and five.when == {"unresolved_for_days": 5}
    assert rules["Tier 1 takes new tickets"].source == "default"
    assert any("escalation rule" in line for line in report.lines())
    # Loading it again changes nothing.
    assert not [x for x in install_policy(load_preset("keepitsafe")).lines() if "rule" in x]


def test_an_admins_switch_survives_reloading_defaults(db):
    install_policy(load_preset("kidzonet"))
    EscalationRule.objects.filter(name="Tier 1 takes new tickets").update(is_active=False)
    install_policy(load_preset("kidzonet"))
    assert not EscalationRule.objects.get(name="Tier 1 takes new tickets").is_active
    assert EscalationRule.objects.get(name="Customer escalation").when == {
        "customer_escalated": True}


def test_a_file_with_a_rule_that_cannot_run_is_refused_whole(db, tmp_path):
    from tierdesk.sla.policyfile import PRESETS_DIR

    text = (PRESETS_DIR / "keepitsafe.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text + '\n[[escalations]]\nname = "Night"\nwhen = { new = true }\n'
                   'then = { assign_team = "Nightshift" }\n')
    with pytest.raises(PolicyFileError, match="no team 'Nightshift'") as refused:
        install_policy(load_policy_file(bad))
    assert refused.value.problems[0].line is not None
    assert not EscalationRule.objects.exists()
