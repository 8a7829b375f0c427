"""The engine's tests need no Django: ``pytest -p no:django tests/sla_engine`` runs them.

The top-level conftest has autouse fixtures for the Django apps (settings,
Huey, the SLA adapter's cache); these fixtures of the same names shadow them
here, as pytest lets a nearer conftest do, so that the engine's tests run with
or without Django. A new autouse fixture up there that needs Django needs a
shadow here too (or ``--confcutdir=tests/sla_engine``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _media() -> Iterator[None]:
    yield


@pytest.fixture(autouse=True)
def _tasks_run_immediately() -> Iterator[None]:
    yield


@pytest.fixture(autouse=True)
def _fresh_policy_cache() -> Iterator[None]:
    yield
