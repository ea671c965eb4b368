"""The counsellor in a real browser: a report comes in through a demo intake link, and the
counsellor filters the caseload, acknowledges it, works through the procedure (a step, two
categories, consent for an outward step that is refused before it), records time and a
note, closes with an outcome, reads the timeline and reopens; then opens a case for a phone
call and downloads the organisation's register. The caseload filter and opening a case work
by keyboard alone; axe (WCAG 2.1 AA) passes on the counsellor pages in nl, en and fr.

The demo counsellors enrol in tests/e2e/test_sign_in.py, so this module works as a bureau
admin of its own (`klankbord create-admin`, as test_reporter.py does, with another e-mail
address) who is a substitute counsellor of the second demo organisation.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from playwright.sync_api import Browser, Locator, Page, Response, ViewportSize

from klankbord.demo import DEMO_BUREAU, DEMO_ORGANISATIONS
from tests.conftest import missing
from tests.e2e.support import (
    LANGUAGES,
    REPO,
    Server,
    Tab,
    axe_source,
    describe_violations,
    run_axe,
    tr,
)

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
LOCALE = {"nl": "nl-NL", "en": "en-GB", "fr": "fr-FR"}
ORGANISATION = DEMO_ORGANISATIONS[1][0]  # test_reporter.py works in the first one
EMAIL = "counsellor.journey@demo.klankbord.test"
NAME = "Cas Caseload"
PASSWORD = "meadow lantern pebble orchard"
REGISTER_HEADER = [
    "reference",
    "received_on",
    "channel",
    "procedure",
    "categories",
    "status",
    "outcome",
    "closed_on",
]


@dataclass
class Counsellor:
    tab: Tab
    user_id: str
    organisation_id: str
    case_id: str  # a phone case of this module's own, with a time entry


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def axe() -> str:
    source = axe_source()
    if source is None:
        missing("axe-playwright-python (which ships axe-core) is not installed")
    assert source is not None
    return source


def _create_admin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bureau admin of the demo bureau in the running server's database; their id."""
    databases = sorted(tmp_path_factory.getbasetemp().glob("e2e-server*/db.sqlite3"))
    assert databases, "the e2e server's database was not found"
    env = {key: value for key, value in os.environ.items() if not key.startswith("KLANKBORD_")}
    env.update(
        KLANKBORD_ENV="test",
        KLANKBORD_DATABASE_URL=f"sqlite:///{databases[-1]}",
        KLANKBORD_SECRET_KEY=secrets.token_urlsafe(48),
        KLANKBORD_DATA_DIR=str(databases[-1].parent / "data"),
        KLANKBORD_ADMIN_PASSWORD=PASSWORD,
        KLANKBORD_LOG_LEVEL="WARNING",
    )
    script = Path(sys.executable).with_name("klankbord")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "klankbord"]
    command += ["create-admin", "--bureau", DEMO_BUREAU, "--email", EMAIL, "--name", NAME]
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"create-admin failed:\n{done.stdout}\n{done.stderr}"
    user_id = done.stdout.strip().splitlines()[-1].strip()
    assert re.fullmatch(r"[0-9a-f-]{36}", user_id), done.stdout
    return user_id


