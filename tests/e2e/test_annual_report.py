"""Annual reports in a real browser: a counsellor goes from the organisation page to a report
of last year (by keyboard up to the report), reads its tables and charts, writes the trends,
submits it for review, makes it final and downloads the Dutch PDF; a refused k shows the
error summary and keeps what was typed; the organisation contact reads the final report and
never a draft; axe (WCAG 2.1 AA) passes on the report and the bureau pages in nl, en and fr
at 360 px, with no sideways scrolling, no CSP violation and no console error.

The demo users enrol in other modules (once per server), and the demo organisations collect
the other modules' cases, so this module seeds a world of its own into the server's database
(this file run as a script: `python -m tests.e2e.test_annual_report`): an organisation with
its counsellor, its contact and a bureau admin, and cases received in the years it reports on.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from uuid import UUID, uuid4

import pytest
from playwright.sync_api import Browser, Page

from casework.tables import Case, CaseCategory
from casework.time_entries import local_today
from klankbord import database, keys
from klankbord.demo import DEMO_BUREAU
from klankbord.settings import Settings
from klankbord.tenancy import system_context, tenant_transaction
from tenants import assignments, services
from tenants.choices import MembershipRole, Procedure
from tests.e2e.staff import (
    DESKTOP,
    NARROW,
    axe_script,
    quiet,
    seed_in_server,
    signed_in,
    submit,
    tab_opener,
)
from tests.e2e.support import (
    LANGUAGES,
    Server,
    Tab,
    describe_violations,
    run_axe,
    tr,
)

pytestmark = pytest.mark.browser

ORGANISATION = "Stichting De Jaarring"
PASSWORD = "juniper lighthouse ribbon canal"
USERS = {  # key: (e-mail, name, bureau admin)
    "counsellor": ("annual.counsellor@demo.klankbord.test", "Jet Jaarverslag", False),
    "contact": ("annual.contact@demo.klankbord.test", "Karel Contact", False),
    "admin": ("annual.admin@demo.klankbord.test", "Ben Bureau", True),
}
LAST_YEAR = local_today().year - 1  # the journey's report
DRAFT_YEAR = LAST_YEAR - 1  # stays a draft
FINAL_YEAR = LAST_YEAR - 2  # made final by a fixture, for the contact and axe
# Cases per year: (procedure, channel, reporter role, how many); 13 cases last year.
CASES = {
    LAST_YEAR: [
        ("unwanted_behaviour", "online", "employee", 6),
        ("integrity", "phone", "manager", 4),
        ("unwanted_behaviour", "walk_in", "employee", 3),
    ],
    DRAFT_YEAR: [("unwanted_behaviour", "online", "employee", 4)],
    FINAL_YEAR: [("unwanted_behaviour", "phone", "employee", 5)],
}
LAST_YEAR_CASES = sum(count for *_, count in CASES[LAST_YEAR])
FINAL_NARRATIVE = "Fewer questions about workload than the year before."


# --- the world, seeded in the server's database ----------------------------------------------


async def _seed(password: str) -> dict[str, str]:
    """The organisation, its people and its cases: through the services where there is one,
    the cases as rows (as tests/casework/test_annual_reports.py adds them)."""
    settings = Settings.from_env()
    keys.use_key_provider(keys.key_provider(settings))
    engine = database.use_engine(database.make_engine(settings.database_url))
    await database.open_engine(engine)
    try:
        ctx = system_context("e2e-annual-report")
        bureau_id = await services.find_bureau(ctx, name=DEMO_BUREAU)
        assert bureau_id is not None
        organisation_id = await services.create_organisation(
            ctx,
            bureau_id=bureau_id,
            name=ORGANISATION,
            sector="housing",
            headcount=80,
            languages=("nl", "en", "fr"),
            procedures=tuple(Procedure),
        )
        ids = {
            key: await services.create_staff_user(
                ctx,
                bureau_id=bureau_id,
                email=email,
                display_name=name,
                password=password,
                bureau_admin=admin,
            )
            for key, (email, name, admin) in USERS.items()
        }
        await assignments.assign_counsellor(
            ctx,
            organisation_id=organisation_id,
            staff_user_id=ids["counsellor"],
            assignment="primary",
        )
        await services.add_membership(
            ctx,
            organisation_id=organisation_id,
            staff_user_id=ids["contact"],
            role=MembershipRole.ORGANISATION_CONTACT,
        )
        cases: list[Any] = []
        for year, groups in CASES.items():
            for procedure, channel, role, count in groups:
                cases += [
                    Case(
                        id=uuid4(),
                        organisation=organisation_id,
                        bureau=bureau_id,
                        procedure=procedure,
                        channel=channel,
                        reporter_role=role,
                        receipt_lookup=secrets.token_hex(16),
                        receipt_verifier="-",
                        submission=secrets.token_hex(16),
                        reference=f"{year}-J{secrets.token_hex(3).upper()}",
                        received_at=datetime(year, 5, 1, 10, tzinfo=UTC),
                    )
                    for _ in range(count)
                ]
        async with tenant_transaction(ctx):
            await Case.insert(*cases)
            await CaseCategory.insert(
                *[
                    CaseCategory(
                        case=case.id,
                        organisation=organisation_id,
                        bureau=bureau_id,
                        code=code,
                        received_at=case.received_at,
                    )
                    for case in cases[:8]
                    for code in ("bullying", "intimidation")
                ]
            )
    finally:
        await database.close_engine(engine)
    return {"organisation_id": str(organisation_id)}


@pytest.fixture(scope="module")
def organisation_id(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Runs `_seed` in a process of its own on the running server's database and key files."""
    seeded = seed_in_server(tmp_path_factory, "tests.e2e.test_annual_report", PASSWORD)
    return str(UUID(seeded["organisation_id"]))


