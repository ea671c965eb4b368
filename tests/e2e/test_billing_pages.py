"""Billing pages in a real browser, with Stripe not connected (the server has no keys): the
bureau admin's billing page (the notice, the connect form, the default plans made on the first
visit) and an organisation's billing page pass axe (WCAG 2.1 AA) in nl, en and fr at 360 px,
with no sideways scrolling, no CSP violation and no console error; a refused secret key shows
the error summary, keeps the trial days and never shows the key again; "the bureau pays" is
saved; the organisation contact reads the page without a form; the dashboard's "Payment
failed" tag leads to the organisation's billing page.

The default plans are made per bureau and Stripe is connected per bureau, so this module
seeds a bureau of its own into the server's database (this file run as a script:
`python -m tests.e2e.test_billing_pages`): its bureau admin, one organisation with its contact,
and that organisation's billing row with a failed payment.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import pytest
from playwright.sync_api import Browser, Page

from billing.tables import OrganisationBilling
from klankbord import database, keys
from klankbord.settings import Settings
from klankbord.tenancy import system_context, tenant_transaction
from tenants import services
from tenants.choices import MembershipRole
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

BUREAU = "Bureau Kasboek"
ORGANISATION = "Stichting De Rekening"
HEADCOUNT = 80  # in the default band of 50 to 249 employees
BAND = "50-249"
PASSWORD = "meadow lantern pebble harbour"
USERS = {  # key: (e-mail, name, bureau admin)
    "admin": ("billing.admin@kasboek.klankbord.test", "Bea Boekhouder", True),
    "contact": ("billing.contact@kasboek.klankbord.test", "Cas Contact", False),
}
NOT_CONNECTED = {
    "bureau": "Billing is not connected. The plans below are shown to you, but no "
    "subscriptions or invoices are made.",
    "organisation": "Billing is not connected. The plan below is shown, but no "
    "subscriptions or invoices are made.",
}


# --- the world, seeded in the server's database ----------------------------------------------


async def _seed(password: str) -> dict[str, str]:
    settings = Settings.from_env()
    keys.use_key_provider(keys.key_provider(settings))
    engine = database.use_engine(database.make_engine(settings.database_url))
    await database.open_engine(engine)
    try:
        ctx = system_context("e2e-billing")
        bureau_id = await services.create_bureau(ctx, name=BUREAU)
        organisation_id = await services.create_organisation(
            ctx,
            bureau_id=bureau_id,
            name=ORGANISATION,
            sector="housing",
            headcount=HEADCOUNT,
            languages=("nl", "en", "fr"),
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
        await services.add_membership(
            ctx,
            organisation_id=organisation_id,
            staff_user_id=ids["contact"],
            role=MembershipRole.ORGANISATION_CONTACT,
        )
        # What a webhook leaves after a failed payment (no Stripe in this server).
        async with tenant_transaction(ctx):
            await OrganisationBilling.insert(
                OrganisationBilling(
                    id=uuid4(),
                    organisation=organisation_id,
                    bureau=bureau_id,
                    status="past_due",
                    payment_failed=True,
                )
            )
    finally:
        await database.close_engine(engine)
    return {"organisation_id": str(organisation_id)}


@pytest.fixture(scope="module")
def organisation_id(server: Server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Runs `_seed` in a process of its own on the running server's database and key files."""
    seeded = seed_in_server(tmp_path_factory, "tests.e2e.test_billing_pages", PASSWORD)
    return str(UUID(seeded["organisation_id"]))


# --- signing in ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def people(browser: Browser, server: Server, organisation_id: str) -> dict[str, Any]:
    """Each person signed in once, TOTP enrolled: their browser state."""
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
def default_plans(browser: Browser, server: Server, people: dict[str, Any]) -> int:
    """The bureau admin's first visit to the bureau's billing page: how many plans it shows
    (before it, the bureau has none; the contact's page needs them)."""
    context = browser.new_context(storage_state=people["admin"], viewport=DESKTOP)
    try:
        tab = Tab(context, server.base_url)
        assert tab.goto("/bureau/billing").status == 200
        return tab.page.locator("main form.plan-form").count()
    finally:
        context.close()


