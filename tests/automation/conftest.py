"""Helpers for the automation suites: a desk with the shipped rules, a sweep that follows up."""

from __future__ import annotations

import pytest
from support import T0  # noqa: F401 - for the suites


@pytest.fixture(autouse=True)
def _mail(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def rules(people):
    """The shipped default rules, installed as a policy file would."""
    from tierdesk.automation.install import install_rules
    from tierdesk.automation.schedule import _compiled
    from tierdesk.sla.policyfile import load_preset

    class _Report:
        created: list[str] = []
        changed: list[str] = []

    pf = load_preset("default")
    install_rules(pf, _Report())
    _compiled.clear()
    return people


def sweep(at):
    """Stage 1 and stage 2 of the SLA sweep, inline."""
    from tierdesk.automation import sweeps

    report = sweeps.sweep(now=at, follow=False)
    sweeps.follow_up(report.claimed, now=at)
    return report
