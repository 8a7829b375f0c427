"""Reading many rows by id without laying out a parameter per id."""

from __future__ import annotations

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL


def among(field: str, ids: list[int]) -> Q:
    """`field IN ids`. On PostgreSQL the ids travel as one array parameter: a thousand
    placeholders cost the driver more to lay out than the query costs the server."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__in": RawSQL("SELECT unnest(%s::bigint[])", [list(ids)])})
    return Q(**{f"{field}__in": list(ids)})
