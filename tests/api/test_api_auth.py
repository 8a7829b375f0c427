"""Tokens: hashed, scoped, revocable, throttled; made in the admin or on the command line."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from tierdesk.api import tokens
from tierdesk.api.models import ApiToken


def test_without_a_valid_token_the_answer_is_401(api, people):
    r = APIClient().get("/api/v1/tickets/")
    assert r.status_code == 401 and r["Content-Type"] == "application/problem+json"
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert r.json()["type"] == "/api/problems/not_authenticated"
    for header in ("Bearer nope", "Bearer tdk_abc_def", "Bearer a b"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get("/api/v1/tickets/").status_code == 401, header


def test_only_the_hash_is_kept_and_revoking_stops_the_token(api, people):
    issued = tokens.issue_token(user=people.alice.user, name="RMM", scopes=["read"])
    assert issued.secret.startswith(f"tdk_{issued.token.prefix}_")
    row = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.secret.split("_", 2)[2] not in (row.secret_hash, row.prefix)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert client.get("/api/v1/me/").status_code == 200
    assert ApiToken.objects.get(pk=row.pk).last_used_at is not None
    tampered = APIClient()
    tampered.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret[:-1]}x")
    assert tampered.get("/api/v1/me/").status_code == 401
    tokens.revoke_token(row)
    r = client.get("/api/v1/me/")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    people.bob.user.is_active = False
    people.bob.user.save()
    with pytest.raises(Exception, match="not active"):
        tokens.issue_token(user=people.bob.user, name="x", scopes=["read"])



def test_the_token_and_its_user_are_read_afresh_on_every_request(api, people):
    """The token's query is compiled once per process (tokens._active_token) but run on
    every request: a deactivated user, a moved contact, a revoked token count at once."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    alice = api("alice")
    for who, agent in (("tess", True), ("alice", False)):
        issued = tokens.issue_token(user=getattr(people, who).user, name="x", scopes=["read"])
        with CaptureQueriesContext(connection) as ctx:
            token = tokens.authenticate(issued.secret)
            assert token is not None and token.pk == issued.token.pk
            assert token.scopes == ["read"] and token.user.email == issued.token.user.email
            if agent:
                assert token.user.agent.tier == 1 and not hasattr(token.user, "contact")
            else:
                assert token.user.contact.organisation.name == "Acme"
                assert not hasattr(token.user, "agent")
        assert len(ctx.captured_queries) == 2  # the token, its first use written
    assert alice.get("/api/v1/me/").json()["organisation"]["name"] == "Acme"
    people.alice.organisation = people.globex
    people.alice.save()
    assert alice.get("/api/v1/me/").json()["organisation"]["name"] == "Globex"
    people.alice.user.is_active = False
    people.alice.user.save()
    assert alice.get("/api/v1/me/").status_code == 401

def test_scopes_narrow_what_a_token_may_do(api, ticket):
    reader = api("tess", scopes=["read"])
    assert reader.get(f"/api/v1/tickets/{ticket.reference}/").status_code == 200
    r = reader.post(f"/api/v1/tickets/{ticket.reference}/replies/", {"body": "hi"}, format="json")
    assert r.status_code == 403 and "“write”" in r.json()["detail"]
    writer = api("alice", scopes=["write"])
    assert writer.get("/api/v1/tickets/").status_code == 403
    # A scope never widens a role: a customer's write token still cannot resolve.
    r = api("alice").post(f"/api/v1/tickets/{ticket.reference}/resolve/",
                          {"code": "fixed", "note": "x"}, format="json")
    assert r.status_code == 403


