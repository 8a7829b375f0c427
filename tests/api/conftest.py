"""API clients for the personas of tests/conftest.py, each with a token of its own."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_throttle():
    # Throttle counters live in the cache; a test must not inherit another's minute.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(people):
    """api("alice") -> an APIClient acting as Alice through a token (all scopes by default)."""
    from rest_framework.test import APIClient

    from tierdesk.api.tokens import issue_token

    def make(who: str, scopes=("read", "write", "webhooks")) -> APIClient:
        user = getattr(people, who).user
        issued = issue_token(user=user, name=f"{who}'s test token", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
        client.token = issued.token  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def ticket(open_ticket):
    """A ticket Alice (Acme's admin) opened at T0."""
    return open_ticket()
