"""A broken policy file is refused with every problem, its line and its key path.

Each test breaks one line of a small valid file and marks it `# <-`; the
problem must be reported on exactly that line.
"""

from __future__ import annotations

import pytest

from tierdesk.sla.policyfile import PolicyFileError, load_policy_file

VALID = """\
# A small valid policy file.
[provider]
name = "Test Support"
language = "en"
timezone = "Europe/Madrid"

[desk]
pause_statuses = ["waiting_customer"]

[[priorities]]
code = "high"
name = { en = "High", es = "Alta" }

[[priorities]]
code = "low"
name = { en = "Low", es = "Baja" }

[calendars.office]
hours = { mon = ["09:00-18:00"], tue = ["09:00-18:00"] }

[plans.premium]
name = { en = "Premium", es = "Premium" }
calendar = "office"

[plans.premium.targets.first_response]
high = "1h"
low = "8h"
"""


def broken(old: str, new: str) -> str:
    assert VALID.count(old) == 1, old
    return VALID.replace(old, new)


def marked_line(text: str) -> int:
    (line,) = [n for n, row in enumerate(text.splitlines(), 1) if "# <-" in row]
    return line


def problems_of(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(PolicyFileError) as caught:
        load_policy_file(text)
    return [(p.line, p.path, p.message) for p in caught.value.problems]


def only_problem(text: str) -> tuple[int | None, str, str]:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def test_the_valid_file_loads():
    policy = load_policy_file(VALID)
    assert policy.priority_codes == ("high", "low")
    targets = policy.engine_policy("premium")["targets"]
    assert targets == {"first_response": {"high": 60, "low": 480}}


def test_a_bad_duration_names_line_path_and_the_forms_to_write():
    text = broken('high = "1h"', 'high = "2x"  # <-')
    assert only_problem(text) == (
        marked_line(text), "plans.premium.targets.first_response.high",
        "'2x' is not a duration; write minutes, '2h', '30m', '3d' or 'end of next business day'")


def test_the_error_reads_line_first():
    text = broken('high = "1h"', 'high = "2x"')
    with pytest.raises(PolicyFileError) as caught:
        load_policy_file(text)
    assert str(caught.value) == (
        "line 26, plans.premium.targets.first_response.high: '2x' is not a duration; write "
        "minutes, '2h', '30m', '3d' or 'end of next business day'")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("written", ['"-8h"', "-30", '"-2d"'])
def test_a_negative_duration_is_refused(written):
    text = broken('low = "8h"', f"low = {written}  # <-")
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "plans.premium.targets.first_response.low")
    assert "is negative; a target must be a positive duration" in message


def test_a_zero_duration_is_refused():
    text = broken('low = "8h"', "low = 0  # <-")
    line, _, message = only_problem(text)
    assert line == marked_line(text)
    assert "must be more than zero" in message


def test_an_unknown_calendar_suggests_the_close_one():
    text = broken('calendar = "office"', 'calendar = "ofice"  # <-')
    assert only_problem(text) == (
        marked_line(text), "plans.premium.calendar",
        "unknown calendar 'ofice'; did you mean 'office'? (known: office)")


def test_an_unknown_priority_in_targets():
    text = broken('low = "8h"', 'urgent = "8h"  # <-')
    assert only_problem(text) == (
        marked_line(text), "plans.premium.targets.first_response.urgent",
        "unknown priority 'urgent' (known: high, low)")


def test_an_unknown_target_name_points_at_its_header():
    text = broken("[plans.premium.targets.first_response]",
                  "[plans.premium.targets.first_reponse]  # <-")
    assert only_problem(text) == (
        marked_line(text), "plans.premium.targets.first_reponse",
        "unknown target 'first_reponse'; did you mean 'first_response'? "
        "(known: first_response, resolution_plan, resolution)")


def test_targets_written_inline_point_at_their_line():
    text = broken('[plans.premium.targets.first_response]\nhigh = "1h"\nlow = "8h"\n',
                  '[plans.premium.targets]\n'
                  'first_response = { high = "1h", low = "8h" }\n'
                  'resolution = { high = "8h", low = "5x" }  # <-\n')
    line, path, _ = only_problem(text)
    assert (line, path) == (marked_line(text), "plans.premium.targets.resolution.low")


