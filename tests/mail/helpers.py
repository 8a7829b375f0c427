"""Helpers shared by the email suites (fixtures on disk, real-server checks)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def eml(name: str, **replace: str) -> bytes:
    """A fixture's bytes; `replace` swaps placeholders such as {{ref}} (kept byte-exact)."""
    raw = (FIXTURES / name).read_bytes()
    for key, value in replace.items():
        raw = raw.replace(("{{" + key + "}}").encode(), value.encode())
    return raw


def _open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def mail_servers() -> dict[str, str]:
    """The Postfix and Dovecot started by .ci/services.sh (start_mail), from the environment.

    Missing: the test is skipped with the reason — unless CI is "true", where the
    servers must be there and the test fails instead."""
    env = {k: os.environ.get(k, "") for k in (
        "TIERDESK_TEST_SMTP_HOST", "TIERDESK_TEST_SMTP_PORT", "TIERDESK_TEST_IMAP_HOST",
        "TIERDESK_TEST_IMAP_PORT", "TIERDESK_TEST_MAIL_USERS", "TIERDESK_TEST_MAIL_PASSWORD")}
    missing = [k for k, v in env.items() if not v]
    reason = ""
    if missing:
        reason = f"mail servers not configured ({', '.join(missing)} unset): run " \
                 "`source .ci/services.sh && start_mail`, or `bash .ci/run` with CI=true"
    elif not _open(env["TIERDESK_TEST_SMTP_HOST"], int(env["TIERDESK_TEST_SMTP_PORT"])) or \
            not _open(env["TIERDESK_TEST_IMAP_HOST"], int(env["TIERDESK_TEST_IMAP_PORT"])):
        reason = (f"no Postfix at {env['TIERDESK_TEST_SMTP_HOST']}:{env['TIERDESK_TEST_SMTP_PORT']} "
                  f"or no Dovecot at {env['TIERDESK_TEST_IMAP_HOST']}:{env['TIERDESK_TEST_IMAP_PORT']}")
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return env
