"""Personas and fixtures shared by the Django suites.

alice  - contact, admin of Acme (the owner of the tickets in most tests)
bob    - contact, member of Acme (a colleague)
charlie- contact of Globex (an outsider)
tess   - agent, tier 1; tom - agent, tier 2; lea - team lead; max - support manager
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from support import CAL_247, CAL_OFFICE, PASSWORD, T0, TARGETS, snapshot  # noqa: F401


@pytest.fixture
def desk(db):
    """A provider with priorities, categories, two plans and two organisations."""
    from tierdesk.accounts.models import Provider
    from tierdesk.sla.models import BusinessCalendar, Plan
    from tierdesk.tickets.models import Category, ImpactUrgency, Priority

    Provider.objects.create(name="Helpful IT", support_address="support@helpful.test",
                            time_zone="Europe/Madrid", languages=["en", "es"],
                            reopen_window_days=14, autoclose_days=7)
    for rank, code in enumerate(["critical", "high", "medium", "low", "request"], start=1):
        Priority.objects.create(code=code, name=code.title(), rank=rank)
    p = {x.code: x for x in Priority.objects.all()}
    for impact, urgency, prio in [("most_users", "stopped", "critical"),
                                  ("some_users", "stopped", "high"),
                                  ("one_user", "stopped", "medium")]:
        ImpactUrgency.objects.create(impact=impact, urgency=urgency, priority=p[prio])
    tech = Category.objects.create(code="technical", name="Technical")
    Category.objects.create(code="technical-network", name="Network", parent=tech)
    Category.objects.create(code="billing", name="Billing and financial")
    Category.objects.create(code="retired", name="Retired", is_active=False)
    always = BusinessCalendar.objects.create(code="always", name="24x7", spec=CAL_247)
    office = BusinessCalendar.objects.create(code="office", name="Office", spec=CAL_OFFICE)
    Plan.objects.create(code="premium", name="Premium", calendar=always, targets=TARGETS,
                        pause_statuses=["waiting_customer", "waiting_third_party"])
    Plan.objects.create(code="standard", name="Standard", calendar=office, targets=TARGETS,
                        pause_statuses=["waiting_customer", "waiting_third_party"])
    return p


def _user(email, name, **extra):
    from tierdesk.accounts.models import User

    return User.objects.create_user(email, PASSWORD, full_name=name, **extra)


@pytest.fixture
def people(desk):
    from types import SimpleNamespace

    from tierdesk.accounts.models import Agent, Contact, Organisation, OrganisationDomain, Team
    from tierdesk.sla.models import Plan

    acme = Organisation.objects.create(name="Acme", plan=Plan.objects.get(code="premium"),
                                       contract_reference="ACME-2026")
    OrganisationDomain.objects.create(organisation=acme, domain="acme.test")
    globex = Organisation.objects.create(name="Globex", plan=Plan.objects.get(code="standard"))
    alice = Contact.objects.create(user=_user("alice@acme.test", "Alice Admin"),
                                   organisation=acme, role="admin")
    bob = Contact.objects.create(user=_user("bob@acme.test", "Bob Member"), organisation=acme)
    charlie = Contact.objects.create(user=_user("charlie@globex.test", "Charlie Outsider"),
                                     organisation=globex, role="admin")
    team = Team.objects.create(name="Service desk")
    tess = Agent.objects.create(user=_user("tess@helpful.test", "Tess Tier1"), tier=1)
    tom = Agent.objects.create(user=_user("tom@helpful.test", "Tom Tier2"), tier=2)
    lea = Agent.objects.create(user=_user("lea@helpful.test", "Lea Lead"), tier=3,
                               role="team_lead")
    mx = Agent.objects.create(user=_user("max@helpful.test", "Max Manager", is_staff=True),
                              tier=3, role="support_manager")
    for a in (tess, tom, lea, mx):
        a.teams.add(team)
    team.lead = lea
    team.save()
    return SimpleNamespace(acme=acme, globex=globex, alice=alice, bob=bob, charlie=charlie,
                           tess=tess, tom=tom, lea=lea, max=mx, team=team)


@pytest.fixture
def open_ticket(people):
    """A ticket Alice opened at T0 on Acme's premium (24x7) plan."""
    from tierdesk.tickets import actions

    def make(subject="VPN drops every hour", *, requester=None, at=T0, **kw):
        requester = requester or people.alice
        return actions.create_ticket(actor=requester.user, at=at, new=actions.NewTicket(
            requester=requester, subject=subject,
            description="Since this morning the VPN disconnects every hour.", **kw))

    return make


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture(autouse=True)
def _tasks_run_immediately():
    """Tasks run in the caller (Huey's immediate mode, in memory); integration tests
    that start real consumers switch this off for themselves."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True
    yield


@pytest.fixture(autouse=True)
def _hooks_inline_in_a_test_transaction(request, settings):
    """A test inside one transaction never commits, so deferred hook work would never run:
    there the subscribers run inline, inside the action. Transactional and live-server
    tests keep the production mode (deferred: run after commit, here by the immediate
    queue); tests/tickets/test_hook_work.py covers it with real worker processes."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and (marker.kwargs.get("transaction")
                                     or (marker.args and marker.args[0])))
    if not transactional and not {"transactional_db", "live_server"} & set(request.fixturenames):
        settings.TICKET_HOOKS_INLINE = True


@pytest.fixture(autouse=True)
def _fresh_policy_cache():
    """Row ids are reused between tests; compiled policies must not leak across them."""
    from tierdesk.sla import adapter

    adapter._cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Personas are created in nearly every test; real hashing would dominate the suite."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _default_language():
    """A test that speaks Spanish (a view, a mail in the contact's language) must not leave
    the thread speaking it to the next test."""
    from django.conf import settings
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


def pytest_sessionfinish(session, exitstatus):
    """The scheduler's lock file beside this run's SQLite test database (a worker process a
    test started took it): the database goes with the run, so does its lock file."""
    from pathlib import Path

    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        Path(str(db["TEST"]["NAME"]) + ".scheduler.lock").unlink(missing_ok=True)