def test_targets_written_as_dotted_keys_point_at_their_line():
    text = broken('calendar = "office"\n',
                  'calendar = "office"\ntargets.resolution.high = "soon"  # <-\n')
    line, path, _ = only_problem(text)
    assert (line, path) == (marked_line(text), "plans.premium.targets.resolution.high")


def test_a_calendar_the_engine_refuses_is_reported_at_the_calendar():
    text = broken('hours = { mon = ["09:00-18:00"], tue = ["09:00-18:00"] }',
                  'hours = { mon = ["09:00-18:00"], tue = ["9-18"] }  # <-')
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "calendars.office.hours.tue[1]")
    assert message.startswith("the calendar is not valid: ")
    assert "'9-18'" in message


def test_a_bad_season_date_points_at_its_line():
    text = broken("[plans.premium]\n", """\
[[calendars.office.seasons]]
name = "Summer"
dates = ["07-01..08-31",
         "13-01"]  # <-
hours = { mon = ["08:00-15:00"] }

[plans.premium]
""")
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "calendars.office.seasons[1].dates[2]")
    assert "'13-01'" in message


def test_an_unknown_calendar_key_points_at_the_key():
    text = broken('hours = { mon = ["09:00-18:00"], tue = ["09:00-18:00"] }\n',
                  'hours = { mon = ["09:00-18:00"], tue = ["09:00-18:00"] }\n'
                  'holiday = { country = "ES" }  # <-\n')
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "calendars.office.holiday")
    assert "unknown key 'holiday'" in message


def test_a_plan_on_a_refused_calendar_is_not_reported_twice():
    text = broken('tue = ["09:00-18:00"] }', 'tue = ["18:00-09:00"] }')
    assert [path for _, path, _ in problems_of(text)] == ["calendars.office.hours.tue[1]"]


def test_a_duplicate_priority_points_at_the_second_code():
    text = broken('code = "low"', 'code = "high"  # <-').replace('low = "8h"\n', "")
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "priorities[2].code")
    assert message == "duplicate priority 'high': each priority is listed once"


def test_a_status_that_may_not_pause():
    text = broken('pause_statuses = ["waiting_customer"]',
                  'pause_statuses = ["waiting_customer", "open"]  # <-')
    assert only_problem(text) == (
        marked_line(text), "desk.pause_statuses[2]",
        "'open' cannot stop the clock; only waiting_customer and waiting_third_party can")


def test_a_status_the_desk_does_not_have_on_a_multiline_list():
    text = broken('pause_statuses = ["waiting_customer"]', """pause_statuses = [
  "waiting_customer",
  "on_hold",  # <-
]""")
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "desk.pause_statuses[2]")
    assert message.startswith("unknown status 'on_hold'")


def test_a_missing_translation():
    text = broken('name = { en = "Low", es = "Baja" }', 'name = { en = "Low" }  # <-')
    assert only_problem(text) == (marked_line(text), "priorities[2].name",
                                  'missing the Spanish text (es = "...")')


def test_an_unknown_table_is_a_typo_not_ignored():
    text = VALID + '\n[provder]  # <-\nname = "Test Support"\n'
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "provder")
    assert "did you mean 'provider'?" in message


def test_a_missing_table_has_no_line():
    text = broken('[desk]\npause_statuses = ["waiting_customer"]\n', "")
    assert only_problem(text) == (None, "", "the file needs 'desk'")


def test_a_missing_key_points_at_its_table():
    text = broken('calendar = "office"\n', "")
    assert only_problem(text) == (VALID.splitlines().index("[plans.premium]") + 1,
                                  "plans.premium", "[plans.premium] needs 'calendar'")


def test_an_unknown_time_zone():
    text = broken('timezone = "Europe/Madrid"', 'timezone = "Europe/Madird"  # <-')
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "provider.timezone")
    assert message.startswith("unknown time zone 'Europe/Madird'")


def test_an_unknown_default_plan():
    text = broken('pause_statuses = ["waiting_customer"]',
                  'pause_statuses = ["waiting_customer"]\ndefault_plan = "gold"  # <-')
    assert only_problem(text) == (marked_line(text), "desk.default_plan",
                                  "unknown plan 'gold' (known: premium)")


def test_a_matrix_cell_with_an_unknown_priority():
    text = VALID + """
[matrix]
impacts = [{ code = "most_users", name = { en = "Most", es = "Mayoría" } },
           { code = "one_user", name = { en = "One", es = "Uno" } }]

[matrix.priority]
most_users = "high"
one_user = "lowest"  # <-
"""
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "matrix.priority.one_user")
    assert message.startswith("unknown priority 'lowest'; did you mean 'low'?")