@pytest.fixture(scope="module")
def axe() -> str:
    return axe_script()


# --- small steps -----------------------------------------------------------------------------


def _accessible_and_narrow(tab: Tab, axe: str, label: str) -> None:
    """axe finds nothing, and the page is no wider than the window (no sideways scrolling)."""
    violations = run_axe(tab.page, axe)
    assert not violations, f"{label}:\n{describe_violations(violations)}"
    width = tab.page.evaluate("document.documentElement.scrollWidth")
    window = tab.page.evaluate("window.innerWidth")
    assert width <= window, f"{label} scrolls sideways at {window} px: {width} px wide"


def _summary(page: Page) -> dict[str, str]:
    """The billing summary of an organisation: each term with its description."""
    terms = page.locator("main dl.summary dt").all_inner_texts()
    details = page.locator("main dl.summary dd").all_inner_texts()
    return {term.strip(): detail.strip() for term, detail in zip(terms, details, strict=True)}


def _billing(organisation_id: str) -> str:
    return f"/organisations/{organisation_id}/billing"


# --- the bureau's billing page -----------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_bureau_billing_not_connected_passes_axe_at_360px(
    open_as: Callable[..., Tab], default_plans: int, axe: str, language: str
) -> None:
    assert default_plans == 4
    tab = open_as("admin", language, NARROW)
    page = tab.page
    assert tab.goto("/bureau/billing").status == 200
    assert tab.lang == language
    assert tr(language, NOT_CONNECTED["bureau"]) in page.locator("main .notice").inner_text()
    connect = page.locator("main form[action='/bureau/billing/stripe']")
    assert connect.locator("#secret_key").get_attribute("type") == "password"
    assert connect.locator("#webhook_secret").get_attribute("type") == "password"
    assert connect.locator("#trial_days").input_value() == "30"
    assert page.locator("main form.plan-form").count() == default_plans
    assert page.locator("main form.plan-form h3").count() == default_plans
    _accessible_and_narrow(tab, axe, f"bureau billing ({language})")
    quiet(tab)


def test_bureau_billing_bad_key_shows_summary_and_keeps_trial_days(
    open_as: Callable[..., Tab], default_plans: int, axe: str
) -> None:
    tab = open_as("admin", "en", NARROW)
    page = tab.page
    tab.goto("/bureau/billing")
    typed_key = f"abc{secrets.token_hex(6)}"
    typed_secret = f"whsec_{secrets.token_hex(8)}"
    page.locator("#secret_key").fill(typed_key)
    page.locator("#webhook_secret").fill(typed_secret)
    page.locator("#trial_days").fill("14")
    response = submit(page, page.locator("form[action='/bureau/billing/stripe'] button"))
    assert response.status == 422

    message = tr("en", "Enter a Stripe secret key: it starts with sk_ or rk_.")
    assert page.title().startswith(tr("en", "Error: %(title)s") % {"title": tr("en", "Billing")})
    summary = page.locator("#error-summary")
    assert summary.get_attribute("role") == "alert"
    assert tr("en", "There is a problem") in summary.inner_text()
    assert summary.locator("a").count() == 1
    assert summary.locator("a[href='#secret_key']").inner_text().strip() == message
    assert page.locator("#secret_key-error").inner_text().strip() == message
    field = page.locator("#secret_key")
    assert field.get_attribute("aria-invalid") == "true"
    assert (field.get_attribute("aria-describedby") or "").split() == [
        "secret_key-hint",
        "secret_key-error",
    ]
    assert page.locator("#webhook_secret").get_attribute("aria-invalid") is None
    assert page.locator("#trial_days").input_value() == "14"
    # Neither secret comes back, in the fields or anywhere in the page.
    assert field.input_value() == ""
    assert page.locator("#webhook_secret").input_value() == ""
    html = page.content()
    assert typed_key not in html
    assert typed_secret not in html
    _accessible_and_narrow(tab, axe, "bureau billing, refused key")

    # Nothing was stored: still not connected, the trial as before.
    tab.goto("/bureau/billing")
    assert tr("en", NOT_CONNECTED["bureau"]) in page.locator("main .notice").inner_text()
    assert page.locator("#trial_days").input_value() == "30"
    quiet(tab, refused=("/bureau/billing/stripe",))


