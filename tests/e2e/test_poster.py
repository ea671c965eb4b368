"""Intake link posters and the reporter's page in a real browser: a bureau admin opens a poster
in French (the QR code is an inline SVG, the text is French), prints it (print media hides the
header, the navigation and the tools; the PDF is one A4 page), and a reporter opens a demo
intake link at 360 px without JavaScript (an exit link, no cookie, no other origin).

The demo users all enrol in tests/e2e/test_sign_in.py (once per server), so the poster test
signs in as a bureau admin of its own, made with `klankbord create-admin` on the server's
database.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest

from casework.reporter_pages import EXIT_URL
from klankbord.demo import DEMO_BUREAU
from tests.e2e.support import REPO, Server, Tab, tr

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "poster.admin@demo.klankbord.test"
ADMIN_PASSWORD = "lantern orchard pebble zeppelin"
SCREENSHOTS = Path(tempfile.gettempdir()) / "klankbord-e2e"  # for a person to look at
PRINTED_AWAY = (".site-header", ".staff-nav", ".site-footer", ".print-hidden")


def _klankbord() -> list[str]:
    script = Path(sys.executable).with_name("klankbord")
    return [str(script)] if script.exists() else [sys.executable, "-m", "klankbord"]


@pytest.fixture(scope="module")
def poster_admin(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bureau admin of the demo bureau, added to the running server's database."""
    databases = sorted(tmp_path_factory.getbasetemp().glob("e2e-server*/db.sqlite3"))
    assert databases, "the e2e server's database was not found"
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLANKBORD_")}
    env.update(
        KLANKBORD_ENV="test",
        KLANKBORD_DATABASE_URL=f"sqlite:///{databases[-1]}",
        KLANKBORD_SECRET_KEY=secrets.token_urlsafe(48),
        KLANKBORD_DATA_DIR=str(databases[-1].parent / "data"),
        KLANKBORD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        KLANKBORD_LOG_LEVEL="WARNING",
    )
    command = [
        *_klankbord(),
        "create-admin",
        "--bureau",
        DEMO_BUREAU,
        "--email",
        ADMIN_EMAIL,
        "--name",
        "Poster Admin",
    ]
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"create-admin failed:\n{done.stdout}\n{done.stderr}"
    return ADMIN_EMAIL


def _submit(tab: Tab, selector: str) -> None:
    with tab.page.expect_navigation():
        tab.page.locator(selector).click()


def _sign_in(tab: Tab, email: str) -> None:
    page = tab.page
    tab.goto("/sign-in")
    page.locator("#email").fill(email)
    page.locator("#password").fill(ADMIN_PASSWORD)
    _submit(tab, "main form button[type=submit]")
    assert page.url.endswith("/sign-in/enrol"), page.url
    secret = page.locator("code#totp-secret").inner_text().strip()
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    _submit(tab, "main form button[type=submit]")
    assert page.locator("ul#recovery-codes li").count() > 0


def _poster_path(tab: Tab) -> str:
    """The poster of the first live link of the first organisation the admin sees."""
    page = tab.page
    tab.goto("/organisations")
    links = page.locator("main a[href^='/organisations/']")
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    organisation = next(
        (href for href in hrefs if re.fullmatch(r"/organisations/[0-9a-f-]{36}", href)), None
    )
    assert organisation, hrefs
    tab.goto(f"{organisation}/intake-links")
    poster = page.locator("main a[href$='/poster']").first.get_attribute("href")
    assert poster and re.fullmatch(
        r"/organisations/[0-9a-f-]{36}/intake-links/[0-9a-f-]{36}/poster", poster
    )
    return poster


def test_poster_in_french_has_qr_and_prints_without_header(
    open_tab: Callable[..., Tab], poster_admin: str
) -> None:
    tab = open_tab(locale="nl-NL")
    _sign_in(tab, poster_admin)
    path = _poster_path(tab)
    page = tab.page

    response = tab.goto(f"{path}?language=fr")
    assert response.status == 200
    assert tab.lang == "fr"
    assert page.locator("article.poster h1").inner_text().strip() == tr(
        "fr", "Something not right at work?"
    )
    qr = page.locator("article.poster .poster-qr svg.segno")
    assert qr.count() == 1
    assert qr.locator("path").count() >= 1
    url = page.locator("article.poster .poster-url code").inner_text().strip()
    assert re.fullmatch(r"https?://\S+/r/[A-Za-z0-9_-]{32}", url), url
    for selector in PRINTED_AWAY:
        assert page.locator(selector).first.is_visible(), f"{selector} hidden on screen"

    page.emulate_media(media="print")
    for selector in PRINTED_AWAY:
        assert not page.locator(selector).first.is_visible(), f"{selector} printed"
    assert qr.is_visible()
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "poster-fr-print.png"), full_page=True)
    pdf = page.pdf(prefer_css_page_size=True)
    (SCREENSHOTS / "poster-fr.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == 1, f"the poster prints on {pages} pages"

    # The cards: one on screen, a sheet of eight on one printed page.
    page.emulate_media(media="screen")
    assert tab.goto(path.replace("/poster", "/card")).status == 200
    assert tab.lang == "nl"  # the organisation's first language
    cards = page.locator(".intake-card")
    assert [cards.nth(i).is_visible() for i in range(cards.count())] == [True] + [False] * 7
    page.emulate_media(media="print")
    assert all(cards.nth(i).is_visible() for i in range(cards.count()))
    page.screenshot(path=str(SCREENSHOTS / "cards-nl-print.png"), full_page=True)
    pdf = page.pdf(prefer_css_page_size=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1

    tab.settle()
    assert not tab.csp_violations, tab.csp_violations
    assert not tab.console_errors()
    assert all(request.startswith(tab.base_url) for request in tab.requests), tab.requests


def test_reporter_page_at_360px_without_javascript_sets_no_cookie(
    open_tab: Callable[..., Tab], server: Server
) -> None:
    assert server.links, "seed-demo printed no intake links"
    tab = open_tab(
        viewport={"width": 360, "height": 740}, java_script_enabled=False, locale="en-GB"
    )
    link = server.links[0]
    response = tab.goto(link.url.removeprefix(tab.base_url))
    assert response.status == 200
    assert tab.lang == "en"
    assert link.organisation in tab.page.locator("main").inner_text()
    exit_link = tab.page.locator("a.button-exit")
    assert exit_link.is_visible()
    assert exit_link.get_attribute("href") == EXIT_URL
    assert exit_link.inner_text().strip() == tr("en", "Exit this page")
    width = tab.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the reporter's page is {width}px wide at 360px"
    tab.settle()
    assert tab.context.cookies() == []
    assert all(request.startswith(tab.base_url) for request in tab.requests), tab.requests
