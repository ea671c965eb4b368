"""Shared steps of the staff browser tests that bring their own people and data: seeding the
running server's database from a module run as a script, signing people in once (with TOTP
enrolment), opening watched tabs as them, submitting a form, and checking a tab stayed quiet.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Browser, Locator, Page, Response, ViewportSize

from tests.conftest import missing
from tests.e2e.support import REPO, Tab, axe_source

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
NARROW: ViewportSize = {"width": 360, "height": 740}
LOCALE = {"nl": "nl-NL", "en": "en-GB", "fr": "fr-FR"}


def seed_in_server(
    tmp_path_factory: pytest.TempPathFactory, module: str, password: str
) -> dict[str, Any]:
    """Run `python -m <module>` on the running server's database and key files (the module
    seeds what its tests need, with `password` for its people, and prints JSON last)."""
    databases = sorted(tmp_path_factory.getbasetemp().glob("e2e-server*/db.sqlite3"))
    assert databases, "the e2e server's database was not found"
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLANKBORD_")}
    env.update(
        KLANKBORD_ENV="test",
        KLANKBORD_DATABASE_URL=f"sqlite:///{databases[-1]}",
        KLANKBORD_SECRET_KEY=secrets.token_urlsafe(48),
        KLANKBORD_DATA_DIR=str(databases[-1].parent / "data"),
        KLANKBORD_LOG_LEVEL="WARNING",
        KLANKBORD_E2E_PASSWORD=password,
        PICCOLO_CONF="klankbord.piccolo_conf",
    )
    done = subprocess.run(
        [sys.executable, "-m", module],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"seeding failed:\n{done.stdout}\n{done.stderr}"
    seeded: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return seeded


def submit(page: Page, control: Locator) -> Response:
    """Click a submit button or link; the response the navigation ended with (HTML)."""
    with page.expect_navigation() as navigation:
        control.click()
    response = navigation.value
    assert response is not None
    assert response.headers.get("content-type", "").startswith("text/html"), response.url
    return response


def quiet(tab: Tab, *, refused: tuple[str, ...] = ()) -> None:
    """Nothing from another origin, no CSP violation, no console or page error (but the
    browser's note on a 4xx answer the test asked for)."""
    tab.settle()
    foreign = [url for url in tab.requests if not url.startswith(tab.base_url + "/")]
    assert not foreign, f"requests to another origin: {foreign}"
    assert not tab.csp_violations, "\n".join(tab.csp_violations)
    errors = tab.console_errors(expected_status_urls=refused)
    assert not errors, "\n".join(errors)
    assert not tab.page_errors, "\n".join(tab.page_errors)


def signed_in(
    browser: Browser, base_url: str, emails: Mapping[str, str], password: str
) -> dict[str, Any]:
    """Each person signed in once, TOTP enrolled: their browser state, to open tabs with."""
    states: dict[str, Any] = {}
    for key, email in emails.items():
        context = browser.new_context(locale="en-GB", viewport=DESKTOP)
        context.set_default_timeout(10_000)
        try:
            page = Tab(context, base_url).page
            page.goto(f"{base_url}/sign-in")
            page.locator("#email").fill(email)
            page.locator("#password").fill(password)
            submit(page, page.locator("main form button[type=submit]"))
            assert urlsplit(page.url).path == "/sign-in/enrol", page.url
            secret = page.locator("code#totp-secret").inner_text().strip()
            page.locator("#code").fill(pyotp.TOTP(secret).now())
            submit(page, page.locator("main form button[type=submit]"))
            assert page.locator("ul#recovery-codes li").count() > 0
            states[key] = context.storage_state()
        finally:
            context.close()
    return states


@contextmanager
def tab_opener(
    browser: Browser, base_url: str, people: Mapping[str, Any]
) -> Iterator[Callable[..., Tab]]:
    """`open_as(person, language="en", viewport=DESKTOP)`: a watched tab, signed in; every
    context it opened is closed afterwards."""
    contexts: list[Any] = []

    def make(person: str, language: str = "en", viewport: ViewportSize = DESKTOP) -> Tab:
        context = browser.new_context(
            storage_state=people[person], locale=LOCALE[language], viewport=viewport
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return Tab(context, base_url)

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


def axe_script() -> str:
    source = axe_source()
    if source is None:
        missing("axe-playwright-python (which ships axe-core) is not installed")
    assert source is not None
    return source
