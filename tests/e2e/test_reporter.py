"""The reporter in a real browser: a phone (360 px) with JavaScript switched off makes a report
with a photo, keeps the receipt code, opens the mailbox, reads a counsellor's reply (sent
through the staff case page) and answers with a message and a file. Along the way: no cookie
at all before the mailbox sign-in and then exactly one, for the mailbox path only; no request
to another origin; no console error or CSP violation; no horizontal scrolling. Then the form's
answer to a missing required answer, and axe (WCAG 2.1 AA) on every reporter page in nl, en
and fr.

The demo counsellors enrol in tests/e2e/test_sign_in.py (once per server), so the reply comes
from a bureau admin of this module's own (`klankbord create-admin`, as test_poster.py does)
who assigns themself as a substitute counsellor of the journey's organisation.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, Response

from klankbord.demo import DEMO_BUREAU, DEMO_ORGANISATIONS
from tests.conftest import missing
from tests.e2e.support import (
    LANGUAGES,
    REPO,
    IntakeLink,
    Server,
    Tab,
    axe_source,
    describe_violations,
    run_axe,
    tr,
)

pytestmark = pytest.mark.browser

NARROW = {"width": 360, "height": 740}
PHONE = {"viewport": NARROW, "java_script_enabled": False, "locale": "en-GB"}
MAILBOX_COOKIE = "klankbord_mailbox"
CODE = re.compile(r"^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$")
# The journey's organisation (its counsellor is the module's own) and each procedure's
# required question (`casework.default_questions`: field "q_default_" + name).
ORGANISATION = DEMO_ORGANISATIONS[0][0]
REQUIRED = {
    "integrity": "q_default_wrongdoing",
    "unwanted_behaviour": "q_default_what_happened",
    "rehabilitation": "q_default_accusation",
}
COUNSELLOR_EMAIL = "reporter.reply@demo.klankbord.test"
COUNSELLOR_NAME = "Rik Replier"
COUNSELLOR_PASSWORD = "harbour violet compass tulip"


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def axe() -> str:
    source = axe_source()
    if source is None:
        missing("axe-playwright-python (which ships axe-core) is not installed")
    assert source is not None
    return source


def _klankbord() -> list[str]:
    script = Path(sys.executable).with_name("klankbord")
    return [str(script)] if script.exists() else [sys.executable, "-m", "klankbord"]


def _create_admin(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A bureau admin of the demo bureau, added to the running server's database."""
    databases = sorted(tmp_path_factory.getbasetemp().glob("e2e-server*/db.sqlite3"))
    assert databases, "the e2e server's database was not found"
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLANKBORD_")}
    env.update(
        KLANKBORD_ENV="test",
        KLANKBORD_DATABASE_URL=f"sqlite:///{databases[-1]}",
        KLANKBORD_SECRET_KEY=secrets.token_urlsafe(48),
        KLANKBORD_DATA_DIR=str(databases[-1].parent / "data"),
        KLANKBORD_ADMIN_PASSWORD=COUNSELLOR_PASSWORD,
        KLANKBORD_LOG_LEVEL="WARNING",
    )
    command = [*_klankbord(), "create-admin", "--bureau", DEMO_BUREAU]
    command += ["--email", COUNSELLOR_EMAIL, "--name", COUNSELLOR_NAME]
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"create-admin failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def counsellor(
    browser: Browser, server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tab]:
    """A signed-in staff tab of a substitute counsellor of `ORGANISATION`."""
    _create_admin(tmp_path_factory)
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 720})
    context.set_default_timeout(10_000)
    tab = Tab(context, server.base_url)
    page = tab.page
    tab.goto("/sign-in")
    page.locator("#email").fill(COUNSELLOR_EMAIL)
    page.locator("#password").fill(COUNSELLOR_PASSWORD)
    _submit(page, page.locator("main form button[type=submit]"))
    assert _path(page) == "/sign-in/enrol", page.url
    secret = page.locator("code#totp-secret").inner_text().strip()
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    _submit(page, page.locator("main form button[type=submit]"))
    assert page.locator("ul#recovery-codes li").count() > 0

    tab.goto("/organisations")
    href = page.get_by_role("link", name=ORGANISATION, exact=True).get_attribute("href")
    assert href and re.fullmatch(r"/organisations/[0-9a-f-]{36}", href), href
    tab.goto(f"{href}/counsellors")
    page.locator("#staff_user_id").select_option(label=f"{COUNSELLOR_NAME} ({COUNSELLOR_EMAIL})")
    page.locator("#assignment-substitute").check()
    _submit(page, page.locator("main form button[value=assign]"))
    assert COUNSELLOR_NAME in page.locator("main table").inner_text()
    yield tab
    context.close()


