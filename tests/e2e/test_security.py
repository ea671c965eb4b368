"""What the browser is allowed to do: security headers, no third-party requests, no console
errors, no CSP violations, no open redirect through the language switch."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

import pytest

from tests.e2e.support import FAVICON, LANGUAGE_COOKIE, Server, Tab

CSRF_COOKIE = "klankbord_csrf"
SESSION_COOKIE = "klankbord_session"

pytestmark = pytest.mark.browser

# Path -> status of the page the browser ends on (signed out, /organisations redirects to the
# sign-in form, whose headers are checked, and the redirect's own below).
PAGES = {"/": 200, "/no-such-page": 404, "/sign-in": 200, "/organisations": 200}


def _csp(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def _browse_around(tab: Tab) -> None:
    """The pages there are, in each language, the way a visitor would click through them."""
    tab.goto("/")
    tab.settle()
    for language in ("en", "fr", "nl"):
        tab.page.locator(f"nav a[hreflang='{language}']").click()
        tab.settle()
    tab.goto("/no-such-page")
    tab.settle()
    tab.page.locator("main a[href='/']").click()
    tab.settle()
    tab.goto("/organisations")  # lands on the sign-in form
    tab.settle()
    tab.page.locator("nav.languages a[hreflang='en']").click()
    tab.settle()


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_on_the_document(tab: Tab, path: str) -> None:
    response = tab.goto(path)
    assert response.status == PAGES[path]
    headers = response.all_headers()
    assert "content-security-policy" in headers, "no CSP on the document"
    csp = _csp(headers["content-security-policy"])
    assert csp.get("default-src") == ["'none'"]
    assert csp.get("script-src") == ["'self'"]
    assert csp.get("style-src") == ["'self'"]
    assert csp.get("frame-ancestors") == ["'none'"]
    assert csp.get("base-uri") == ["'none'"]
    assert csp.get("form-action") == ["'self'"]
    sources = [source for values in csp.values() for source in values]
    for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:"):
        assert unsafe not in sources, f"CSP allows {unsafe}"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("x-frame-options") == "DENY"
    assert headers.get("referrer-policy") == "no-referrer"
    assert headers.get("cross-origin-opener-policy") == "same-origin"
    assert "camera=()" in headers.get("permissions-policy", "")
    assert headers.get("cache-control") == "no-store", "pages may carry case data"
    assert "server" not in headers, "the server announces itself"


def test_sign_in_redirect_carries_the_headers_too(tab: Tab) -> None:
    response = tab.goto("/organisations")
    redirect = response.request.redirected_from
    assert redirect is not None, "/organisations did not redirect"
    first = redirect.response()
    assert first is not None
    assert first.status == 303
    headers = first.all_headers()
    assert headers.get("location") == "/sign-in?next=%2Forganisations"
    assert headers.get("cache-control") == "no-store"
    assert headers.get("x-content-type-options") == "nosniff"
    assert "server" not in headers


def test_only_pages_with_a_form_set_a_csrf_cookie(tab: Tab) -> None:
    tab.goto("/")
    assert not tab.context.cookies(), "a page without a form set a cookie"
    tab.goto("/sign-in")
    cookies = {cookie["name"]: cookie for cookie in tab.context.cookies()}
    assert set(cookies) == {CSRF_COOKIE}
    assert cookies[CSRF_COOKIE]["httpOnly"] is True
    assert cookies[CSRF_COOKIE]["path"] == "/"
    field = tab.page.locator("main form input[name=_csrf_token]")
    assert field.get_attribute("value") == cookies[CSRF_COOKIE]["value"]


def test_sign_in_without_the_csrf_token_is_refused(tab: Tab, server: Server) -> None:
    """A form posted from elsewhere carries the cookie (SameSite=Lax aside) but not the token."""
    tab.goto("/sign-in")
    answer = tab.page.request.post(
        server.base_url + "/sign-in",
        form={"email": "nobody@demo.klankbord.test", "password": "x", "next": "/"},
        max_redirects=0,
    )
    assert answer.status == 403
    assert not [c for c in tab.context.cookies() if c.get("name") == SESSION_COOKIE]


@pytest.mark.parametrize(
    "next_url",
    ["//127.0.0.1:1/elsewhere", "http://127.0.0.1:1/elsewhere", "/\\127.0.0.1:1/elsewhere"],
)
def test_sign_in_next_is_no_open_redirect(tab: Tab, next_url: str) -> None:
    tab.goto(f"/sign-in?next={quote(next_url, safe='')}")
    assert tab.page.locator("main form input[name=next]").get_attribute("value") == "/"


def test_no_request_leaves_the_server(tab: Tab, server: Server) -> None:
    _browse_around(tab)
    assert server.base_url + "/static/css/app.css" in tab.requests, "requests were not recorded"
    outside = [
        url
        for url in tab.requests
        if not url.startswith(server.base_url + "/") and not url.startswith("data:")
    ]
    assert not outside, f"requests to elsewhere than {server.base_url}: {outside}"


def test_no_console_errors_and_no_csp_violations(tab: Tab) -> None:
    _browse_around(tab)
    assert not tab.csp_violations, "\n".join(tab.csp_violations)
    errors = tab.console_errors(expected_status_urls=("/no-such-page",))
    assert not errors, "\n".join(errors)
    assert not tab.page_errors, "\n".join(tab.page_errors)


def test_the_watch_does_see_a_csp_violation(tab: Tab) -> None:
    """The listeners above would notice: an inline script is refused, and reported."""
    tab.goto("/")
    tab.page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.inlineRan = true'; document.body.append(s); }"
    )
    tab.wait_for(lambda: tab.csp_violations)
    assert tab.csp_violations, "an inline script went unreported"
    assert tab.page.evaluate("window.inlineRan === undefined"), "an inline script ran"


def test_the_browser_icon_is_served(tab: Tab) -> None:
    tab.goto("/")
    icon = tab.page.locator("link[rel~='icon']")
    href = icon.first.get_attribute("href") if icon.count() else FAVICON
    assert href is not None
    if href.startswith("data:"):
        return
    answer = tab.page.request.get(href if "://" in href else tab.base_url + href)
    assert answer.ok, f"the browser's icon {href} answers {answer.status}"


@pytest.mark.parametrize(
    "next_url",
    ["//127.0.0.1:1/elsewhere", "http://127.0.0.1:1/elsewhere", "/\\127.0.0.1:1/elsewhere"],
)
def test_language_switch_is_no_open_redirect(tab: Tab, server: Server, next_url: str) -> None:
    # Loopback port 1 even as the "attacker" target: nothing may leave this machine.
    tab.goto(f"/language?lang=en&next={next_url}")
    assert tab.page.url.startswith(server.base_url + "/"), tab.page.url
    assert tab.lang == "en"


def test_unknown_language_is_not_stored(tab: Tab) -> None:
    tab.goto("/language?lang=xx&next=/")
    assert tab.lang == "nl"
    assert not [c for c in tab.context.cookies() if c.get("name") == LANGUAGE_COOKIE]


def test_open_tab_is_isolated(open_tab: Callable[..., Tab]) -> None:
    """Each tab has its own cookies, so one test's language choice never leaks into another."""
    first = open_tab()
    first.goto("/language?lang=fr&next=/")
    assert first.lang == "fr"
    second = open_tab()
    second.goto("/")
    assert second.lang == "nl"