def test_an_escalation_rule_needs_name_when_and_then():
    text = VALID + """
[[escalations]]
name = "Too old"
when = { unresolved_for_days = 5 }
then = { notify = ["manager"] }

[[escalations]]  # <-
name = "Half done"
when = { unresolved_for_days = 5 }
"""
    assert only_problem(text) == (marked_line(text), "escalations[2]",
                                  "an escalation rule needs 'then'")


def test_escalation_rules_are_kept_as_data_with_their_line():
    text = VALID + """
[[escalations]]  # <-
name = "Too old"
when = { unresolved_for_days = 5 }
then = { notify = ["manager"] }
"""
    (rule,) = load_policy_file(text).escalations
    assert (rule.name, rule.when, rule.then, rule.line) == (
        "Too old", {"unresolved_for_days": 5}, {"notify": ["manager"]}, marked_line(text))


def test_a_duplicate_category_code_anywhere_in_the_tree():
    text = VALID + """
[[categories]]
code = "network"
name = { en = "Network", es = "Red" }
children = [
  { code = "wifi", name = { en = "Wi-Fi", es = "Wi-Fi" } },
  { code = "network", name = { en = "Cabling", es = "Cableado" } },  # <-
]
"""
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "categories[1].children[2].code")
    assert "unique across the whole tree" in message


def test_a_syntax_error_gives_tomllibs_line():
    text = broken('low = "8h"', 'low = "8h  # <-')
    line, path, message = only_problem(text)
    assert (line, path) == (marked_line(text), "")
    assert message.startswith("not valid TOML: ")


def test_every_problem_is_reported_at_once_in_line_order():
    text = broken('high = "1h"', 'high = "2x"')
    text = text.replace('calendar = "office"', 'calendar = "nowhere"')
    text = text.replace('code = "low"', 'code = "high"').replace('low = "8h"\n', "")
    problems = problems_of(text)
    assert [path for _, path, _ in problems] == [
        "priorities[2].code", "plans.premium.calendar",
        "plans.premium.targets.first_response.high"]
    lines = [line or 0 for line, _, _ in problems]
    assert lines == sorted(lines)


def test_a_file_is_read_from_a_path(tmp_path):
    path = tmp_path / "acme.toml"
    path.write_text(broken('high = "1h"', 'high = "2x"'), encoding="utf-8")
    with pytest.raises(PolicyFileError) as caught:
        load_policy_file(path)
    assert str(caught.value).startswith(f"{path}: line 26, ")


def test_a_priority_with_a_bad_name_is_still_known_to_the_targets():
    text = broken('name = { en = "Low", es = "Baja" }', 'name = "Low"  # <-')
    assert only_problem(text) == (
        marked_line(text), "priorities[2].name",
        'expected the text in every language, e.g. { en = "Critical", es = "Crítica" }')


def test_a_matrix_row_missing_an_urgency():
    text = VALID + """
[matrix]
impacts = [{ code = "most_users", name = { en = "Most", es = "Mayoría" } }]
urgencies = [{ code = "stopped", name = { en = "Stopped", es = "Parado" } },
             { code = "can_wait", name = { en = "Can wait", es = "Puede esperar" } }]

[matrix.priority]
most_users = { stopped = "high" }  # <-
"""
    assert only_problem(text) == (marked_line(text), "matrix.priority.most_users",
                                  "no priority for urgency 'can_wait'")


def test_an_intake_question_cannot_set_an_axis_the_matrix_lacks():
    text = VALID + """
[[intake]]
code = "urgency"
text = "Can you keep working?"
sets = "urgency"  # <-
"""
    assert only_problem(text) == (marked_line(text), "intake[1].sets",
                                  "the answer sets the urgency, but [matrix] defines no urgency")


def test_lines_survive_multiline_strings_quoted_keys_and_comments():
    text = VALID.replace('code = "high"\n', '''code = "high"
description = """
[plans.premium]
calendar = "not a key"
"""
''').replace("[calendars.office]", '[calendars."office"]  # [plans.fake]') \
        .replace('low = "8h"', "'low' = \"8 hours\"  # <-")
    line, path, _ = only_problem(text)
    assert (line, path) == (marked_line(text), "plans.premium.targets.first_response.low")