# --- small steps --------------------------------------------------------------------------


def _link(server: Server, procedure: str, organisation: str = ORGANISATION) -> IntakeLink:
    found = [
        link
        for link in server.links
        if link.organisation == organisation and link.procedure == procedure
    ]
    assert found, f"no {procedure} link of {organisation} in the seed output: {server.links}"
    return found[0]


def _token(link: IntakeLink) -> str:
    return urlsplit(link.url).path.removeprefix("/r/")


def _path(page: Page) -> str:
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _submit(page: Page, control: Locator) -> Response:
    """Click a submit button or link; the response the navigation ended with."""
    with page.expect_navigation() as navigation:
        control.click()
    response = navigation.value
    assert response is not None
    kind = response.headers.get("content-type", "")
    assert kind.startswith("text/html"), f"{response.url} ({response.status}) came as {kind!r}"
    return response


def _h1(page: Page) -> str:
    return page.locator("h1").inner_text().strip()


def _image(path: Path, kind: str) -> Path:
    Image.new("RGB", (24, 16), (200, 40, 40)).save(path, kind)
    return path


# The elements that reach past the viewport's right edge (for the failure message).
_TOO_WIDE = """limit => [...document.querySelectorAll('body *')]
  .filter(element => element.getBoundingClientRect().right > limit + 0.5)
  .map(element => element.outerHTML.slice(0, 100) + ' -> ' +
       Math.round(element.getBoundingClientRect().right) + 'px')
  .slice(-5)"""


def _fits(tab: Tab, where: str) -> None:
    """No horizontal scrolling at 360 px (`evaluate` runs even with the page's JS off)."""
    width = tab.page.evaluate("document.documentElement.scrollWidth")
    if width > NARROW["width"]:
        wide = "\n".join(tab.page.evaluate(_TOO_WIDE, NARROW["width"]))
        pytest.fail(f"{where} is {width}px wide at a 360px viewport:\n{wide}", pytrace=False)


def _quiet(tab: Tab, *, refused: tuple[str, ...] = ()) -> None:
    """Nothing from another origin, no CSP violation, no console error (but the browser's
    note on a 4xx answer the test asked for)."""
    tab.settle()
    foreign = [url for url in tab.requests if not url.startswith(tab.base_url + "/")]
    assert not foreign, f"requests to another origin: {foreign}"
    assert not tab.csp_violations, "\n".join(tab.csp_violations)
    errors = tab.console_errors(expected_status_urls=refused)
    assert not errors, "\n".join(errors)
    assert not tab.page_errors, "\n".join(tab.page_errors)


def _report(page: Page, procedure: str, answer: str) -> Response:
    """The report form filled with the least a report needs, anonymously, and sent."""
    page.get_by_label(tr("en", "No, I stay anonymous")).check()
    page.locator(f"#{REQUIRED[procedure]}").fill(answer)
    return _submit(page, page.get_by_role("button", name=tr("en", "Send report")))


# --- the journey --------------------------------------------------------------------------


