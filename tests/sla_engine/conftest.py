"""The engine's tests need no Django: ``pytest -p no:django tests/sla_engine`` runs them.

The top-level conftest's fixtures are the desk's (settings, Huey, the SLA
adapter's cache), and some are autouse and need Django. None of them has any
business in the pure engine's tests, so they are dropped from the tests of
this folder; the tests then run the same with or without Django.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DESK_CONFTEST = HERE.parent / "conftest.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    desk = next(
        (
            plugin
            for plugin in config.pluginmanager.get_plugins()
            if getattr(plugin, "__file__", None) and Path(plugin.__file__).resolve() == DESK_CONFTEST
        ),
        None,
    )
    if desk is None:
        return
    desk_fixtures = set(vars(desk))
    for item in items:
        if HERE in item.path.parents and isinstance(item, pytest.Function):
            item.fixturenames[:] = [name for name in item.fixturenames if name not in desk_fixtures]
