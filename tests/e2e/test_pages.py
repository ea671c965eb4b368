"""Pages as a person's browser sees them: language, structure, error pages, no JavaScript,
small screens."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.support import LANGUAGE_COOKIE, LANGUAGES, Server, Tab, tr

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(tempfile.gettempdir()) / "klankbord-e2e"
TITLE_SUFFIX = " \N{EN DASH} Klankbord"  # base.html puts this after every page title
# Path -> status of the page the browser ends on. Signed out, /organisations sends the browser
# to the sign-in form (303), which then answers 200.
PAGES = {"/": 200, "/no-such-page": 404, "/sign-in": 200, "/organisations": 200}
LANDS_ON = {"/organisations": "/sign-in?next=%2Forganisations"}


def _current_languages(tab: Tab) -> list[str | None]:
    nav = tab.page.locator("nav a[hreflang][aria-current='true']")
    return [nav.nth(i).get_attribute("hreflang") for i in range(nav.count())]


def _switch(tab: Tab, language: str) -> None:
    tab.page.locator(f"nav a[hreflang='{language}']").click()
    expect(tab.page.locator("html")).to_have_attribute("lang", language)


def _language_cookie(tab: Tab) -> dict[str, object] | None:
    found = [c for c in tab.context.cookies() if c.get("name") == LANGUAGE_COOKIE]
    return dict(found[0]) if found else None


def test_start_page_is_dutch_by_default(tab: Tab) -> None:
    response = tab.goto("/")
    assert response.status == 200
    assert tab.lang == "nl"
    assert _current_languages(tab) == ["nl"]
    assert _language_cookie(tab) is None  # a default, not a choice


@pytest.mark.parametrize(
    ("locale", "language"),
    [("nl-BE", "nl"), ("en-GB", "en"), ("fr-BE", "fr"), ("de-DE", "nl"), ("pl-PL", "nl")],
)
def test_browser_language_is_honoured(
    open_tab: Callable[..., Tab], locale: str, language: str
) -> None:
    tab = open_tab(locale=locale)
    tab.goto("/")
    assert tab.lang == language
    assert _current_languages(tab) == [language]


@pytest.mark.parametrize("language", LANGUAGES)
def test_start_page_text_comes_from_the_catalog(
    open_tab: Callable[..., Tab], language: str
) -> None:
    """The page says what the language's catalog says (English source while untranslated),
    whatever the wording: the catalogs are being written alongside this suite."""
    tab = open_tab(locale={"nl": "nl-NL", "en": "en-GB", "fr": "fr-FR"}[language])
    tab.goto("/")
    page = tab.page
    assert page.title() == tr(language, "Welcome") + TITLE_SUFFIX
    assert page.locator("h2#reporters").inner_text().strip() == tr(
        language, "Do you want to report something?"
    )
    assert page.locator("a.skip-link").text_content().strip() == tr(  # type: ignore[union-attr]
        language, "Skip to main content"
    )
    assert page.locator("nav.languages").get_attribute("aria-label") == tr(language, "Language")


def test_language_switch_changes_lang_and_is_remembered(tab: Tab, server: Server) -> None:
    tab.goto("/")
    for language in ("en", "fr", "nl"):
        _switch(tab, language)
        assert tab.page.url == server.base_url + "/"
        assert _current_languages(tab) == [language]
        tab.page.reload()
        assert tab.lang == language, "the choice did not survive a reload"
        assert _current_languages(tab) == [language]
        cookie = _language_cookie(tab)
        assert cookie is not None
        assert cookie["value"] == language
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Lax"
        assert cookie["path"] == "/"


def test_language_switch_stays_on_the_same_page(tab: Tab, server: Server) -> None:
    tab.goto("/no-such-page")
    _switch(tab, "fr")
    assert tab.page.url == server.base_url + "/no-such-page"
    assert tab.page.locator("h1").inner_text().strip() == tr("fr", "Page not found")


def test_each_language_link_is_labelled_in_its_own_language(tab: Tab) -> None:
    tab.goto("/")
    links = tab.page.locator("nav.languages a")
    assert links.count() == len(LANGUAGES)
    for i, language in enumerate(LANGUAGES):
        assert links.nth(i).get_attribute("lang") == language
        assert links.nth(i).get_attribute("hreflang") == language


@pytest.mark.parametrize("path", PAGES)
def test_one_h1_and_a_skip_link_to_main(tab: Tab, server: Server, path: str) -> None:
    response = tab.goto(path)
    assert response.status == PAGES[path]
    assert tab.page.url == server.base_url + LANDS_ON.get(path, path)
    page = tab.page
    assert page.locator("h1").count() == 1
    skip = page.locator("a[href='#main']")
    assert skip.count() == 1
    assert page.locator("main#main").count() == 1
    # It comes first, so a keyboard user meets it before the header.
    first_link = page.locator("body a").first
    assert first_link.get_attribute("href") == "#main"


def test_main_keeps_its_space_above_and_below(tab: Tab) -> None:
    """`main` is a `.container` too; the container's side padding must not reset it."""
    tab.goto("/")
    padding = tab.page.evaluate(
        "() => { const style = getComputedStyle(document.querySelector('main'));"
        " return [style.paddingTop, style.paddingBottom, style.paddingLeft]; }"
    )
    assert padding == ["24px", "48px", "16px"]  # 1.5rem, 3rem, 1rem


