"""The engine's tests need no Django: run them with ``pytest -p no:django tests/sla_engine``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _media() -> Iterator[None]:
    """Shadow the top-level autouse fixture of that name, which needs Django's
    ``settings``: the engine writes no files and must run without Django."""
    yield