def test_throttled_per_token_with_retry_after(api, people):
    issued = tokens.issue_token(user=people.alice.user, name="tight", scopes=["read"],
                                rate_per_minute=3)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert [client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    r = client.get("/api/v1/me/")
    assert r.status_code == 429 and r.json()["type"] == "/api/problems/throttled"
    assert 0 < int(r["Retry-After"]) <= 60
    # Another token of the same person has its own budget.
    assert api("alice").get("/api/v1/me/").status_code == 200


def test_last_used_is_written_at_most_once_a_minute(people):
    from tierdesk.lib import clock

    issued = tokens.issue_token(user=people.tess.user, name="x", scopes=["read"])
    t0 = clock.now()
    assert tokens.authenticate(issued.secret, now=t0).last_used_at == t0
    assert tokens.authenticate(issued.secret, now=t0 + timedelta(seconds=30)).last_used_at == t0
    later = t0 + timedelta(minutes=2)
    assert tokens.authenticate(issued.secret, now=later).last_used_at == later


def test_command_makes_lists_and_revokes_tokens(people):
    out, err = io.StringIO(), io.StringIO()
    call_command("api", "token", "create", "TESS@helpful.test", "--name", "RMM",
                 "--scope", "read", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    token = tokens.authenticate(secret)
    assert token is not None and token.scopes == ["read"] and token.name == "RMM"
    out = io.StringIO()
    call_command("api", "token", "list", "tess@helpful.test", stdout=out)
    assert token.prefix in out.getvalue() and "active" in out.getvalue()
    call_command("api", "token", "revoke", token.prefix, stdout=io.StringIO())
    assert tokens.authenticate(secret) is None
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user"):
        call_command("api", "token", "create", "nobody@x.test", stdout=io.StringIO())


def test_admin_makes_a_token_and_shows_it_once(client, people):
    from django.contrib.messages import get_messages

    people.max.user.is_superuser = True
    people.max.user.save()
    client.force_login(people.max.user)
    r = client.post("/admin/api/apitoken/add/", {
        "user": people.tom.user.pk, "name": "PSA sync", "scopes": ["read", "write"]})
    assert r.status_code == 302, r.content
    text = " ".join(str(m) for m in get_messages(r.wsgi_request))
    secret = text.split("again: ")[1].split()[0]
    token = tokens.authenticate(secret)
    assert token is not None and token.user == people.tom.user
    client.get("/admin/api/apitoken/")  # the message is shown on the next page, once
    assert secret not in client.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert tokens.authenticate(secret) is None


def test_a_bearer_request_answers_in_utc_and_the_users_language_without_cookies(api, people):
    """The middleware leaves a token's request to the API views: no session user, no
    language cookie, instants in UTC whatever the user's zone, refusals in their language."""
    user = people.alice.user
    user.language, user.time_zone = "es", "America/Mexico_City"
    user.save(update_fields=["language", "time_zone"])
    alice = api("alice")
    r = alice.post("/api/v1/tickets/", {"subject": "x", "description": "y"}, format="json")
    assert r.status_code == 201 and r.json()["created_at"].endswith("Z")
    assert "django_language" not in r.cookies
    r = alice.post("/api/v1/tickets/", {"subject": " ", "description": "y"}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "subject"
    assert r.json()["title"] == "Petición no válida", r.json()


def test_a_bearer_request_passes_sessions_csrf_and_messages_and_keeps_every_header(api, people,
                                                                                  client):
    """Sessions, CSRF, authentication and messages let a bearer API request through (they
    would only build what nobody reads); the security, language and length headers are
    those a browser's request gets, and a browser's session on the API still works and
    still needs its CSRF token."""
    from django.http import HttpResponse
    from django.test import RequestFactory

    from tierdesk.accounts import middleware

    factory = RequestFactory()
    made = {"SessionMiddleware": "session", "CsrfViewMiddleware": "CSRF_COOKIE",
            "AuthenticationMiddleware": "user", "MessageMiddleware": "_messages"}
    for name, attribute in made.items():
        for path, headers, passed in (("/api/v1/tickets/", {"HTTP_AUTHORIZATION": "Bearer t"}, True),
                                      ("/api/v1/tickets/", {}, False),
                                      ("/console/", {"HTTP_AUTHORIZATION": "Bearer t"}, False)):
            request = factory.get(path, HTTP_COOKIE="csrftoken=" + "a" * 32, **headers)
            if name != "SessionMiddleware":
                request.session = client.session  # as the session middleware before sets it
            seen = []
            getattr(middleware, name)(lambda r, seen=seen: seen.append(r) or HttpResponse())(
                request)
            assert seen == [request]
            made_it = (attribute in request.META if name == "CsrfViewMiddleware"
                       else hasattr(request, attribute))
            assert made_it is not passed, (name, path, headers)

    alice = api("alice")
    r = alice.post("/api/v1/tickets/", {"subject": "Headers", "description": "y"}, format="json")
    assert r.status_code == 201
    for header, value in (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                          ("Referrer-Policy", "same-origin"),
                          ("Cross-Origin-Opener-Policy", "same-origin"),
                          ("Content-Language", "en"), ("Vary", "Accept-Language"),
                          ("Content-Length", str(len(r.content)))):
        assert r.get(header) == value, (header, r.headers)
    assert not r.cookies
    r = alice.post("/api/v1/tickets/", {"subject": " ", "description": "y"}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "subject"
    assert r["X-Frame-Options"] == "DENY" and r["Content-Language"] == "en"

    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(people.alice.user)
    assert browser.get("/api/v1/tickets/").status_code == 200
    r = browser.post("/api/v1/tickets/", {"subject": "x", "description": "y"}, format="json")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"], r.json()
