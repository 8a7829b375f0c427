"""Impact × urgency → priority by one prepared statement: the same answers as the matrix
read through the ORM (the exact cell first, then the impact-only row; inactive priorities
answered, refused by the create)."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tierdesk.tickets import actions
from tierdesk.tickets.actions.create import default_priority, derive_priority
from tierdesk.tickets.errors import ActionError
from tierdesk.tickets.models import ImpactUrgency, Priority

IMPACTS = ["", *ImpactUrgency.Impact.values]
URGENCIES = ["", *ImpactUrgency.Urgency.values]


def _by_orm(impact: str, urgency: str) -> Priority | None:
    if not impact:
        return None
    cells = {c.urgency: c.priority for c in ImpactUrgency.objects.select_related("priority")
             .filter(impact=impact, urgency__in={urgency, ""})}
    return cells.get(urgency) or cells.get("")


def _fields(p: Priority | None) -> dict | None:
    if p is None:
        return None
    return {f.attname: getattr(p, f.attname) for f in Priority._meta.concrete_fields}


@pytest.fixture
def matrix(desk):
    """The conftest's cells, plus impact-only rows (one of them beside exact cells) and a
    cell pointing at a retired priority."""
    ImpactUrgency.objects.create(impact="some_users", urgency="", priority=desk["low"])
    ImpactUrgency.objects.create(impact="one_user", urgency="", priority=desk["request"])
    ImpactUrgency.objects.create(impact="most_users", urgency="degraded", priority=desk["high"])
    retired = Priority.objects.create(code="retired", name="Retired", rank=9, is_active=False)
    ImpactUrgency.objects.create(impact="one_user", urgency="can_wait", priority=retired)
    return desk


def test_every_cell_answers_as_the_orm(matrix):
    seen = set()
    for impact, urgency in itertools.product(IMPACTS, URGENCIES):
        got = derive_priority(impact=impact, urgency=urgency)
        assert _fields(got) == _fields(_by_orm(impact, urgency)), (impact, urgency)
        if got is not None:
            assert type(got.is_active) is bool and not got._state.adding
            seen.add(got.code)
    # Exact cells, impact-only rows, the retired one and no cell at all were all asked.
    assert {"critical", "high", "medium", "low", "request", "retired"} <= seen
    assert derive_priority(impact="most_users", urgency="can_wait") is None
    assert derive_priority(impact="some_users", urgency="stopped").code == "high"
    assert derive_priority(impact="some_users", urgency="degraded").code == "low"


def test_one_statement(matrix):
    with CaptureQueriesContext(connection) as q:
        derive_priority(impact="some_users", urgency="degraded")
    assert len(q.captured_queries) == 1
    with CaptureQueriesContext(connection) as q:
        assert derive_priority(impact="", urgency="stopped") is None
    assert len(q.captured_queries) == 0


def test_default_priority_is_converted(matrix):
    p = default_priority()
    assert p.code == "medium" and p.is_active is True


def test_a_retired_cell_is_refused_by_the_create(matrix, people):
    with pytest.raises(ActionError) as err:
        actions.create_ticket(actor=None, new=actions.NewTicket(
            requester=people.alice, subject="S", description="D", impact="one_user",
            urgency="can_wait"))
    assert err.value.field == "priority"