def test_reporter_without_javascript_reports_reads_the_reply_and_answers(
    open_tab: Callable[..., Tab], server: Server, counsellor: Tab, tmp_path: Path
) -> None:
    link = _link(server, "integrity")
    token = _token(link)
    mailbox = f"/r/{token}/mailbox"
    answer = f"Invoices of one supplier are paid twice ({secrets.token_hex(4)})."
    tab = open_tab(**PHONE)
    page = tab.page

    assert tab.goto(f"/r/{token}").status == 200
    assert _h1(page) == tr("en", "Make a report")
    assert COUNSELLOR_NAME in page.locator("main ul.counsellors").inner_text()
    _fits(tab, "the start page")
    assert tab.context.cookies() == []

    _submit(page, page.get_by_role("link", name=tr("en", "Start your report")))
    assert _path(page) == f"/r/{token}/report?lang=en"
    assert _h1(page) == tr("en", "Your report")
    _fits(tab, "the report form")
    assert tab.context.cookies() == []

    page.get_by_label(tr("en", "Fraud"), exact=True).check()
    page.get_by_label(tr("en", "By phone"), exact=True).check()
    page.locator("#counsellor").select_option(label=COUNSELLOR_NAME)
    page.locator("#files").set_input_files(_image(tmp_path / "invoice.png", "PNG"))
    response = _report(page, "integrity", answer)
    assert response.status == 200
    assert _h1(page) == tr("en", "Your report has been sent")
    code = page.locator(".receipt-code strong").inner_text().strip()
    assert CODE.match(code), code
    _fits(tab, "the receipt page")
    assert tab.context.cookies() == []

    page.get_by_label(tr("en", "I have saved my code")).check()
    assert _submit(page, page.get_by_role("button", name=tr("en", "Continue"))).status == 200
    assert _h1(page) == tr("en", "Thank you for your report")
    assert code not in page.content()
    _fits(tab, "the thank-you page")
    assert tab.context.cookies() == []

    _submit(page, page.get_by_role("link", name=tr("en", "Open your mailbox")))
    assert _path(page) == f"{mailbox}?lang=en"
    assert _h1(page) == tr("en", "Open your mailbox")
    _fits(tab, "the mailbox sign-in")
    assert tab.context.cookies() == []

    page.locator("#code").fill(code.lower().replace("-", " "))
    assert _submit(page, page.get_by_role("button", name=tr("en", "Open mailbox"))).status == 200
    assert _path(page) == f"{mailbox}?lang=en"
    assert _h1(page) == tr("en", "Your mailbox")
    cookies = tab.context.cookies()
    assert [(c["name"], c["path"]) for c in cookies] == [(MAILBOX_COOKIE, mailbox)], cookies
    assert cookies[0]["httpOnly"] is True and cookies[0]["sameSite"] == "Strict"
    report_files = page.locator("main > ul.files li")
    assert report_files.count() == 1
    assert "invoice" in report_files.inner_text()
    _fits(tab, "the mailbox")

    # The counsellor finds the case and answers through the staff case page.
    staff = counsellor.page
    assert counsellor.goto("/cases").status == 200
    case_links = staff.locator("main table a[href^='/cases/']")
    hrefs = [case_links.nth(i).get_attribute("href") or "" for i in range(case_links.count())]
    assert hrefs, "the counsellor's case list is empty"
    for href in hrefs:  # newest first: normally the first one
        counsellor.goto(href)
        if answer in staff.locator("main").inner_text():
            break
    else:
        pytest.fail(f"no case with the report's answer among {hrefs}")
    assert "invoice" in staff.locator("main ul.files").first.inner_text()
    reply = f"Thank you. Can you tell us which supplier? ({secrets.token_hex(4)})"
    staff.locator("#body").fill(reply)
    response = _submit(staff, staff.get_by_role("button", name=tr("en", "Send to the reporter")))
    assert response.status == 200
    assert reply in staff.locator("ol.thread").inner_text()

    # The reporter reloads the mailbox, reads the reply and answers with a file.
    page.reload()
    thread = page.locator("ol.thread")
    assert reply in thread.locator("li.message-counsellor").inner_text()
    _fits(tab, "the mailbox with a reply")
    message = f"It is the cleaning company ({secrets.token_hex(4)})."
    page.locator("#body").fill(message)
    page.locator("#files").set_input_files(_image(tmp_path / "statement.jpg", "JPEG"))
    response = _submit(page, page.get_by_role("button", name=tr("en", "Send message")))
    assert response.status == 200
    assert _path(page) == f"{mailbox}?lang=en&done=sent"
    assert page.locator("main [role=status]").inner_text().strip() == tr(
        "en", "Your message has been sent."
    )
    mine = thread.locator("li.message-reporter").last
    assert message in mine.inner_text()
    assert "statement" in mine.locator("ul.files").inner_text()
    _fits(tab, "the mailbox with the answer")
    assert [c["name"] for c in tab.context.cookies()] == [MAILBOX_COOKIE]
    _quiet(tab)

    counsellor.goto(href)
    assert message in staff.locator("ol.thread").inner_text()


# --- bad input ----------------------------------------------------------------------------


