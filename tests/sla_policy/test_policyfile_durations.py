"""Durations as providers write them, and contracts that may only tighten a plan."""

from __future__ import annotations

import pytest

from tierdesk.sla.policyfile import (
    PolicyFileError,
    format_duration,
    load_preset,
    parse_duration,
    tighten,
)

EOB1 = {"end_of_business_day": 1}


@pytest.mark.parametrize(("written", "target"), [
    (90, 90),
    ("90", 90),
    ("30m", 30),
    ("2h", 120),
    ("1h30m", 90),
    ("1h 30m", 90),
    (" 2H ", 120),
    ("72h", 4320),
    ("3d", {"business_days": 3}),
    ("next business day", EOB1),
    ("End of next business day", EOB1),
    ({"business_days": 2}, {"business_days": 2}),
    ({"end_of_business_day": 1}, EOB1),
])
def test_durations(written, target):
    assert parse_duration(written) == target


@pytest.mark.parametrize("written", ["2x", "", "h", "1.5h", 1.5, True, "2d4h", "tomorrow",
                                     {"weeks": 1}, {"business_days": "2"}])
def test_not_durations(written):
    with pytest.raises(ValueError, match=r"not a duration|whole number"):
        parse_duration(written)


@pytest.mark.parametrize("written", [-5, "-2h", "-3d", {"business_days": -1}])
def test_negative_durations(written):
    with pytest.raises(ValueError, match="is negative"):
        parse_duration(written)


@pytest.mark.parametrize(("target", "shown"), [
    (30, "30m"), (60, "1h"), (90, "1h30m"), ({"business_days": 3}, "3d"),
    (EOB1, "end of next business day"),
])
def test_format_duration_reads_back(target, shown):
    assert format_duration(target) == shown
    assert parse_duration(shown) == target


PUBLISHED = {
    "first_response": {"high": "4h", "low": "next business day"},
    "resolution": {"high": "3d"},
}


def test_a_tighter_contract_is_merged_into_the_plan():
    merged = tighten(PUBLISHED, {"first_response": {"high": "2h"}, "resolution": {"high": "2d"}})
    assert merged == {
        "first_response": {"high": 120, "low": EOB1},
        "resolution": {"high": {"business_days": 2}},
    }


def test_an_equal_target_is_accepted():
    assert tighten(PUBLISHED, {"first_response": {"high": 240}})["first_response"]["high"] == 240


def test_a_target_the_plan_does_not_publish_may_be_added():
    merged = tighten(PUBLISHED, {"resolution_plan": {"high": "8h"}, "resolution": {"low": "5d"}})
    assert merged["resolution_plan"] == {"high": 480}
    assert merged["resolution"] == {"high": {"business_days": 3}, "low": {"business_days": 5}}


def test_a_looser_contract_is_refused_naming_target_priority_and_both_values():
    with pytest.raises(PolicyFileError) as caught:
        tighten(PUBLISHED, {"first_response": {"high": "8h"}})
    (problem,) = caught.value.problems
    assert problem.path == "first_response.high"
    assert problem.message == ("looser than the published target (published 4h, offered 8h); "
                               "a contract may only make a target tighter")
    assert isinstance(caught.value, ValueError)


def test_an_incomparable_contract_is_refused():
    with pytest.raises(PolicyFileError, match=r"first_response\.low: cannot compare .*"
                                              r"published end of next business day, offered 8h"):
        tighten(PUBLISHED, {"first_response": {"low": "8h"}})


def test_every_refusal_is_listed():
    with pytest.raises(PolicyFileError) as caught:
        tighten(PUBLISHED, {"first_response": {"high": "5h", "low": "2x"},
                            "resolution": {"high": "4d"}, "closure": {"high": "1h"}})
    assert sorted(p.path for p in caught.value.problems) == [
        "closure", "first_response.high", "first_response.low", "resolution.high"]


def test_unknown_priorities_are_refused_when_the_plans_are_known():
    with pytest.raises(PolicyFileError, match="unknown priority 'urgent'"):
        tighten(PUBLISHED, {"first_response": {"urgent": "1h"}}, priorities=("high", "low"))


def test_seed_004_a_contract_is_never_worse_than_the_published_sla():
    itsafer = load_preset("itsafer")
    policy = itsafer.engine_policy("laboral", overrides={"first_response": {"critical": "30m"}})
    assert policy["targets"]["first_response"]["critical"] == 30
    assert policy["targets"]["first_response"]["high"] == 120  # the plan's, untouched
    with pytest.raises(PolicyFileError, match="published 1h, offered 2h"):
        itsafer.engine_policy("laboral", overrides={"first_response": {"critical": "2h"}})