def test_not_found_page(tab: Tab, server: Server) -> None:
    response = tab.goto("/no-such-page/at-all")
    assert response.status == 404
    page = tab.page
    assert tab.lang == "nl"
    assert page.locator("h1").inner_text().strip() == tr("nl", "Page not found")
    assert page.title() == tr("nl", "Page not found") + TITLE_SUFFIX
    home = page.locator("main a[href='/']")
    assert home.count() == 1
    home.click()
    expect(page).to_have_url(server.base_url + "/")
    assert page.locator("h2#reporters").count() == 1


def test_organisations_without_a_session_lands_on_the_sign_in_page(
    tab: Tab, server: Server
) -> None:
    response = tab.goto("/organisations")
    redirect = response.request.redirected_from
    assert redirect is not None, "no redirect to the sign-in page"
    first = redirect.response()
    assert first is not None
    assert first.status == 303
    assert first.headers.get("location") == "/sign-in?next=%2Forganisations"
    assert response.status == 200
    page = tab.page
    assert page.url == server.base_url + "/sign-in?next=%2Forganisations"
    assert page.locator("h1").inner_text().strip() == tr("nl", "Sign in")
    assert page.locator("main form input[name=next]").get_attribute("value") == "/organisations"
    assert page.locator("table").count() == 0
    body = page.locator("body").inner_text()
    leaked = [name for name in server.organisations if name in body]
    assert not leaked, f"the sign-in page shows organisation names: {leaked}"
    # The API has no sign-in page to send anyone to: it still answers 401, with no names.
    api = page.request.get(server.base_url + "/api/v1/organisations", max_redirects=0)
    assert api.status == 401
    leaked = [name for name in server.organisations if name in api.text()]
    assert not leaked, f"the API's 401 shows organisation names: {leaked}"


def test_works_without_javascript(open_tab: Callable[..., Tab], server: Server) -> None:
    tab = open_tab(java_script_enabled=False)
    response = tab.goto("/")
    assert response.status == 200
    page = tab.page
    assert tab.lang == "nl"
    assert page.locator("h1").count() == 1
    assert page.locator("h1").is_visible()
    # The stylesheet applies: the skip link sits off-screen until it gets focus.
    box = page.locator("a.skip-link").bounding_box()
    assert box is not None and box["x"] < 0
    # Language links are plain links: they work without any script.
    _switch(tab, "en")
    assert page.url == server.base_url + "/"
    page.reload()
    assert tab.lang == "en"
    tab.goto("/organisations")
    assert page.url == server.base_url + "/sign-in?next=%2Forganisations"
    assert tab.lang == "en"
    assert page.locator("h1").inner_text().strip() == tr("en", "Sign in")
    # The sign-in form is a plain form: a refusal comes back without any script.
    page.locator("#email").fill("nobody@demo.klankbord.test")
    page.locator("#password").fill("not-the-password")
    with page.expect_navigation() as navigation:
        page.locator("main form button[type=submit]").click()
    assert navigation.value is not None and navigation.value.status == 400
    assert page.locator("#form-error[role=alert]").inner_text().strip() == tr(
        "en", "That did not work. Check what you typed and try again."
    )
    assert page.locator("#email").input_value() == "nobody@demo.klankbord.test"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", PAGES)
def test_no_horizontal_scrolling_at_360px(
    open_tab: Callable[..., Tab], path: str, language: str
) -> None:
    tab = open_tab(
        viewport={"width": 360, "height": 740},
        locale={"nl": "nl-NL", "en": "en-GB", "fr": "fr-FR"}[language],
    )
    tab.goto(path)
    assert tab.page.url == tab.base_url + LANDS_ON.get(path, path)
    assert tab.lang == language
    width = tab.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{path} ({language}) is {width}px wide at a 360px viewport"


@pytest.mark.parametrize("width", [360, 1280])
def test_start_page_screenshot(open_tab: Callable[..., Tab], width: int) -> None:
    """Saved to <tmp>/klankbord-e2e/ for a person to look at; the main heading must be on
    the first screen at either width."""
    tab = open_tab(viewport={"width": width, "height": 800})
    tab.goto("/")
    box = tab.page.locator("h1").bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    assert 0 <= box["y"] < 800
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / f"start-{width}.png"
    tab.page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 1000