# --- signing in ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def people(browser: Browser, server: Server, organisation_id: str) -> dict[str, Any]:
    """Each person signed in once (TOTP enrolled): their browser state, to open contexts with."""
    emails = {key: email for key, (email, _name, _admin) in USERS.items()}
    return signed_in(browser, server.base_url, emails, PASSWORD)


@pytest.fixture
def open_as(
    browser: Browser, server: Server, people: dict[str, Any]
) -> Iterator[Callable[..., Tab]]:
    """`open_as(person, language="en", viewport=DESKTOP)`: a watched tab, signed in."""
    with tab_opener(browser, server.base_url, people) as make:
        yield make


@pytest.fixture(scope="module")
def final_report(
    browser: Browser, server: Server, people: dict[str, Any], organisation_id: str
) -> str:
    """The path of a final report (FINAL_YEAR, with a narrative) and a draft of DRAFT_YEAR."""
    context = browser.new_context(storage_state=people["counsellor"], viewport=DESKTOP)
    try:
        tab = Tab(context, server.base_url)
        page = tab.page
        _start(tab, organisation_id, DRAFT_YEAR)
        path = _start(tab, organisation_id, FINAL_YEAR)
        page.locator("#narrative").fill(FINAL_NARRATIVE)
        submit(page, page.locator("form[action$='/text'] button[type=submit]"))
        submit(page, page.locator("form[action$='/review'] button"))
        submit(page, page.locator("form[action$='/final'] button"))
        assert page.locator("#narrative").count() == 0
    finally:
        context.close()
    return path


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_script()


# --- small steps -----------------------------------------------------------------------------


def _path(page: Page) -> str:
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _start(tab: Tab, organisation_id: str, year: int) -> str:
    """Start (or find) the report of `year` through the list page; its path."""
    page = tab.page
    tab.goto(f"/organisations/{organisation_id}/annual-reports")
    page.locator("#year").fill(str(year))
    submit(page, page.locator("main form button[type=submit]"))
    path = f"/organisations/{organisation_id}/annual-reports/{year}"
    assert urlsplit(page.url).path == path, page.url
    return path