# --- an organisation's billing page ---------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_organisation_billing_admin_sees_plan_and_form_passes_axe_at_360px(
    open_as: Callable[..., Tab], organisation_id: str, default_plans: int, axe: str, language: str
) -> None:
    tab = open_as("admin", language, NARROW)
    page = tab.page
    assert tab.goto(_billing(organisation_id)).status == 200
    assert tab.lang == language
    notices = page.locator("main .notice").all_inner_texts()
    assert any(tr(language, NOT_CONNECTED["organisation"]) in text for text in notices), notices
    plan = _summary(page)[tr(language, "Plan")]
    by_headcount = tr(language, "by headcount: %(count)s") % {"count": HEADCOUNT}
    assert plan.startswith(f"{BAND}:") and by_headcount in plan, plan
    form = page.locator(f"main form[action='{_billing(organisation_id)}']")
    assert form.locator("input[name=payer]").count() == 2
    assert form.locator("input[name=collection]").count() == 2
    assert form.locator("#plan option").count() == default_plans + 1
    _accessible_and_narrow(tab, axe, f"organisation billing, admin ({language})")
    quiet(tab)


def test_organisation_billing_bureau_pays_redirects_and_shows_the_bureau(
    open_as: Callable[..., Tab], organisation_id: str, default_plans: int
) -> None:
    tab = open_as("admin")
    page = tab.page
    path = _billing(organisation_id)
    tab.goto(path)
    page.locator("#payer-bureau").check()
    response = submit(page, page.locator(f"main form[action='{path}'] button[type=submit]"))
    redirect = response.request.redirected_from
    assert redirect is not None and redirect.method == "POST"
    redirected = redirect.response()
    assert redirected is not None and redirected.status == 303
    assert response.status == 200
    assert urlsplit(page.url).path == path and not urlsplit(page.url).query, page.url
    summary = _summary(page)
    assert summary[tr("en", "Who pays")] == tr("en", "The bureau")
    assert tr("en", "Status") not in summary  # no subscription when the bureau pays
    assert page.locator("#payer-bureau").is_checked()
    quiet(tab)


@pytest.mark.parametrize("language", LANGUAGES)
def test_organisation_billing_contact_reads_without_form_passes_axe(
    open_as: Callable[..., Tab], organisation_id: str, default_plans: int, axe: str, language: str
) -> None:
    tab = open_as("contact", language, NARROW)
    page = tab.page
    assert tab.goto(_billing(organisation_id)).status == 200
    assert tab.lang == language
    assert page.locator("main h1").inner_text().strip() == tr(language, "Billing")
    assert _summary(page)[tr(language, "Plan")].startswith(f"{BAND}:")
    assert page.locator("main form").count() == 0
    assert page.locator("main input, main select, main textarea, main button").count() == 0
    _accessible_and_narrow(tab, axe, f"organisation billing, contact ({language})")
    assert tab.goto("/bureau/billing").status == 403
    quiet(tab, refused=("/bureau/billing",))


# --- the dashboard's flag -------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_dashboard_payment_failed_tag_links_to_billing_passes_axe(
    open_as: Callable[..., Tab], organisation_id: str, axe: str, language: str
) -> None:
    tab = open_as("admin", language, NARROW)
    page = tab.page
    assert tab.goto("/bureau/dashboard").status == 200
    tag = page.locator("main a.tag", has_text=tr(language, "Payment failed"))
    assert tag.count() == 1
    assert tag.get_attribute("href") == _billing(organisation_id)
    violations = run_axe(page, axe)
    assert not violations, f"dashboard ({language}):\n{describe_violations(violations)}"
    submit(page, tag)
    assert urlsplit(page.url).path == _billing(organisation_id)
    failed = tr(
        language, "A payment failed. The intake links keep working; reporters are never affected."
    )
    assert failed in page.locator("main .notice-error").inner_text()
    quiet(tab)


if __name__ == "__main__":
    seeded = asyncio.run(_seed(os.environ["KLANKBORD_E2E_PASSWORD"]))
    sys.stdout.write(json.dumps(seeded) + "\n")
