"""Staff sign-in in a real browser: password, TOTP enrolment with the key read off the page,
recovery codes, the second factor, signing out; refusals, keyboard use, and axe, CSP and
console checks on every sign-in page in each language.

Each demo user can enrol only once per server (the server is shared by the whole session),
so every test that enrols signs in as a demo user of its own: the journey as the first
counsellor, the per-language walks as the other demo users, one each. A TOTP code is taken
once only, so a second sign-in uses the code of the next time step (or a recovery code).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Page, Response, expect

from klankbord.demo import DEMO_PASSWORD
from tests.conftest import missing
from tests.e2e.support import (
    LANGUAGES,
    DemoUser,
    Server,
    Tab,
    axe_source,
    describe_violations,
    run_axe,
    tr,
)

pytestmark = pytest.mark.browser

NARROW = {"width": 360, "height": 740}
WIDE = {"width": 1280, "height": 720}
LOCALE = {"nl": "nl-NL", "en": "en-GB", "fr": "fr-FR"}
SESSION_COOKIE = "klankbord_session"
CSRF_COOKIE = "klankbord_csrf"
SIGNED_OUT_LANDING = "/sign-in?next=%2Forganisations"
RECOVERY_CODE = re.compile(r"^[0-9a-z]{5}-[0-9a-z]{5}$")
GENERIC_ERROR = "That did not work. Check what you typed and try again."
# The ids that aria-describedby / aria-labelledby / label[for] name, and that do not exist.
_DANGLING_REFERENCES = """() => [...document.querySelectorAll(
    '[aria-describedby], [aria-labelledby], label[for]')].flatMap(element =>
  ['aria-describedby', 'aria-labelledby', 'for']
    .flatMap(name => (element.getAttribute(name) || '').split(/\\s+/))
    .filter(id => id && !document.getElementById(id))
    .map(id => element.outerHTML.slice(0, 120) + ' -> #' + id))"""


@pytest.fixture(scope="module")
def axe() -> str:
    source = axe_source()
    if source is None:
        missing("axe-playwright-python (which ships axe-core) is not installed")
    assert source is not None
    return source


# --- who signs in -------------------------------------------------------------------------


def _journey_user(server: Server) -> DemoUser:
    counsellors = [user for user in server.users if user.role == "counsellor"]
    assert counsellors, f"no demo counsellor in the seed output: {server.users}"
    return counsellors[0]


def _walk_user(server: Server, language: str) -> DemoUser:
    """A demo user of its own for each language's walk (none of them is the journey's)."""
    others = [user for user in server.users if user != _journey_user(server)]
    assert len(others) >= len(LANGUAGES), f"too few demo users for a walk each: {server.users}"
    return others[LANGUAGES.index(language)]


# --- small steps --------------------------------------------------------------------------


def _path(page: Page) -> str:
    """The page's path and query, without the origin."""
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _submit(page: Page, button: str) -> Response:
    """Click a submit button and return the response that the navigation ended with."""
    with page.expect_navigation() as navigation:
        page.locator(button).click()
    response = navigation.value
    assert response is not None
    return response


def _sign_in_with_password(page: Page, email: str, password: str = DEMO_PASSWORD) -> Response:
    page.locator("#email").fill(email)
    page.locator("#password").fill(password)
    return _submit(page, "main form button[type=submit]")


def _submit_code(page: Page, code: str) -> Response:
    page.locator("#code").fill(code)
    return _submit(page, "main form button[type=submit]")


