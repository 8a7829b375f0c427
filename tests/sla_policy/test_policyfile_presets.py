"""The seeded providers' published SLA tables, asserted against their presets.

Each table below is copied from the provider's published policy
(/work/shared/seeds/00N_*.txt) and checked against the preset, on the engine
where a calendar decides the answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tierdesk.sla.engine import STATUSES, Calendar, Policy, evaluate
from tierdesk.sla.policyfile import (
    DEFAULT_CATEGORIES,
    DESK_STATUSES,
    PRESETS_DIR,
    load_policy_file,
    load_preset,
    parse_duration,
    preset_codes,
)

H = 60  # minutes in an hour
MADRID = ZoneInfo("Europe/Madrid")
EOB1 = {"end_of_business_day": 1}


def at(zone: str | ZoneInfo, text: str) -> datetime:
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def test_the_presets_are_the_seeded_providers_and_the_default():
    assert preset_codes() == ["cit", "default", "ionetech", "itsafer", "keepitsafe", "kidzonet"]


@pytest.mark.parametrize("code", preset_codes())
def test_every_preset_loads_and_every_plan_builds_an_engine_policy(code):
    policy_file = load_preset(code)
    for plan in policy_file.plans:
        policy = Policy.from_dict(policy_file.engine_policy(plan))
        assert policy.pause_statuses <= {"waiting_customer", "waiting_third_party"}
    assert policy_file.default_plan in policy_file.plans
    for calendar in policy_file.calendars:
        assert isinstance(policy_file.calendar(calendar), Calendar)


@pytest.mark.parametrize("code", sorted(set(preset_codes()) - {"default"}))
def test_every_seeded_preset_marks_its_assumptions(code):
    assert "assumption:" in (PRESETS_DIR / f"{code}.toml").read_text(encoding="utf-8")


# -- seed 000, KeepItSafe


def test_seed_000_emails_answered_by_the_next_business_day():
    keepitsafe = load_preset("keepitsafe")
    (plan,) = keepitsafe.plans.values()
    assert plan.targets["first_response"] == dict.fromkeys(keepitsafe.priority_codes, EOB1)
    policy = Policy.from_dict(keepitsafe.engine_policy())
    zone = "America/New_York"
    # An e-mail on Friday evening is due by the end of Monday; one on Monday
    # morning by the end of Tuesday.
    for sent, due in [("2027-07-16 20:00", "2027-07-19 17:00"),
                      ("2027-07-19 10:00", "2027-07-20 17:00")]:
        events = [{"at": at(zone, sent), "type": "created", "priority": "high"}]
        state = evaluate(policy, events, at(zone, sent))["first_response"]
        assert (state.state, state.due) == ("running", at(zone, due))


def test_seed_000_three_tiers_and_the_five_day_escalation():
    keepitsafe = load_preset("keepitsafe")
    assert [tier.code for tier in keepitsafe.tiers] == ["tier1", "tier2", "tier3"]
    (rule,) = keepitsafe.escalations
    assert rule.when == {"unresolved_for_days": 5}
    assert rule.then["escalate_to"] == "support_manager"


# -- seed 001, Kidzonet: "Ticket Response Time"

KIDZONET = [
    # priority   standard  premium
    ("high",     2 * H,    1 * H),
    ("medium",   8 * H,    4 * H),
    ("low",      72 * H,   48 * H),
    ("request",  96 * H,   72 * H),
]


@pytest.mark.parametrize(("priority", "standard", "premium"), KIDZONET)
def test_seed_001_response_times(priority, standard, premium):
    kidzonet = load_preset("kidzonet")
    assert kidzonet.plans["standard"].targets["first_response"][priority] == standard
    assert kidzonet.plans["premium"].targets["first_response"][priority] == premium


def test_seed_001_priorities_and_24_7():
    kidzonet = load_preset("kidzonet")
    assert [(p.code, p.label("en")) for p in kidzonet.priorities] == [
        ("high", "High (Critical)"), ("medium", "Medium (Major)"), ("low", "Low (Minor)"),
        ("request", "Question (Request)")]
    calendar = kidzonet.calendar("24x7")
    sunday_night = at("Europe/London", "2027-07-18 23:30")
    # Premium / High: 1 h, around the clock.
    assert calendar.add(sunday_night, timedelta(hours=1)) == at("Europe/London",
                                                                 "2027-07-19 00:30")


# -- seed 002, I One Tech Solutions

IONETECH = [("critical", 1 * H), ("high", 4 * H), ("medium", 24 * H), ("low", 48 * H)]


@pytest.mark.parametrize(("priority", "minutes"), IONETECH)
def test_seed_002_response_times(priority, minutes):
    assert load_preset("ionetech").plans["standard"].targets["first_response"][priority] == minutes


@pytest.mark.parametrize(("created", "due"), [
    ("2027-07-14 10:00", "2027-07-14 11:00"),   # Wednesday morning
    ("2027-07-14 17:30", "2027-07-15 08:30"),   # half an hour today, half tomorrow
    ("2027-07-16 17:45", "2027-07-19 08:45"),   # Friday evening waits for Monday
    ("2027-07-17 12:00", "2027-07-19 09:00"),   # Saturday: Monday's first hour
    ("2027-07-14 07:00", "2027-07-14 09:00"),   # before opening at 8:00
])
def test_seed_002_critical_is_one_working_hour_monday_to_friday_8_to_18(created, due):
    policy = Policy.from_dict(load_preset("ionetech").engine_policy())
    zone = "Asia/Phnom_Penh"
    events = [{"at": at(zone, created), "type": "created", "priority": "critical"}]
    state = evaluate(policy, events, at(zone, created))["first_response"]
    assert state.target == timedelta(hours=1)
    assert state.due == at(zone, due)


def test_seed_002_the_four_families_with_their_examples():
    ionetech = load_preset("ionetech")
    assert [c.code for c in ionetech.categories] == [c.code for c in DEFAULT_CATEGORIES] == [
        "technical", "billing", "infrastructure", "security"]
    technical = ionetech.categories[0]
    assert [c.name["en"] for c in technical.children] == [
        "System crash", "Software error", "Connectivity", "Performance degradation"]
    assert ionetech.categories[3].guidance["critical"] == {
        "en": "Security breaches or compliance violations."}


# -- seed 003, CIT: "CIT RESPONSE (SLA)"

CIT = [
    # priority    response  resolution plan  resolution
    ("critical",  1 * H,    2 * H,           8 * H),
    ("high",      4 * H,    8 * H,           24 * H),
    ("medium",    8 * H,    24 * H,          72 * H),
]


@pytest.mark.parametrize(("priority", "response", "plan", "resolution"), CIT)
def test_seed_003_ticket_timeline(priority, response, plan, resolution):
    targets = load_preset("cit").plans["managed"].targets
    assert targets["first_response"][priority] == response
    assert targets["resolution_plan"][priority] == plan
    assert targets["resolution"][priority] == resolution


def test_seed_003_p2_resolution_plan_is_8_hours():
    cit = load_preset("cit")
    assert cit.priority("high").label() == "P2 Serious"
    assert cit.engine_policy()["targets"]["resolution_plan"]["high"] == 8 * H


@pytest.mark.parametrize(("impact", "priority"), [
    ("most_users", "critical"), ("some_users", "high"), ("one_user", "medium")])
def test_seed_003_impact_picks_the_priority(impact, priority):
    cit = load_preset("cit")
    assert cit.matrix is not None
    assert cit.matrix.priority_for(impact) == priority


def test_seed_003_the_dispatch_questions():
    cit = load_preset("cit")
    assert len(cit.intake) == 7
    affected = cit.intake[3]
    assert (affected.text["en"], affected.sets) == ("How many people is it affecting?", "impact")


# -- seed 004, Itsafer


def test_seed_004_is_spanish_in_madrid_with_a_24x7_plan():
    itsafer = load_preset("itsafer")
    assert (itsafer.provider.language, itsafer.provider.timezone) == ("es", "Europe/Madrid")
    assert itsafer.calendars["laboral"]["holidays"] == {"country": "ES", "subdivision": "MD"}
    assert itsafer.plans["24x7"].calendar == "24x7"
    assert itsafer.pause_statuses == ("waiting_third_party", "waiting_customer")
    assert (itsafer.reopen_days, itsafer.auto_close_days) == (None, 0)
    assert itsafer.intake[0].text == {"es": "Explique los síntomas del problema y adjunte los "
                                            "mensajes de error, si existen."}


def test_seed_004_on_15_july_at_14_30_thirty_minutes_are_left_in_the_day():
    calendar = load_preset("itsafer").calendar("laboral")
    start = at(MADRID, "2027-07-15 14:30")  # a Thursday of the jornada reducida
    assert calendar.elapsed(start, at(MADRID, "2027-07-16 00:00")) == timedelta(minutes=30)
    assert calendar.add(start, timedelta(minutes=30)) == at(MADRID, "2027-07-15 15:00")
    # The 31st minute is the next morning's first, at 8:00.
    assert calendar.add(start, timedelta(minutes=31)) == at(MADRID, "2027-07-16 08:01")


JORNADA = [
    # day            weekday   open (jornada)
    ("2027-03-10",   "Wed",    "09:00-18:00"),   # normal
    ("2027-06-30",   "Wed",    "09:00-18:00"),   # normal, last day
    ("2027-07-01",   "Thu",    "08:00-15:00"),   # reducida starts
    ("2027-08-31",   "Tue",    "08:00-15:00"),   # reducida, last day
    ("2027-09-01",   "Wed",    "09:00-18:00"),   # normal again
    ("2027-01-05",   "Tue",    "08:00-15:00"),   # 5 de enero
    ("2027-12-24",   "Fri",    "08:00-15:00"),   # 24 de diciembre
    ("2027-12-31",   "Fri",    "08:00-15:00"),   # 31 de diciembre
    ("2027-01-06",   "Wed",    None),            # Epifanía (ES)
    ("2027-05-03",   "Mon",    None),            # Día de la Comunidad de Madrid, moved (MD)
    ("2027-07-17",   "Sat",    None),            # weekend, even in summer
]


@pytest.mark.parametrize(("day", "weekday", "hours"), JORNADA)
def test_seed_004_jornada_normal_reducida_and_holidays(day, weekday, hours):
    calendar = load_preset("itsafer").calendar("laboral")
    midnight = at(MADRID, f"{day} 00:00")
    assert midnight.strftime("%a") == weekday
    opened = calendar.elapsed(midnight, midnight + timedelta(days=1))
    if hours is None:
        assert opened == timedelta(0)
        return
    first, last = hours.split("-")
    assert calendar.next_open(midnight) == at(MADRID, f"{day} {first}")
    assert opened == at(MADRID, f"{day} {last}") - at(MADRID, f"{day} {first}")


def test_seed_004_waiting_on_a_third_party_does_not_count():
    itsafer = load_preset("itsafer")
    policy = Policy.from_dict(itsafer.engine_policy("laboral"))
    events = [
        {"at": at(MADRID, "2027-03-10 10:00"), "type": "created", "priority": "critical"},
        {"at": at(MADRID, "2027-03-10 10:30"), "type": "first_response"},
        {"at": at(MADRID, "2027-03-10 11:00"), "type": "status", "status": "waiting_third_party"},
        {"at": at(MADRID, "2027-03-10 17:00"), "type": "status", "status": "in_progress"},
    ]
    resolution = evaluate(policy, events, at(MADRID, "2027-03-10 17:00"))["resolution"]
    # One working hour counted before the pause; seven of the eight remain,
    # i.e. the last hour of the day and six the next morning.
    assert resolution.elapsed == timedelta(hours=1)
    assert resolution.due == at(MADRID, "2027-03-11 15:00")


def test_seed_004_the_24x7_plan_never_closes():
    calendar = load_preset("itsafer").calendar("24x7")
    christmas = at(MADRID, "2027-12-25 03:00")
    assert calendar.add(christmas, timedelta(minutes=30)) == at(MADRID, "2027-12-25 03:30")


def test_seed_004_targets_are_assumptions_but_valid():
    itsafer = load_preset("itsafer")
    text = (PRESETS_DIR / "itsafer.toml").read_text(encoding="utf-8")
    assert text.count("# assumption: all figures") == 6  # one per target table
    for plan in itsafer.plans.values():
        assert set(plan.targets) == {"first_response", "resolution_plan", "resolution"}


# -- the default


def test_the_default_has_three_plans_and_five_priorities():
    default = load_preset("default")
    assert list(default.plans) == ["standard", "premium", "24x7"]
    assert default.priority_codes == ("critical", "high", "medium", "low", "request")
    assert default.categories == DEFAULT_CATEGORIES
    assert default.matrix is not None
    assert default.matrix.priority_for("most_users", "stopped") == "critical"
    assert default.matrix.priority_for("one_user", "can_wait") == "low"


def test_premium_is_never_looser_than_standard():
    plans = load_preset("default").plans
    for name, by_priority in plans["standard"].targets.items():
        for priority, standard in by_priority.items():
            premium = plans["premium"].targets[name][priority]
            if isinstance(standard, int) and isinstance(premium, int):
                assert premium <= standard, (name, priority)


def test_a_duration_reads_the_same_in_a_preset_and_in_code():
    assert load_preset("kidzonet").plans["premium"].targets["first_response"]["low"] == \
        parse_duration("48h")


def test_the_documented_example_loads():
    docs = PRESETS_DIR.parents[2] / "docs" / "POLICY_FILE.md"
    example = docs.read_text(encoding="utf-8").split("```toml\n")[-1].split("```")[0]
    acme = load_policy_file(example)
    assert acme.provider.language == "es"
    assert acme.intake[0].text == {"es": "¿A cuántas personas afecta?"}
    assert acme.matrix is not None and acme.matrix.priority_for("one_user", "stopped") == "high"
    assert [code for _, _, c in acme.iter_categories() for code in [c.code]] == [
        "backup", "backup-failed", "restore", "network"]
    assert acme.engine_policy("24x7")["pause_statuses"] == ["waiting_third_party"]
    assert acme.engine_policy("office")["calendar"]["timezone"] == "Europe/Madrid"
    assert acme.escalations[0].name == "Critical without an answer"
    # The summer timetable: a shorter day on 15 July.
    office = acme.calendar("office")
    assert office.elapsed(at(MADRID, "2027-07-15 00:00"), at(MADRID, "2027-07-16 00:00")) == \
        timedelta(hours=7)


def test_the_desk_statuses_are_the_engines():
    assert set(DESK_STATUSES) == set(STATUSES)
