"""The actions' prepared statements on SQLite go straight to the driver when nothing
watches the queries; watched, they go through Django's cursor; errors surface as
Django's either way (`lib.sql.run`)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tierdesk.lib.sql import run as run_sql
from tierdesk.tickets.models import Priority

SQL = f"SELECT code, rank FROM {Priority._meta.db_table} WHERE code = %s"  # noqa: S608
INSERT = (f"INSERT INTO {Priority._meta.db_table} "  # noqa: S608
          "(code, name, name_es, rank, description, is_active) "
          "VALUES (%s, %s, '', %s, '', %s) RETURNING id")


def test_the_same_answers_watched_or_not(desk):
    bare = run_sql(connection, SQL, ["high"])
    with CaptureQueriesContext(connection) as q:
        watched = run_sql(connection, SQL, ["high"])
    assert bare == watched and bare[0] == ("high", 2)
    assert len(q.captured_queries) == 1  # a watcher sees it
    assert run_sql(connection, SQL, ["nope"])[0] is None
    rows = run_sql(connection, f"SELECT code FROM {Priority._meta.db_table} "  # noqa: S608
                       "ORDER BY rank", [], fetch_all=True)[0]
    assert [r[0] for r in rows] == ["critical", "high", "medium", "low", "request"]


def test_a_write_counts_its_rows_and_stays_in_the_transaction(desk):
    with transaction.atomic():
        sid = transaction.savepoint()
        row, changed = run_sql(connection, INSERT, ["new", "New", 40, True])
        assert row is not None and changed == 1
        assert Priority.objects.filter(pk=row[0], code="new").exists()
        transaction.savepoint_rollback(sid)
    assert not Priority.objects.filter(code="new").exists()


@pytest.mark.parametrize("watched", [False, True])
def test_errors_surface_as_djangos(desk, watched):
    with transaction.atomic():
        if watched:
            with CaptureQueriesContext(connection), pytest.raises(IntegrityError):
                run_sql(connection, INSERT, ["high", "Again", 99, True])
        else:
            with pytest.raises(IntegrityError):
                run_sql(connection, INSERT, ["high", "Again", 99, True])
        transaction.set_rollback(True)
