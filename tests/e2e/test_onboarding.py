"""The onboarding wizard in a real browser: a bureau admin signs in (TOTP enrolment with the
key read off the page), creates an organisation, gets a validation error back with what was
typed, leaves half-way, comes back at the right step and finishes; axe, CSP and console
checks along the way.

The demo's second bureau admin (Bram) is used here only: each demo user can enrol once per
server, and the sign-in tests enrol the first one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Page, Response

from klankbord.demo import DEMO_PASSWORD
from tests.conftest import missing
from tests.e2e.support import Server, Tab, axe_source, describe_violations, run_axe, tr

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "bram@demo.klankbord.test"
NAME = "Gemeente Oosterhout & Partners"
STEP = re.compile(r"^/organisations/([0-9a-f-]{36})/onboarding/(\w+)$")


def _path(page: Page) -> str:
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _submit(page: Page, button: str) -> Response:
    with page.expect_navigation() as navigation:
        page.locator(button).click()
    response = navigation.value
    assert response is not None
    return response


def _h1(page: Page) -> str:
    return page.locator("h1").inner_text().strip()


def _sign_in(tab: Tab, target: str) -> None:
    """Password, TOTP enrolment and recovery codes; ends on `target`."""
    page = tab.page
    tab.goto(target)
    assert _path(page).startswith("/sign-in?next=")
    page.locator("#email").fill(ADMIN_EMAIL)
    page.locator("#password").fill(DEMO_PASSWORD)
    _submit(page, "main form button[type=submit]")
    assert _path(page) == "/sign-in/enrol", "the demo admin was enrolled before this test"
    secret = page.locator("code#totp-secret").inner_text().strip()
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    _submit(page, "main form button[type=submit]")
    with page.expect_navigation():
        page.get_by_role("link", name=tr("en", "I have saved my recovery codes")).click()
    assert _path(page) == target


def _assert_sound(tab: Tab, axe: str | None, where: str) -> None:
    if axe is not None:
        violations = run_axe(tab.page, axe)
        assert not violations, f"{where}:\n{describe_violations(violations)}"


def test_bureau_admin_walks_the_onboarding_wizard(
    open_tab: Callable[..., Tab], server: Server
) -> None:
    axe = axe_source()
    if axe is None:
        missing("axe-playwright-python (which ships axe-core) is not installed")
    assert any(user.email == ADMIN_EMAIL for user in server.users), server.users
    tab = open_tab(locale="en-GB")
    page = tab.page
    _sign_in(tab, "/organisations/new")

    # Step 1, with a headcount that is not a number: refused, everything typed is still there.
    assert _h1(page) == "Organisation details"
    page.locator("#name").fill(NAME)
    page.locator("#country-BE").check()
    page.locator("#sector").select_option("public")
    page.locator("#headcount").fill("abc")
    response = _submit(page, "main form button[type=submit]")
    assert response.status == 400
    assert _path(page) == "/organisations/new"
    assert page.title().startswith("Error: Organisation details")
    summary = page.locator("#error-summary[role=alert]")
    assert summary.count() == 1
    assert "Enter the headcount as a whole number, like 120." in summary.inner_text()
    assert summary.locator("a").get_attribute("href") == "#headcount"
    assert page.locator("#headcount-error").is_visible()
    assert page.locator("#headcount").get_attribute("aria-invalid") == "true"
    assert page.locator("#name").input_value() == NAME
    assert page.locator("#headcount").input_value() == "abc"
    assert page.locator("#sector").input_value() == "public"
    assert page.locator("#country-BE").is_checked()
    _assert_sound(tab, axe, "/organisations/new with an error")

    page.locator("#headcount").fill("85")
    response = _submit(page, "main form button[type=submit]")
    assert response.status == 200
    match = STEP.match(_path(page))
    assert match and match.group(2) == "scope", page.url
    organisation_id = match.group(1)
    base = f"/organisations/{organisation_id}/onboarding"

    # Step 2: 85 workers, so the whistleblower law applies and says so.
    assert _h1(page) == "Languages and procedures"
    assert (
        "The whistleblower law applies to this organisation." in page.locator("main").inner_text()
    )
    page.locator("#language-nl").check()
    page.locator("#language-fr").check()
    page.locator("#procedure-integrity").check()
    page.locator("#procedure-unwanted_behaviour").check()
    _submit(page, "main form button[type=submit]")
    assert _path(page) == f"{base}/counsellors"
    _assert_sound(tab, axe, "counsellors step")

    # Leaving half-way, and coming back: the wizard resumes at the counsellors.
    tab.goto("/organisations")
    tab.goto(f"/organisations/{organisation_id}/onboarding")
    assert _h1(page) == "Counsellors"

    # Step 3: without a primary counsellor the wizard does not go on.
    response = _submit(page, "main form button[value=continue]")
    assert response.status == 400
    assert "Assign at least one primary counsellor." in page.locator("#error-summary").inner_text()
    # Bram himself: the demo counsellors' own organisation lists belong to the sign-in tests.
    page.locator("#staff_user_id").select_option(label=f"Bram Bakker ({ADMIN_EMAIL})")
    page.locator("#assignment-primary").check()
    _submit(page, "main form button[value=assign]")
    assert "Bram Bakker" in page.locator("main table").inner_text()
    _submit(page, "main form button[value=continue]")
    assert _path(page) == f"{base}/authorities"

    # Step 4: Belgium's authorities are there already.
    assert "FSMA" in page.locator("main table").inner_text()
    _submit(page, "main form button[value=continue]")
    assert _path(page) == f"{base}/retention"

    # Step 5: the defaults, with a hint each.
    assert page.locator("#retention_months_closed").input_value() == "24"
    assert page.locator("#retention_months_no_follow_up").input_value() == "2"
    page.locator("#retention_months_closed").fill("36")
    _submit(page, "main form button[type=submit]")
    assert _path(page) == f"{base}/review"

    # Step 6: everything once more, then finish.
    main = page.locator("main").inner_text()
    for text in (NAME, "Bram Bakker", "FSMA", "36", "The plan is set by billing."):
        assert text in main, text
    _assert_sound(tab, axe, "review step")
    _submit(page, "main form button[type=submit]")
    assert _path(page) == f"/organisations/{organisation_id}"
    tab.goto(f"/organisations/{organisation_id}/onboarding")
    assert "This organisation is onboarded." in page.locator("main").inner_text()

    tab.settle()
    assert not tab.csp_violations, "\n".join(tab.csp_violations)
    assert not tab.page_errors, "\n".join(tab.page_errors)
