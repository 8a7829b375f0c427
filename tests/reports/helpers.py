"""Shared by the reports tests: the report's instant and a signed-in client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.test import Client
from support import PASSWORD

NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)  # after every event of the `month` fixture
H = timedelta(hours=1)
M = timedelta(minutes=1)


def login(person) -> Client:
    client = Client()
    assert client.login(email=person.user.email, password=PASSWORD)
    return client
