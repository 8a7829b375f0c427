"""Model instances from one hand-written SELECT: the routing reads of every inbound message.

Routing asks the same few questions of every message (who is this address, which
ticket is TD-n, how much did this sender send). Through the ORM each costs a
millisecond or more of query compilation on this machine for a fraction of that
in the database; here the SQL is written once per process and the rows are
turned into ordinary instances with `Model.from_db`, with the same converters
the ORM applies (datetimes on SQLite, JSON), and related objects cached as
select_related would. Reads only; SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Field, Model


@dataclass(frozen=True)
class Part:
    """One model's columns in a SELECT, under a table alias."""

    model: type[Model]
    alias: str

    @property
    def fields(self) -> list[Field]:
        return list(self.model._meta.concrete_fields)

    def columns(self) -> str:
        q = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{q(str(f.column))}" for f in self.fields)

    def table(self) -> str:
        return f"{connection.ops.quote_name(self.model._meta.db_table)} {self.alias}"


_converters: dict[tuple[type[Model], str], list[tuple[int, list[Callable]]]] = {}


def _convert(part: Part, values: Sequence[Any]) -> list[Any]:
    key = (part.model, connection.vendor)
    plan = _converters.get(key)
    if plan is None:
        plan = []
        for i, f in enumerate(part.fields):
            found = connection.ops.get_db_converters(f.get_col(part.alias)) + \
                f.get_db_converters(connection)
            if found:
                plan.append((i, found))
        _converters[key] = plan
    out = list(values)
    for i, found in plan:
        if out[i] is not None:
            col = part.fields[i].get_col(part.alias)
            for fn in found:
                out[i] = fn(out[i], col, connection)
    return out


def fetch(sql: str, params: Sequence[Any], parts: Sequence[Part]) -> list[Model | None] | None:
    """The first row of `sql` (its SELECT lists each part's columns, in order) as one
    instance per part — None for a part whose primary key is NULL (an outer join
    that found nothing) — or None when there is no row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    out: list[Model | None] = []
    at = 0
    for part in parts:
        n = len(part.fields)
        values = row[at:at + n]
        at += n
        pk_index = next(i for i, f in enumerate(part.fields) if f.primary_key)
        if values[pk_index] is None:
            out.append(None)
            continue
        out.append(part.model.from_db(connection.alias, [f.attname for f in part.fields],
                                      _convert(part, values)))
    return out


def cache(instance: Model, name: str, value: Model | None) -> None:
    """As select_related would: `instance.<name>` answers from memory (None: does not exist)."""
    instance._meta.get_field(name).set_cached_value(instance, value)  # type: ignore[union-attr]


def scalar_row(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run one statement; the number of rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def column(model: type[Model], field: str) -> str:
    return quote(str(model._meta.get_field(field).column))  # type: ignore[union-attr]


def table(model: type[Model]) -> str:
    return quote(model._meta.db_table)
