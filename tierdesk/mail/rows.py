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

from tierdesk.lib.sql import run as sql_run


@dataclass(frozen=True)
class Part:
    """One model's columns in a SELECT, under a table alias."""

    model: type[Model]
    alias: str
    exclude: tuple[str, ...] = ()  # fields left out (deferred on the instance, as defer())

    @property
    def fields(self) -> list[Field]:
        return [f for f in self.model._meta.concrete_fields if f.name not in self.exclude]

    def columns(self) -> str:
        q = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{q(str(f.column))}" for f in self.fields)

    def table(self) -> str:
        return f"{connection.ops.quote_name(self.model._meta.db_table)} {self.alias}"


@dataclass(frozen=True)
class _Plan:
    """What turning a part's columns into an instance needs, worked out once per process
    and database vendor: the attribute names, where the primary key is, and the
    converters the ORM would apply with the column expression they take."""

    width: int
    attnames: list[str]
    pk_index: int
    converters: list[tuple[int, Any, list[Callable]]]


_plans: dict[tuple[Part, str], _Plan] = {}


def _plan(part: Part) -> _Plan:
    key = (part, connection.vendor)
    plan = _plans.get(key)
    if plan is None:
        fields = part.fields
        converters = []
        for i, f in enumerate(fields):
            col = f.get_col(part.alias)
            found = connection.ops.get_db_converters(col) + f.get_db_converters(connection)
            if found:
                converters.append((i, col, found))
        plan = _Plan(width=len(fields), attnames=[f.attname for f in fields],
                     pk_index=next(i for i, f in enumerate(fields) if f.primary_key),
                     converters=converters)
        _plans[key] = plan
    return plan


def _instance(part: Part, plan: _Plan, values: Sequence[Any]) -> Model:
    out = list(values)
    for i, col, found in plan.converters:
        if out[i] is not None:
            for fn in found:
                out[i] = fn(out[i], col, connection)
    return part.model.from_db(connection.alias, plan.attnames, out)


def one(sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """The first row of a statement (a SELECT, or a write with RETURNING): `lib.sql.run`."""
    return sql_run(connection, sql, params)[0]


def fetch(sql: str, params: Sequence[Any], parts: Sequence[Part]) -> list[Model | None] | None:
    """The first row of `sql` (its SELECT lists each part's columns, in order) as one
    instance per part — None for a part whose primary key is NULL (an outer join
    that found nothing) — or None when there is no row."""
    row = one(sql, params)
    if row is None:
        return None
    out: list[Model | None] = []
    at = 0
    for part in parts:
        plan = _plan(part)
        values = row[at:at + plan.width]
        at += plan.width
        out.append(None if values[plan.pk_index] is None else _instance(part, plan, values))
    return out


def cache(instance: Model, name: str, value: Model | None) -> None:
    """As select_related would: `instance.<name>` answers from memory (None: does not exist)."""
    instance._meta.get_field(name).set_cached_value(instance, value)  # type: ignore[union-attr]


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run one statement; the number of rows it changed."""
    return sql_run(connection, sql, params)[1]


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def column(model: type[Model], field: str) -> str:
    return quote(str(model._meta.get_field(field).column))  # type: ignore[union-attr]


def table(model: type[Model]) -> str:
    return quote(model._meta.db_table)