@pytest.fixture(scope="module")
def counsellor(
    browser: Browser, server: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Counsellor]:
    """Signed in (TOTP enrolled), a substitute counsellor of `ORGANISATION`, with a case."""
    user_id = _create_admin(tmp_path_factory)
    context = browser.new_context(locale="en-GB", viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = Tab(context, server.base_url)
    page = tab.page
    tab.goto("/sign-in")
    page.locator("#email").fill(EMAIL)
    page.locator("#password").fill(PASSWORD)
    _submit(page, page.locator("main form button[type=submit]"))
    assert _path(page) == "/sign-in/enrol", page.url
    secret = page.locator("code#totp-secret").inner_text().strip()
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    _submit(page, page.locator("main form button[type=submit]"))
    assert page.locator("ul#recovery-codes li").count() > 0

    tab.goto("/organisations")
    href = page.get_by_role("link", name=ORGANISATION, exact=True).get_attribute("href") or ""
    assert re.fullmatch(r"/organisations/[0-9a-f-]{36}", href), href
    tab.goto(f"{href}/counsellors")
    page.locator("#staff_user_id").select_option(label=f"{NAME} ({EMAIL})")
    page.locator("#assignment-substitute").check()
    _submit(page, page.locator("main form button[value=assign]"))
    assert NAME in page.locator("main table").inner_text()
    organisation_id = href.rsplit("/", 1)[-1]

    case_id = _open_case(tab, organisation_id, f"Fixture call ({secrets.token_hex(4)}).")
    page.locator("#time_minutes").fill("20")
    _submit(page, page.get_by_role("button", name=tr("en", "Record time")))
    yield Counsellor(tab, user_id, organisation_id, case_id)
    context.close()


# --- small steps --------------------------------------------------------------------------


def _path(page: Page) -> str:
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _submit(page: Page, control: Locator) -> Response:
    """Click a submit button or link; the response the navigation ended with (HTML)."""
    with page.expect_navigation() as navigation:
        control.click()
    response = navigation.value
    assert response is not None
    kind = response.headers.get("content-type", "")
    assert kind.startswith("text/html"), f"{response.url} ({response.status}) came as {kind!r}"
    return response


def _open_case(tab: Tab, organisation_id: str, summary: str) -> str:
    """A phone case of the unwanted-behaviour procedure through /cases/new; its id."""
    page = tab.page
    tab.goto("/cases/new")
    page.locator("#organisation").select_option(organisation_id)
    page.locator("#procedure-unwanted_behaviour").check()
    page.locator("#channel-phone").check()
    page.locator("#summary").fill(summary)
    assert _submit(page, page.get_by_role("button", name=tr("en", "Open the case"))).status == 200
    match = re.fullmatch(r"/cases/([0-9a-f-]{36})", urlsplit(page.url).path)
    assert match, page.url
    assert summary in page.locator("dl.answers").inner_text()
    return match.group(1)


def _step(page: Page, label: str) -> Locator:
    return page.locator("ol.steps > li").filter(has_text=tr("en", label))


def _timeline(page: Page) -> str:
    return page.locator("ol.timeline").inner_text()


def _quiet(tab: Tab, *, refused: tuple[str, ...] = ()) -> None:
    """Nothing from another origin, no CSP violation, no console or page error (but the
    browser's note on a 4xx answer the test asked for)."""
    tab.settle()
    foreign = [url for url in tab.requests if not url.startswith(tab.base_url + "/")]
    assert not foreign, f"requests to another origin: {foreign}"
    assert not tab.csp_violations, "\n".join(tab.csp_violations)
    errors = tab.console_errors(expected_status_urls=refused)
    assert not errors, "\n".join(errors)
    assert not tab.page_errors, "\n".join(tab.page_errors)


def _report_through_intake_link(open_tab: Callable[..., Tab], server: Server, answer: str) -> Tab:
    found = [
        link
        for link in server.links
        if link.organisation == ORGANISATION and link.procedure == "unwanted_behaviour"
    ]
    assert found, f"no unwanted-behaviour link of {ORGANISATION}: {server.links}"
    reporter = open_tab(viewport=DESKTOP)
    page = reporter.page
    assert reporter.goto(f"{urlsplit(found[0].url).path}/report?lang=nl").status == 200
    page.locator("input[name=anonymity][value=anonymous]").check()
    page.locator("#q_default_what_happened").fill(answer)
    assert _submit(page, page.locator("main form button[type=submit]")).status == 200
    assert page.locator(".receipt-code strong").is_visible()
    return reporter


# --- the journey --------------------------------------------------------------------------


def test_counsellor_works_a_report_from_caseload_to_reopening(
    open_tab: Callable[..., Tab], server: Server, counsellor: Counsellor
) -> None:
    answer = f"My team leader shouts at me in every meeting ({secrets.token_hex(4)})."
    _quiet(_report_through_intake_link(open_tab, server, answer))
    tab, org = counsellor.tab, counsellor.organisation_id
    page = tab.page
    refused: list[str] = []

    # The caseload, filtered by the organisation through the GET form.
    assert tab.goto("/cases").status == 200
    page.locator("#organisation").select_option(org)
    _submit(page, page.get_by_role("button", name=tr("en", "Filter")))
    assert parse_qs(urlsplit(page.url).query)["organisation"] == [org]
    rows = page.locator("main table tbody tr")
    assert rows.count() > 0
    names = {rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())}
    assert names == {ORGANISATION}, names
    hrefs = [
        page.locator("main table tbody th a").nth(i).get_attribute("href") or ""
        for i in range(rows.count())
    ]
    for href in hrefs:  # ordered by the nearest deadline, so not always the first
        tab.goto(href)
        if answer in page.locator("dl.answers").inner_text():
            break
    else:
        pytest.fail(f"no case with the report's answer among {hrefs}")
    case_path = urlsplit(page.url).path

    # The clock panel: the acknowledgement.
    clocks = page.locator("#clocks")
    acknowledge = clocks.get_by_role(
        "button", name=tr("en", "Record that the receipt was acknowledged")
    )
    _submit(page, acknowledge)
    acknowledgement = clocks.locator("tr").filter(has_text=tr("en", "Acknowledgement of receipt"))
    assert "clock-met" in (acknowledgement.get_attribute("class") or "")
    assert acknowledge.count() == 0

    # A step, and two categories.
    _submit(page, _step(page, "Intake conversation").get_by_role("button"))
    assert tr("en", "Done") in _step(page, "Intake conversation").locator(".tag").inner_text()
    page.locator("#category-bullying").check()
    page.locator("#category-intimidation").check()
    _submit(page, page.get_by_role("button", name=tr("en", "Save categories and role")))
    checked = page.locator("#categories input:checked")
    assert [checked.nth(i).get_attribute("value") for i in range(checked.count())] == [
        "bullying",
        "intimidation",
    ]

    # An outward step is refused until the reporter's consent is recorded.
    outward = "Conversation with the manager"
    consent_required = tr(
        "en",
        "This step goes outside the counselling conversation: "
        "it needs the reporter's recorded consent first.",
    )
    response = _submit(page, _step(page, outward).get_by_role("button"))
    assert response.status == 409
    refused.append(f"{case_path}/steps")
    assert consent_required in page.locator("#error-summary").inner_text()
    assert consent_required in page.locator("section.workflow").inner_text()
    assert tr("en", "Done") not in _step(page, outward).inner_text()

    page.locator("#consent-ask-step").select_option("talk_to_manager")
    _submit(page, page.get_by_role("button", name=tr("en", "Ask for consent")))
    consent_list = page.locator("section.consent ul")
    assert tr("en", "Asked in the mailbox, no answer yet") in consent_list.inner_text()
    assert _submit(page, _step(page, outward).get_by_role("button")).status == 409

    page.locator("#consent-record-step").select_option("talk_to_manager")
    page.locator("#answer-yes").check()
    page.locator("#conversation_on").fill(datetime.now(UTC).date().isoformat())
    _submit(page, page.get_by_role("button", name=tr("en", "Record the answer")))
    assert tr("en", "Consent given") in consent_list.inner_text()
    assert _submit(page, _step(page, outward).get_by_role("button")).status == 200
    assert tr("en", "Done") in _step(page, outward).inner_text()

    # Time and an internal note.
    page.locator("#time_minutes").fill("45")
    page.locator("#time_activity").select_option("conversation")
    _submit(page, page.get_by_role("button", name=tr("en", "Record time")))
    minutes = tr("en", "%(minutes)d min") % {"minutes": 45}
    assert minutes in page.locator("section.time-panel table tbody").inner_text()
    note = f"Spoke with her for 45 minutes; she wants to try a talk first ({secrets.token_hex(4)})."
    page.locator("#note").fill(note)
    _submit(page, page.get_by_role("button", name=tr("en", "Add the note")))
    assert note in page.locator("section[aria-labelledby=notes]").inner_text()

    # Closing with an outcome, the timeline, and reopening.
    page.locator("#outcome").select_option("informal_solution")
    _submit(page, page.get_by_role("button", name=tr("en", "Close the case")))
    closed = tr("en", "Closed with the outcome:")
    assert closed in page.locator("section.workflow").inner_text()
    assert tr("en", "Informal solution") in page.locator("section.workflow strong").inner_text()
    assert tr("en", "Closed") in page.locator("dl.summary").first.inner_text()
    timeline = _timeline(page)
    for event in (
        tr("en", "Report received through the intake link"),
        tr("en", "Receipt acknowledged"),
        f"{tr('en', 'Step done:')} {tr('en', 'Intake conversation')}",
        tr("en", "Categories changed"),
        f"{tr('en', 'Consent asked in the mailbox:')} {tr('en', outward)}",
        f"{tr('en', 'Consent recorded after a conversation:')} {tr('en', outward)}",
        f"{tr('en', 'Step done:')} {tr('en', outward)}",
        tr("en", "Time recorded"),
        tr("en", "Internal note added"),
        f"{closed} {tr('en', 'Informal solution')}",
    ):
        assert event in timeline, f"{event!r} not in the timeline:\n{timeline}"
    assert note not in timeline and answer not in timeline
    _submit(page, page.get_by_role("button", name=tr("en", "Reopen the case")))
    assert tr("en", "Reopened") in _timeline(page)
    assert page.get_by_role("button", name=tr("en", "Close the case")).is_visible()
    assert tr("en", "In progress") in page.locator("dl.summary").first.inner_text()
    reference = page.locator("h1").inner_text().removeprefix(tr("en", "Case")).strip()

    # A phone call becomes a case, and the caseload lists it.
    summary = f"Phone call: a colleague feels excluded by the team ({secrets.token_hex(4)})."
    phone_case = _open_case(tab, org, summary)
    assert tr("en", "Phone call") in page.locator("dl.summary").first.inner_text()
    phone_reference = page.locator("h1").inner_text().removeprefix(tr("en", "Case")).strip()
    tab.goto(f"/cases?organisation={org}")
    listed = page.locator("main table tbody th a")
    found = {
        listed.nth(i).get_attribute("href"): listed.nth(i).inner_text()
        for i in range(listed.count())
    }
    assert found.get(f"/cases/{phone_case}") == phone_reference, found

    # The register: codes and dates, never the report's words.
    tab.goto(f"/organisations/{org}")
    with page.expect_download() as waiting:
        page.get_by_role("link", name=tr("en", "Register (CSV)")).click()
    download = waiting.value
    assert download.suggested_filename.startswith(f"register {ORGANISATION}")
    text = Path(download.path()).read_text("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == REGISTER_HEADER
    by_reference = {line[0]: line for line in lines[1:]}
    # Reopened: in progress again, the outcome kept until the case closes again.
    assert by_reference[reference][2:8] == [
        "online",
        "unwanted_behaviour",
        "bullying|intimidation",
        "in_progress",
        "informal_solution",
        "",
    ], by_reference[reference]
    assert by_reference[phone_reference][2:6] == ["phone", "unwanted_behaviour", "", "in_progress"]
    for secret_text in (answer, summary, note):
        assert secret_text not in text
        assert secret_text.split(" (")[0] not in text
    _quiet(tab, refused=tuple(refused))


# --- keyboard -----------------------------------------------------------------------------


def _tab_to(page: Page, matches: str, limit: int = 80) -> None:
    """Press Tab until `matches` (a JS expression on `el`) holds for the focused element."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return {matches}; }})()"):
            return
    pytest.fail(f"{matches} was not reached with {limit} presses of Tab")


def test_caseload_filter_and_opening_a_case_work_by_keyboard(
    browser: Browser, server: Server, counsellor: Counsellor
) -> None:
    context = browser.new_context(
        storage_state=counsellor.tab.context.storage_state(), locale="en-GB", viewport=DESKTOP
    )
    try:
        tab = Tab(context, server.base_url)
        page = tab.page
        tab.goto("/cases?status=all")
        _tab_to(page, "el.id === 'organisation'")
        target = page.locator(f"#organisation option[value='{counsellor.organisation_id}']")
        steps = int(target.evaluate("option => option.index"))
        for _ in range(steps):
            page.keyboard.press("ArrowDown")
        assert page.locator("#organisation").input_value() == counsellor.organisation_id
        _tab_to(page, "el.type === 'submit'")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        query = parse_qs(urlsplit(page.url).query)
        assert query["organisation"] == [counsellor.organisation_id], page.url
        assert query["status"] == ["all"], page.url

        link = f"a[href='/cases/{counsellor.case_id}']"
        assert page.locator(link).count() == 1
        _tab_to(page, f"el.matches({link!r})", limit=200)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert urlsplit(page.url).path == f"/cases/{counsellor.case_id}"
        assert page.locator("h1").inner_text().startswith(tr("en", "Case"))
        _quiet(tab)
    finally:
        context.close()


# --- axe, in each language ----------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_counsellor_pages_pass_axe(
    browser: Browser, server: Server, counsellor: Counsellor, axe: str, language: str
) -> None:
    context = browser.new_context(
        storage_state=counsellor.tab.context.storage_state(),
        locale=LOCALE[language],
        viewport=DESKTOP,
    )
    try:
        tab = Tab(context, server.base_url)
        page = tab.page
        refused: list[str] = []

        def check(where: str, response: Response, status: int) -> None:
            label = f"{where} ({language})"
            assert response.status == status, label
            assert tab.lang == language, label
            violations = run_axe(page, axe)
            assert not violations, f"{label}:\n{describe_violations(violations)}"
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= DESKTOP["width"], f"{label} scrolls sideways: {width}px"

        case = f"/cases/{counsellor.case_id}"
        handover = f"/bureau/counsellors/{counsellor.user_id}/handover"
        for path, where in (
            ("/cases", "caseload"),
            (f"/cases?organisation={counsellor.organisation_id}&status=all", "filtered caseload"),
            (case, "case page"),
            ("/cases/new", "new case"),
            ("/time", "my time"),
            (handover, "handover"),
        ):
            check(where, tab.goto(path), 200)
        assert NAME in page.locator("main .lead").inner_text()

        tab.goto("/cases/new")
        response = _submit(page, page.locator("main form button[type=submit]"))
        refused.append("/cases/new")
        check("new case with errors", response, 422)
        assert page.locator("#error-summary").is_visible()

        tab.goto(case)
        step = page.locator("ol.steps > li form:has(input[value=talk_to_manager]) button")
        response = _submit(page, step)
        refused.append(f"{case}/steps")
        check("case page with a refused step", response, 409)

        tab.goto(handover)
        response = _submit(page, page.locator("main form button[type=submit]"))
        refused.append(handover)
        check("handover with errors", response, 422)
        _quiet(tab, refused=tuple(refused))
    finally:
        context.close()