def test_report_form_without_required_answer_shows_summary_and_keeps_typed_text(
    open_tab: Callable[..., Tab], server: Server
) -> None:
    token = _token(_link(server, "integrity"))
    tab = open_tab(**PHONE)
    page = tab.page
    assert tab.goto(f"/r/{token}/report?lang=en").status == 200
    evidence = "The invoices are in the finance share, folder 2026."
    page.locator("#q_default_evidence").fill(evidence)
    page.get_by_label(tr("en", "Fraud"), exact=True).check()

    response = _report(page, "integrity", "")
    assert response.status == 422
    assert page.title().startswith(tr("en", "Error:"))
    summary = page.locator("#error-summary")
    assert summary.is_visible()
    assert summary.get_attribute("role") == "alert"
    assert summary.locator("a[href='#q_default_wrongdoing']").count() == 1
    inline = page.locator("#q_default_wrongdoing-error")
    assert inline.is_visible()
    assert tr("en", "Enter what the suspected wrongdoing is") in inline.inner_text()
    field = page.locator("#q_default_wrongdoing")
    assert field.get_attribute("aria-invalid") == "true"
    assert "q_default_wrongdoing-error" in (field.get_attribute("aria-describedby") or "")
    assert page.locator("#q_default_evidence").input_value().strip() == evidence
    assert page.get_by_label(tr("en", "Fraud"), exact=True).is_checked()
    assert page.get_by_label(tr("en", "No, I stay anonymous")).is_checked()
    _fits(tab, "the report form with errors")
    assert tab.context.cookies() == []
    _quiet(tab, refused=(f"/r/{token}/report?lang=en",))


# --- axe, in each language ----------------------------------------------------------------

AXE_LINKS = {  # a link each, so no language's sign-ins count against another's limit
    "nl": ("unwanted_behaviour", DEMO_ORGANISATIONS[0][0]),
    "en": ("rehabilitation", DEMO_ORGANISATIONS[0][0]),
    "fr": ("integrity", DEMO_ORGANISATIONS[1][0]),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_reporter_pages_pass_axe(
    open_tab: Callable[..., Tab], server: Server, axe: str, language: str
) -> None:
    procedure, organisation = AXE_LINKS[language]
    token = _token(_link(server, procedure, organisation))
    tab = open_tab(viewport=NARROW)
    page = tab.page
    refused: list[str] = []

    def check(where: str, heading: str) -> None:
        label = f"{where} ({language})"
        assert tab.lang == language, label
        assert _h1(page) == tr(language, heading), label
        violations = run_axe(page, axe)
        assert not violations, f"{label}:\n{describe_violations(violations)}"
        _fits(tab, label)

    def send(control: Locator, status: int) -> None:
        response = _submit(page, control)
        assert response.status == status, (response.url, response.status)
        if status >= 400:
            refused.append(_path(page))

    tab.goto(f"/r/{token}?lang={language}")
    check("start page", "Make a report")
    tab.goto(f"/r/{token}/report?lang={language}")
    check("report form", "Your report")
    submit = page.locator("main form button[type=submit]")
    send(submit, 422)
    check("report form with errors", "Your report")
    assert page.locator("#error-summary").is_visible()
    page.locator("input[name=anonymity][value=anonymous]").check()
    page.locator(f"#{REQUIRED[procedure]}").fill(f"axe {language} {secrets.token_hex(4)}")
    send(submit, 200)
    check("receipt page", "Your report has been sent")
    code = page.locator(".receipt-code strong").inner_text().strip()
    send(page.locator("form[action*='/receipt?'] button[type=submit]"), 422)
    check("receipt page with error", "Your report has been sent")
    page.locator("#saved-yes").check()
    send(page.locator("form[action*='/receipt?'] button[type=submit]"), 200)

    tab.goto(f"/r/{token}/mailbox?lang={language}")
    check("mailbox sign-in", "Open your mailbox")
    page.locator("#code").fill("0000-0000-0000-0000-0000")
    send(page.locator("main form button[type=submit]"), 422)
    check("mailbox sign-in with error", "Open your mailbox")
    page.locator("#code").fill(code)
    send(page.locator("main form button[type=submit]"), 200)
    page.locator("#body").fill(f"A message in {language}.")
    send(page.locator("form[action*='/mailbox/messages'] button[type=submit]"), 200)
    assert f"A message in {language}." in page.locator("ol.thread").inner_text()
    check("mailbox with a message", "Your mailbox")
    _quiet(tab, refused=tuple(refused))
