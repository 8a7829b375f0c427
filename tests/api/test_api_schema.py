"""The OpenAPI document, its documentation pages, and the API held to it by schemathesis.

schemathesis generates requests for every operation of the live document (served by
Django's WSGI app, in the test's database) and checks that no answer is a server error
nor breaks the document: undocumented status, content type, headers or body shape.
Bounded: a few examples per operation, no deadline, a couple of minutes in all.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def test_schema_is_served_and_valid(client, db):
    from drf_spectacular.validation import validate_schema

    r = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    document = r.json()
    validate_schema(document)
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    assert "/api/v1/tickets/" in document["paths"]


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_documentation_pages_use_local_assets(client, db, page):
    html = client.get(page).content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn." not in html and "unpkg" not in html


@pytest.fixture
def live(people, open_ticket):
    """The document as served by Django's WSGI app, and real objects for its paths."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    from tierdesk.api import webhooks

    first = open_ticket(attachments=[SimpleUploadedFile("log.txt", b"x", "text/plain")])
    open_ticket("Second", requester=people.bob)
    sub = webhooks.create_subscription(actor=people.alice.user, url="https://ops.acme.test/hook",
                                       events=["ticket.created"])
    delivery = webhooks.ping(actor=people.alice.user, subscription=sub)
    real = {"ref": first.reference, "token": first.attachments.get().token, "id": sub.pk,
            "delivery": str(delivery.uuid)}
    # Django closes the connection around each request; here it holds the test's
    # transaction (Django's own test client disconnects these signals the same way).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application()), real
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _headers(people, who: str) -> dict[str, str]:
    from tierdesk.api.tokens import issue_token

    issued = issue_token(user=getattr(people, who).user, name="schemathesis",
                         scopes=["read", "write", "webhooks"], rate_per_minute=1_000_000)
    return {"Authorization": f"Bearer {issued.secret}"}


def _strategies(operation, real: dict):
    """Generated data, valid and invalid, and the same with paths naming real objects."""
    names = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in real.items() if k in names}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        yield operation.as_strategy(mode)
        if fixed:
            yield operation.as_strategy(mode, path_parameters=fixed)


def _conform(schema, headers: dict, real: dict, *, only=None) -> list[str]:
    """Run every operation (or those whose label contains `only`); the failures, gathered."""
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 25
    for operation in operations:
        if only is not None and only not in operation.label:
            continue
        for strategy in _strategies(operation, real):
            @settings(max_examples=5, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate])
            @given(case=strategy)
            def run(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except (Exception, BaseExceptionGroup) as exc:  # gather all: one report in the end
                failures.append(f"{operation.label}: {exc}"[:3000])
    return failures


@pytest.mark.parametrize("who", ["lea", "alice"])  # a team lead; Acme's admin
def test_api_keeps_to_its_schema(live, people, who):
    schema, real = live
    failures = _conform(schema, _headers(people, who), real)
    assert not failures, "\n\n".join(failures)


def test_the_schema_check_catches_a_broken_answer(live, people, monkeypatch):
    """The run above can fail: a server error and an answer of the wrong shape are caught."""
    from rest_framework.response import Response

    from tierdesk.api.views import directory

    schema, real = live
    headers = _headers(people, "lea")
    assert _conform(schema, headers, real, only="/api/v1/priorities/") == []

    def wrong_shape(self, request):
        return Response({"priorities": "all of them"})  # documented as a list

    def crash(self, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(directory.PriorityList, "get", wrong_shape)
    monkeypatch.setattr(directory.Me, "get", crash)
    shape = _conform(schema, headers, real, only="/api/v1/priorities/")
    assert shape and "schema" in shape[0].lower(), shape
    server = _conform(schema, headers, real, only="/api/v1/me/")
    assert server and "server error" in server[0].lower(), server