def _tab_to(page: Page, matches: str, limit: int = 60) -> None:
    """Press Tab until `matches` (a JS expression on `el`) holds for the focused element."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return {matches}; }})()"):
            return
    pytest.fail(f"{matches} was not reached with {limit} presses of Tab")


_CHART_NAMES = """() => [...document.querySelectorAll('main svg[role=img]')].map(svg =>
  (svg.getAttribute('aria-labelledby') || '').split(/\\s+/)
    .map(id => (document.getElementById(id) || {}).textContent || '').join(' ').trim())"""


def _key_figure(page: Page, language: str, item: str) -> str:
    row = page.locator("main table").first.locator("tbody tr").filter(has_text=tr(language, item))
    return row.locator("td").first.inner_text().strip()


# --- the counsellor's journey ----------------------------------------------------------------


def test_annual_report_counsellor_goes_from_draft_to_final_pdf(
    open_as: Callable[..., Tab], organisation_id: str
) -> None:
    tab = open_as("counsellor")
    page = tab.page
    base = f"/organisations/{organisation_id}/annual-reports"

    # By keyboard: the organisation page's link, then the year (last year is filled in).
    tab.goto(f"/organisations/{organisation_id}")
    _tab_to(page, f"el.getAttribute('href') === {base!r}")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlsplit(page.url).path == base
    assert page.locator("#year").input_value() == str(LAST_YEAR)
    _tab_to(page, "el.id === 'year'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert urlsplit(page.url).path == f"{base}/{LAST_YEAR}", page.url
    assert tr("en", "Draft") in page.locator("main .notice").inner_text()

    # Figures: the key figures count last year's cases; breakdowns come with named charts.
    assert _key_figure(page, "en", "Cases") == str(LAST_YEAR_CASES)
    assert page.locator("#table-procedure ~ .table-scroll table tbody tr").count() > 0
    names = page.evaluate(_CHART_NAMES)
    assert names and all(names), f"charts without an accessible name: {names}"
    assert page.locator("main figure.chart-figure svg[role=img]").count() == len(names)

    # The texts: saved and shown again.
    narrative = f"More questions about workload in the spring ({secrets.token_hex(4)})."
    page.locator("#narrative").fill(narrative)
    submit(page, page.get_by_role("button", name=tr("en", "Save"), exact=True))
    assert urlsplit(page.url).fragment == "texts"
    assert page.locator("#narrative").input_value() == narrative

    # Review, then final: the form is gone, the text stays.
    submit(page, page.get_by_role("button", name=tr("en", "Submit for review")))
    assert tr("en", "For review") in page.locator("main .notice").inner_text()
    assert page.locator("#narrative").input_value() == narrative
    submit(page, page.get_by_role("button", name=tr("en", "Make the report final")))
    assert page.locator("main form").count() == 0
    assert page.locator("#narrative").count() == 0
    assert narrative in page.locator("main .message-body").first.inner_text()
    finalised = tr("en", "Finalised on %(date)s") % {"date": local_today().strftime("%d-%m-%Y")}
    assert finalised in page.locator("main .notice").inner_text()
    assert _key_figure(page, "en", "Cases") == str(LAST_YEAR_CASES)

    # The Dutch PDF.
    with page.expect_download() as waiting:
        page.locator(f"a[href='{base}/{LAST_YEAR}/report.pdf?lang=nl']").click()
    download = waiting.value
    name = download.suggested_filename
    assert f"{tr('nl', 'Annual report %(year)s') % {'year': LAST_YEAR}} {ORGANISATION}" in name, (
        name
    )
    assert Path(download.path()).read_bytes().startswith(b"%PDF")
    quiet(tab)


# --- a refused k -------------------------------------------------------------------------------


def test_annual_report_k_below_two_shows_summary_and_keeps_text(
    open_as: Callable[..., Tab], organisation_id: str, final_report: str, axe: str
) -> None:
    tab = open_as("counsellor", "nl")
    page = tab.page
    path = final_report.replace(str(FINAL_YEAR), str(DRAFT_YEAR))
    tab.goto(path)
    saved = page.locator("#narrative").input_value()
    typed = f"Drie workshops over omgangsvormen ({secrets.token_hex(4)})."
    page.locator("#narrative").fill(typed)
    page.locator("#preventive").fill("Een gesprek met het management.")
    page.locator("#k").fill("1")
    response = submit(page, page.locator("form[action$='/text'] button[type=submit]"))
    assert response.status == 422

    message = tr("nl", "Enter a number from 2 to 10.")
    heading = tr("nl", "Annual report %(year)s") % {"year": DRAFT_YEAR}
    assert page.title().startswith(tr("nl", "Error: %(title)s") % {"title": heading})
    summary = page.locator("#error-summary")
    assert summary.get_attribute("role") == "alert"
    assert tr("nl", "There is a problem") in summary.inner_text()
    link = summary.locator("a[href='#k']")
    assert link.inner_text().strip() == message
    assert page.locator("#k-error").inner_text().strip() == message
    field = page.locator("#k")
    assert field.get_attribute("aria-invalid") == "true"
    assert (field.get_attribute("aria-describedby") or "").split() == ["k-hint", "k-error"]
    assert field.input_value() == "1"
    assert page.locator("#narrative").input_value() == typed
    assert page.locator("#preventive").input_value() == "Een gesprek met het management."

    # The summary comes before the form in the tab order, and its link leads to the field.
    _tab_to(page, "el.getAttribute('href') === '#k'")
    page.keyboard.press("Enter")
    page.wait_for_function("location.hash === '#k'")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    violations = run_axe(page, axe)
    assert not violations, f"the error page:\n{describe_violations(violations)}"

    # Nothing was saved.
    tab.goto(path)
    assert page.locator("#narrative").input_value() == saved
    assert page.locator("#k").input_value() == "3"
    quiet(tab, refused=(f"{path}/text",))


# --- the organisation contact --------------------------------------------------------------------


def test_annual_report_contact_reads_final_not_draft(
    open_as: Callable[..., Tab], organisation_id: str, final_report: str
) -> None:
    tab = open_as("contact")
    page = tab.page
    base = f"/organisations/{organisation_id}/annual-reports"
    tab.goto(f"/organisations/{organisation_id}")
    submit(page, page.get_by_role("link", name=tr("en", "Annual reports"), exact=True))
    listed = page.locator("main table tbody a")
    hrefs = [listed.nth(i).get_attribute("href") for i in range(listed.count())]
    assert final_report in hrefs
    assert f"{base}/{DRAFT_YEAR}" not in hrefs
    assert page.locator("#year").count() == 0  # no start form

    submit(page, page.locator(f"a[href='{final_report}']"))
    assert FINAL_NARRATIVE in page.locator("main .message-body").first.inner_text()
    assert page.locator("main form").count() == 0
    assert page.locator("main textarea, main input").count() == 0

    draft = f"{base}/{DRAFT_YEAR}"
    assert tab.goto(draft).status == 404
    assert tab.goto(f"{draft}/report.pdf?lang=nl").status == 404
    quiet(tab, refused=(draft, f"{draft}/report.pdf?lang=nl"))


# --- axe, 360 px, in each language -----------------------------------------------------------


def _pages(organisation_id: str, final_report: str) -> list[tuple[str, str, str]]:
    """(person, path, what) of every annual report page, a draft and a final one, one each
    with and one without last year's figures beside this year's."""
    base = f"/organisations/{organisation_id}/annual-reports"
    return [
        ("counsellor", f"{base}/{DRAFT_YEAR}", "draft report, compared"),
        ("counsellor", final_report, "final report"),
        ("contact", final_report, "final report, contact"),
        ("admin", f"/bureau/annual-report?year={LAST_YEAR}", "bureau figures, compared"),
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_annual_report_pages_pass_axe_at_360px(
    open_as: Callable[..., Tab], organisation_id: str, final_report: str, axe: str, language: str
) -> None:
    tabs: dict[str, Tab] = {}
    for person, path, where in _pages(organisation_id, final_report):
        tab = tabs.setdefault(person, open_as(person, language, NARROW))
        page = tab.page
        label = f"{where} ({language})"
        assert tab.goto(path).status == 200, label
        assert tab.lang == language, label
        violations = run_axe(page, axe)
        assert not violations, f"{label}:\n{describe_violations(violations)}"
        if person == "admin":
            assert page.locator("#table-sector").count() == 1, label
            assert page.locator("main svg[role=img]").count() > 0, label
            cases = _key_figure(page, language, "Cases")
            assert cases.isdigit() and int(cases) >= LAST_YEAR_CASES, (label, cases)
    for tab in tabs.values():
        quiet(tab)


def test_annual_report_pages_fit_360px_without_sideways_scrolling(
    open_as: Callable[..., Tab], organisation_id: str, final_report: str
) -> None:
    """Each page in each language, chosen through the language switch (it remembers the
    choice in a cookie and comes back to the page)."""
    too_wide: list[str] = []
    tabs: dict[str, Tab] = {}
    for language in LANGUAGES:
        for person, path, where in _pages(organisation_id, final_report):
            tab = tabs.setdefault(person, open_as(person, "en", NARROW))
            assert tab.goto(f"/language?lang={language}&next={quote(path)}").status == 200
            assert _path(tab.page) == path and tab.lang == language, (tab.page.url, language)
            width = tab.page.evaluate("document.documentElement.scrollWidth")
            if width > NARROW["width"]:
                too_wide.append(f"{where} ({language}): {width}px")
    assert not too_wide, "pages that scroll sideways at 360 px:\n" + "\n".join(too_wide)


# --- export names ------------------------------------------------------------------------------


def test_annual_report_exports_are_named_for_the_report(
    open_as: Callable[..., Tab], organisation_id: str, final_report: str
) -> None:
    tab = open_as("counsellor")
    heading = tr("nl", "Annual report %(year)s") % {"year": FINAL_YEAR}
    for kind in ("pdf", "csv"):
        response = tab.context.request.get(f"{tab.base_url}{final_report}/report.{kind}?lang=nl")
        assert response.status == 200
        disposition = response.headers["content-disposition"]
        assert f'filename="{heading} {ORGANISATION}.{kind}"' in disposition, disposition


if __name__ == "__main__":
    seeded = asyncio.run(_seed(os.environ["KLANKBORD_E2E_PASSWORD"]))
    sys.stdout.write(json.dumps(seeded) + "\n")