def _wrong_code(secret: str) -> str:
    """Six digits that no time step near now accepts."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    near = {totp.at(now + drift * 30) for drift in range(-2, 3)}
    return next(
        code for code in (f"{n:06d}" for n in range(123456, 999999, 111)) if code not in near
    )


def _h1(page: Page) -> str:
    return page.locator("h1").inner_text().strip()


def _cookie(tab: Tab, name: str) -> dict[str, object] | None:
    found = [cookie for cookie in tab.context.cookies() if cookie.get("name") == name]
    return dict(found[0]) if found else None


def _account_links(page: Page) -> list[str | None]:
    links = page.locator("nav.account-nav a")
    return [links.nth(i).get_attribute("href") for i in range(links.count())]


def _visible_organisations(page: Page, server: Server) -> list[str]:
    body = page.locator("body").inner_text()
    return sorted(name for name in server.organisations if name in body)


def _assert_on_sign_in_page(tab: Tab, server: Server, language: str = "en") -> None:
    """Where a signed-out visit to /organisations must end: the sign-in form, nothing else."""
    page = tab.page
    assert _path(page) == SIGNED_OUT_LANDING
    assert _h1(page) == tr(language, "Sign in")
    assert page.locator("input[name=next]").get_attribute("value") == "/organisations"
    assert page.locator("table").count() == 0
    leaked = _visible_organisations(page, server)
    assert not leaked, f"the signed-out sign-in page shows organisation names: {leaked}"
    assert _account_links(page) == ["/sign-in"]


def _assert_sound_page(tab: Tab, axe: str, where: str) -> None:
    """axe (WCAG 2.1 AA) finds nothing and every ARIA/label id reference resolves."""
    violations = run_axe(tab.page, axe)
    assert not violations, f"{where}:\n{describe_violations(violations)}"
    dangling = tab.page.evaluate(_DANGLING_REFERENCES)
    assert not dangling, f"{where}: references to missing ids:\n" + "\n".join(dangling)


def _assert_quiet(tab: Tab, *, refused: tuple[str, ...] = ()) -> None:
    """No CSP violation, no console error (but the browser's note on a 400 we asked for)."""
    tab.settle()
    assert not tab.csp_violations, "\n".join(tab.csp_violations)
    errors = tab.console_errors(expected_status_urls=refused)
    assert not errors, "\n".join(errors)
    assert not tab.page_errors, "\n".join(tab.page_errors)


# --- the journey --------------------------------------------------------------------------


def test_counsellor_enrols_signs_out_and_signs_in_again(
    open_tab: Callable[..., Tab], server: Server
) -> None:
    user = _journey_user(server)
    tab = open_tab(locale=LOCALE["en"])
    page = tab.page

    # Signed out, the organisations page sends the browser to the sign-in form.
    response = tab.goto("/organisations")
    assert response.status == 200
    _assert_on_sign_in_page(tab, server)
    csrf = _cookie(tab, CSRF_COOKIE)
    assert csrf is not None, "the sign-in form set no CSRF cookie"
    assert csrf["httpOnly"] is True
    assert page.locator("main form input[name=_csrf_token]").count() == 1

    # The password: the first time, on to the enrolment.
    response = _sign_in_with_password(page, user.email)
    assert response.status == 200
    assert _path(page) == "/sign-in/enrol"
    assert _h1(page) == tr("en", "Set up your sign-in code")
    session = _cookie(tab, SESSION_COOKIE)
    assert session is not None
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert _account_links(page) == ["/sign-in"], "half signed in, the header offers the account"
    assert page.locator("figure.qr svg").count() == 1, "no QR code"
    secret = page.locator("code#totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), f"not a base32 key: {secret!r}"
    page.reload()
    assert page.locator("code#totp-secret").inner_text().strip() == secret, "a reload re-keyed"

    # The code the authenticator app would show: the recovery codes, once.
    enrol_code = pyotp.TOTP(secret).now()
    response = _submit_code(page, enrol_code)
    assert response.status == 200
    assert _h1(page) == tr("en", "Your recovery codes")
    codes = page.locator("ul#recovery-codes li").all_inner_texts()
    codes = [code.strip() for code in codes]
    assert len(codes) >= 8, codes
    assert all(RECOVERY_CODE.match(code) for code in codes), codes
    assert len(set(codes)) == len(codes), "a recovery code repeats"
    assert secret not in page.locator("body").inner_text(), "the TOTP key is shown again"
    assert _account_links(page) == ["/account", "/sign-out"]

    # On to where the sign-in started: the counsellor's organisations.
    page.get_by_role("link", name=tr("en", "I have saved my recovery codes")).click()
    expect(page).to_have_url(server.base_url + "/organisations")
    assert _h1(page) == tr("en", "Organisations")
    shown = page.locator("main table a").all_inner_texts()
    assert shown, "a counsellor sees no organisation"
    assert set(shown) <= server.organisations, shown
    assert _visible_organisations(page, server) == sorted(shown)

    # Signing out: a link asks first, the button signs out.
    page.locator("nav.account-nav a[href='/sign-out']").click()
    expect(page).to_have_url(server.base_url + "/sign-out")
    assert _h1(page) == tr("en", "Sign out")
    assert _cookie(tab, SESSION_COOKIE) is not None, "showing the confirmation signed out"
    tab.goto("/organisations")
    expect(page).to_have_url(server.base_url + "/organisations")  # still signed in
    page.locator("nav.account-nav a[href='/sign-out']").click()
    response = _submit(page, "main form button[type=submit]")
    assert response.status == 200
    assert _path(page) == "/sign-in?signed_out=1"
    assert page.locator("main [role=status]").inner_text().strip() == tr(
        "en", "You are signed out."
    )
    assert _cookie(tab, SESSION_COOKIE) is None, "the session cookie outlived the sign-out"
    assert _account_links(page) == ["/sign-in"]

    # Signed out again: /organisations lands on the sign-in form once more.
    response = tab.goto("/organisations")
    assert response.status == 200
    _assert_on_sign_in_page(tab, server)

    # The second sign-in asks for a code; the enrolment's code does not work twice.
    response = _sign_in_with_password(page, user.email)
    assert response.status == 200
    assert _path(page) == "/sign-in/code"
    assert _h1(page) == tr("en", "Sign-in code")
    response = _submit_code(page, enrol_code)
    assert response.status == 400, "a used TOTP code was taken again"
    assert _path(page) == "/sign-in/code"
    assert page.locator("#form-error[role=alert]").inner_text().strip() == tr("en", GENERIC_ERROR)
    assert not _visible_organisations(page, server)
    response = _submit_code(page, pyotp.TOTP(secret).at(time.time() + 30))
    assert response.status == 200
    expect(page).to_have_url(server.base_url + "/organisations")
    assert _visible_organisations(page, server) == sorted(shown)
    assert _account_links(page) == ["/account", "/sign-out"]
    _assert_quiet(tab, refused=("/sign-in/code",))


# --- refusals and the keyboard ------------------------------------------------------------


def test_wrong_password_is_refused_with_one_generic_message(
    open_tab: Callable[..., Tab], server: Server, axe: str
) -> None:
    user = _walk_user(server, "en")
    tab = open_tab(locale=LOCALE["en"])
    page = tab.page
    tab.goto("/sign-in")
    assert page.locator("#form-error").count() == 0
    assert page.locator("main form").get_attribute("aria-describedby") is None

    response = _sign_in_with_password(page, user.email, DEMO_PASSWORD + "-wrong")
    assert response.status == 400
    assert _path(page) == "/sign-in"
    assert _h1(page) == tr("en", "Sign in")
    error = page.locator("main #form-error")
    assert error.count() == 1
    assert error.get_attribute("role") == "alert"
    assert error.inner_text().strip() == tr("en", GENERIC_ERROR)
    # The message is tied to the form, and comes before it: met first, read with it.
    assert page.locator("main form").get_attribute("aria-describedby") == "form-error"
    assert page.evaluate(
        "() => Boolean(document.querySelector('#form-error').compareDocumentPosition("
        "document.querySelector('main form')) & Node.DOCUMENT_POSITION_FOLLOWING)"
    ), "the error comes after the form"
    # The e-mail address stays; the password never comes back.
    assert page.locator("#email").input_value() == user.email
    assert page.locator("#password").input_value() == ""
    assert DEMO_PASSWORD not in page.content()
    # Nothing stole the focus, and the fields keep their labels.
    assert page.evaluate("document.activeElement === document.body")
    for field in ("email", "password"):
        assert page.locator(f"label[for={field}]").count() == 1
    assert _cookie(tab, SESSION_COOKIE) is None, "a refused password started a session"
    assert _account_links(page) == ["/sign-in"]

    # The same words for an address that does not exist: nothing tells them apart.
    response = _sign_in_with_password(page, "nobody@demo.klankbord.test")
    assert response.status == 400
    assert error.inner_text().strip() == tr("en", GENERIC_ERROR)
    assert page.locator("#email").input_value() == "nobody@demo.klankbord.test"
    _assert_sound_page(tab, axe, "/sign-in with an error")
    _assert_quiet(tab, refused=("/sign-in",))


def test_sign_in_form_works_by_keyboard_alone(open_tab: Callable[..., Tab], server: Server) -> None:
    user = _walk_user(server, "fr")
    tab = open_tab(locale=LOCALE["en"])
    page = tab.page
    tab.goto("/sign-in")
    focused = "document.activeElement.id || document.activeElement.getAttribute('href')"

    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "#main", "the skip link is not the first tab stop"
    for _ in range(15):
        page.keyboard.press("Tab")
        if page.evaluate(focused) == "email":
            break
    assert page.evaluate(focused) == "email", "Tab never reached the e-mail field"
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "password"
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Tab")
    button = page.locator("main form button[type=submit]")
    assert button.evaluate("element => element === document.activeElement")
    assert button.inner_text().strip() == tr("en", "Sign in")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "no visible focus indicator on the sign-in button"
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    response = navigation.value
    assert response is not None and response.status == 200
    # The second step: enrolment the first time, a code after (the walks may come first).
    headings = {
        "/sign-in/enrol": tr("en", "Set up your sign-in code"),
        "/sign-in/code": tr("en", "Sign-in code"),
    }
    assert _path(page) in headings, page.url
    assert _h1(page) == headings[_path(page)]
    assert _cookie(tab, SESSION_COOKIE) is not None


# --- every sign-in page, in each language -------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_sign_in_pages_pass_axe_without_csp_or_console_errors(
    open_tab: Callable[..., Tab], server: Server, axe: str, language: str
) -> None:
    """One demo user's whole way through, in one language: axe on each page it meets."""
    user = _walk_user(server, language)
    tab = open_tab(locale=LOCALE[language], viewport=WIDE)
    page = tab.page

    def check(path: str, heading: str) -> None:
        where = f"{path} ({language})"
        assert _path(page) == path, f"expected {where}, at {page.url}"
        assert tab.lang == language, where
        assert _h1(page) == tr(language, heading), where
        _assert_sound_page(tab, axe, where)
        page.set_viewport_size(NARROW)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= NARROW["width"], f"{where} is {width}px wide at a 360px viewport"
        page.set_viewport_size(WIDE)

    assert tab.goto("/sign-in").status == 200
    check("/sign-in", "Sign in")

    assert _sign_in_with_password(page, user.email).status == 200
    check("/sign-in/enrol", "Set up your sign-in code")
    secret = page.locator("code#totp-secret").inner_text().strip()
    assert _submit_code(page, _wrong_code(secret)).status == 400
    check("/sign-in/enrol", "Set up your sign-in code")
    assert page.locator("#form-error[role=alert]").inner_text().strip() == tr(
        language, GENERIC_ERROR
    )
    assert page.locator("main form").get_attribute("aria-describedby") == "form-error"

    assert _submit_code(page, pyotp.TOTP(secret).now()).status == 200
    check("/sign-in/enrol", "Your recovery codes")  # the answer to the POST
    codes = [code.strip() for code in page.locator("ul#recovery-codes li").all_inner_texts()]
    assert codes and all(RECOVERY_CODE.match(code) for code in codes), codes
    page.get_by_role("link", name=tr(language, "I have saved my recovery codes")).click()
    expect(page).to_have_url(server.base_url + "/")

    assert tab.goto("/account").status == 200
    check("/account", "Your account")
    # A new set: the old codes stop working, the new ones are shown once.
    assert _submit(page, "form[action='/account/recovery-codes'] button").status == 200
    check("/account/recovery-codes", "Your recovery codes")
    renewed = [code.strip() for code in page.locator("ul#recovery-codes li").all_inner_texts()]
    assert renewed and not set(renewed) & set(codes), "the new recovery codes are the old ones"
    page.get_by_role("link", name=tr(language, "I have saved my recovery codes")).click()
    expect(page).to_have_url(re.compile(re.escape(server.base_url) + r"/account/?$"))

    assert tab.goto("/sign-out").status == 200
    check("/sign-out", "Sign out")
    assert _submit(page, "main form button[type=submit]").status == 200
    check("/sign-in?signed_out=1", "Sign in")

    assert _sign_in_with_password(page, user.email).status == 200
    check("/sign-in/code", "Sign-in code")
    assert _submit_code(page, codes[0]).status == 400, "a replaced recovery code still works"
    check("/sign-in/code", "Sign-in code")
    assert page.locator("main form").get_attribute("aria-describedby") == "form-error"
    # A recovery code instead of the app's: in, with a word about the code now spent.
    assert _submit_code(page, renewed[0].upper()).status == 200
    check("/account?recovery_code_used=1", "Your account")
    assert page.locator("main [role=status]").count() == 1

    # Signing out everywhere ends this session too.
    assert _submit(page, "form[action='/account/sign-out-everywhere'] button").status == 200
    check("/sign-in?signed_out=1", "Sign in")
    assert _cookie(tab, SESSION_COOKIE) is None
    tab.goto("/account")
    assert _path(page).startswith("/sign-in?next="), page.url
    _assert_quiet(tab, refused=("/sign-in/enrol", "/sign-in/code"))
