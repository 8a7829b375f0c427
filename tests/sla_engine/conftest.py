"""The engine's tests need no Django: ``pytest -p no:django tests/sla_engine`` runs them.

The top-level conftest's autouse fixtures are the desk's (settings, Huey, the
SLA adapter's cache, the language), and some need pytest-django's ``settings``.
None of them has any business in the pure engine's tests, so this folder
overrides each of them, by name (pytest's folder-level override), with a
fixture that does nothing; the tests then run the same with or without Django.

The names are read from the desk's conftest source, so an autouse fixture
added there later is overridden too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DESK_CONFTEST = HERE.parent / "conftest.py"


def _desk_autouse_names() -> list[str]:
    """The autouse fixtures of the desk's conftest, read from its source (importing it
    again would register its fixtures twice)."""
    names = []
    for node in ast.parse(DESK_CONFTEST.read_text()).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and any(
                keyword.arg == "autouse" and isinstance(keyword.value, ast.Constant) and keyword.value.value
                for keyword in decorator.keywords
            ):
                names.append(node.name)
    return names


def _nothing() -> None:
    """Stands in for a desk fixture that the pure engine does not need."""


for _name in _desk_autouse_names():
    globals()[_name] = pytest.fixture(autouse=True, name=_name)(_nothing)
