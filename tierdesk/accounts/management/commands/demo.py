"""`tierdesk demo`: a provider, its customers and staff, and tickets in every status.

The tickets are written through the same actions as the web, backdated over the
last weeks, so their timelines and SLA clocks are real ones.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction

from tierdesk.accounts.models import (
    Agent,
    Contact,
    Organisation,
    OrganisationDomain,
    Provider,
    Team,
    User,
)
from tierdesk.lib import clock
from tierdesk.sla.install import install_policy
from tierdesk.sla.models import Plan
from tierdesk.sla.policyfile import load_preset
from tierdesk.tickets import actions
from tierdesk.tickets.models import Category, Priority, Ticket

PASSWORD = "demo-pass-2026"  # noqa: S105 - printed for the demo on purpose

STAFF = [  # email, name, role, tier, language, admin
    ("admin@northwind.test", "Ada Admin", "administrator", 3, "en", True),
    ("manager@northwind.test", "Manuel Manager", "support_manager", 3, "es", True),
    ("lead@northwind.test", "Lena Lead", "team_lead", 2, "en", False),
    ("tier1@northwind.test", "Tim Tier-One", "agent", 1, "en", False),
    ("tier1b@northwind.test", "Tania Primera", "agent", 1, "es", False),
    ("tier2@northwind.test", "Tomas Tier-Two", "agent", 2, "en", False),
    ("tier3@northwind.test", "Thea Tier-Three", "agent", 3, "en", False),
]
CUSTOMERS = [  # organisation, plan, domain, contacts (email, name, role, language)
    ("Acme Logistics", "standard", "acme.test", [
        ("alice@acme.test", "Alice Admin", "admin", "en"),
        ("bob@acme.test", "Bob Baker", "member", "en")]),
    ("Bodega Ibérica", "premium", "bodega.test", [
        ("carmen@bodega.test", "Carmen Ruiz", "admin", "es"),
        ("diego@bodega.test", "Diego López", "member", "es")]),
    ("Orbit Clinics", "24x7", "orbit.test", [
        ("olivia@orbit.test", "Olivia Ortega", "admin", "en")]),
]
SUBJECTS = [
    ("VPN disconnects every hour", "technical"), ("Invoice shows the wrong VAT", "billing"),
    ("Backup job failed last night", "infrastructure"), ("Phishing email reported", "security"),
    ("Printer on floor 2 offline", "technical"), ("New starter needs a mailbox", "technical"),
    ("Firewall firmware update", "infrastructure"), ("Cannot open shared drive", "technical"),
    ("Restore a deleted folder", "infrastructure"), ("MFA prompt loops on login", "security"),
    ("Website certificate expires soon", "security"), ("Laptop very slow", "technical"),
]


class Command(BaseCommand):
    help = "Load demo data (a provider, customers, staff, tickets in every status)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true",
                            help="Do nothing if demo data is already there.")

    def handle(self, *args, once: bool = False, **options):
        if once and User.objects.filter(email=STAFF[0][0]).exists():
            self.stdout.write("Demo data already loaded.")
        else:
            with transaction.atomic():
                self._load()
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write(f"\nDemo logins (password for all: {PASSWORD})")
        for email, name, role, tier, *_ in STAFF:
            self.stdout.write(f"  staff     {email:28} {name} — {role}, tier {tier}")
        for org, plan, _d, contacts in CUSTOMERS:
            for email, name, role, _l in contacts:
                self.stdout.write(f"  customer  {email:28} {name} — {org} ({plan}), {role}")
        self.stdout.write("")

    def _load(self) -> None:
        install_policy(load_preset("default"))
        provider = Provider.current()
        provider.name = "Northwind Managed IT"
        provider.support_address = "support@northwind.test"
        provider.time_zone = "Europe/Madrid"
        provider.save()
        team = Team.objects.create(name="Service desk")
        agents = []
        for email, name, role, tier, language, admin in STAFF:
            user = User.objects.create_user(email, PASSWORD, full_name=name, language=language,
                                            is_staff=admin, is_superuser=admin)
            agent = Agent.objects.create(user=user, role=role, tier=tier)
            agent.teams.add(team)
            agents.append(agent)
        team.lead = agents[2]
        team.save()
        contacts = []
        for org_name, plan, domain, people in CUSTOMERS:
            org = Organisation.objects.create(name=org_name, plan=Plan.objects.get(code=plan),
                                              contract_reference=f"CT-{domain[:4].upper()}-2026")
            OrganisationDomain.objects.create(organisation=org, domain=domain)
            for email, name, role, language in people:
                user = User.objects.create_user(email, PASSWORD, full_name=name,
                                                language=language)
                contacts.append(Contact.objects.create(user=user, organisation=org, role=role))
        self._tickets(contacts, agents)

    def _tickets(self, contacts: list[Contact], agents: list[Agent]) -> None:
        rng = random.Random(2026)
        now = clock.now().replace(microsecond=0)
        families = {c.code: c for c in Category.objects.filter(parent__isnull=True)}
        priorities = list(Priority.objects.filter(is_active=True))
        tier1, tier2 = agents[3], agents[5]
        # status to reach -> how many tickets
        plan = ["new"] * 4 + ["open"] * 3 + ["in_progress"] * 3 + ["waiting_customer"] * 2 + \
            ["waiting_third_party"] * 2 + ["resolved"] * 3 + ["closed"] * 3
        for i, goal in enumerate(plan):
            contact = contacts[i % len(contacts)]
            subject, family = SUBJECTS[i % len(SUBJECTS)]
            start = now - timedelta(days=rng.randint(0, 12), hours=rng.randint(1, 8))
            category = next((c for code, c in families.items() if code.startswith(family)), None)
            t = actions.create_ticket(actor=contact.user, at=start, new=actions.NewTicket(
                requester=contact, subject=subject, category=category,
                priority=rng.choice(priorities),
                description=f"{subject}. It started this morning; two colleagues are affected.",
                channel=rng.choice(["portal", "email", "phone"])))
            if goal == "new":
                continue
            at = start + timedelta(minutes=rng.randint(5, 50))
            actions.assign(actor=tier1.user, ticket=t, agent=tier1, at=at)
            at += timedelta(minutes=10)
            actions.add_reply(actor=tier1.user, ticket=t, at=at,
                              body="Thanks, we are looking into it. Could you send a screenshot?")
            if goal == "open":
                continue
            at += timedelta(minutes=30)
            actions.add_internal_note(actor=tier1.user, ticket=t, at=at,
                                      body="Looks like the same issue as last month; checking logs.")
            if i % 2:
                at += timedelta(minutes=20)
                actions.change_tier(actor=tier1.user, ticket=t, tier=2, at=at,
                                    reason="Needs network specialist")
                actions.assign(actor=tier2.user, ticket=t, agent=tier2, at=at)
            at += timedelta(minutes=15)
            owner = (tier2 if i % 2 else tier1).user
            if goal in {"in_progress", "resolved", "closed"}:
                actions.change_status(actor=owner, ticket=t, status="in_progress", at=at)
            if goal in {"waiting_customer", "waiting_third_party"}:
                actions.change_status(actor=owner, ticket=t, status=goal, at=at)
                continue
            if goal == "in_progress":
                continue
            at += timedelta(hours=2)
            actions.resolve(actor=owner, ticket=t, code="fixed", at=at,
                            note="We replaced the faulty configuration; all good now.")
            if goal == "closed":
                actions.close(actor=owner, ticket=t, at=min(now, at + timedelta(days=1)))
        self.stdout.write(f"{Ticket.objects.count()} demo tickets.")
