"""The policy-file tests are pure Python: they run with `-p no:django`."""

import pytest


@pytest.fixture(autouse=True)
def _media():
    """Replaces tests/conftest.py's autouse fixture, which needs Django's settings."""
