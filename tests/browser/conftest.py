"""Browser tests: pytest-playwright driving Debian's Chromium against Django's live server.

No `playwright install`: the browser is the system's (/usr/bin/chromium, or
$TIERDESK_CHROMIUM). Without it the tests are skipped, with the reason, unless
CI=true, where a missing browser is a failure (CI installs it: .ci/run).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from support import PASSWORD

CHROMIUM = os.environ.get("TIERDESK_CHROMIUM", "/usr/bin/chromium")
ON_CI = os.environ.get("CI") == "true"


@pytest.fixture(autouse=True)
def _needs_chromium():
    if not Path(CHROMIUM).exists() and not ON_CI:
        pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y --no-install-recommends "
                    f"chromium fonts-liberation` (under CI=true this is a failure, not a skip)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-dev-shm-usage"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Madrid is the provider's zone in the personas' desk; the browser speaks English
    # unless a test says otherwise (the person's preference wins anyway).
    return {**browser_context_args, "locale": "en-GB", "timezone_id": "Europe/Madrid",
            "viewport": {"width": 1280, "height": 900}}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def site(live_server, transactional_db, settings):
    """The live server's address, with the settings a real deployment would have."""
    settings.SITE_URL = live_server.url
    settings.DEBUG = False
    return live_server.url


@pytest.fixture
def sign_in(site, browser):
    """A fresh browser (its own cookies) signed in through the sign-in form, as a person would."""
    opened = []

    def open_as(person, *, locale: str = "en-GB", phone: bool = False):
        # A phone: a 390 px wide touch screen, as an iPhone 12-15 reports itself.
        shape = ({"viewport": {"width": 390, "height": 844}, "is_mobile": True,
                  "has_touch": True, "device_scale_factor": 3} if phone
                 else {"viewport": {"width": 1280, "height": 900}})
        context = browser.new_context(locale=locale, timezone_id="Europe/Madrid", **shape)
        opened.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{site}/login/")
        page.get_by_label(re.compile("^(Email|Correo electrónico)$")).fill(person.user.email)
        page.get_by_label(re.compile("^(Password|Contraseña)$")).fill(PASSWORD)
        page.get_by_role("button", name=re.compile("^(Sign in|Entrar)$")).click()
        page.wait_for_load_state()
        return page

    yield open_as
    for context in opened:
        context.close()
