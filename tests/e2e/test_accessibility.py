"""WCAG 2.1 A/AA with axe-core (bundled in the axe-playwright-python wheel), and keyboard use."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.conftest import missing
from tests.e2e.support import LANGUAGES, Tab, axe_source, describe_violations, run_axe

pytestmark = pytest.mark.browser

# Path -> status of the page the browser ends on; signed out, /organisations lands on the
# sign-in form (the sign-in pages of a signed-in person are checked in test_sign_in.py).
PAGES = {"/": 200, "/no-such-page": 404, "/sign-in": 200, "/organisations": 200}
LANDS_ON = {"/organisations": "/sign-in?next=%2Forganisations"}
LOCALE = {"nl": "nl-NL", "en": "en-GB", "fr": "fr-FR"}


@pytest.fixture(scope="module")
def axe() -> str:
    source = axe_source()
    if source is None:
        missing("axe-playwright-python (which ships axe-core) is not installed")
    assert source is not None
    return source


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_no_wcag21_aa_violation(
    open_tab: Callable[..., Tab], axe: str, path: str, language: str
) -> None:
    tab = open_tab(locale=LOCALE[language])
    response = tab.goto(path)
    assert response.status == PAGES[path]
    assert tab.page.url == tab.base_url + LANDS_ON.get(path, path)
    assert tab.lang == language
    violations = run_axe(tab.page, axe)
    assert not violations, f"{path} ({language}):\n{describe_violations(violations)}"


def test_axe_does_report_a_violation(tab: Tab, axe: str) -> None:
    """The check above can fail: an image without a text alternative is caught."""
    tab.goto("/")
    tab.page.evaluate(
        "() => { const img = document.createElement('img');"
        " img.src = 'data:image/gif;base64,R0lGODlhAQABAAAAACw=';"
        " document.querySelector('main').append(img); }"
    )
    ids = {violation["id"] for violation in run_axe(tab.page, axe)}
    assert "image-alt" in ids


def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(tab: Tab) -> None:
    tab.goto("/")
    page = tab.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
    box = page.locator("a.skip-link").bounding_box()
    assert box is not None
    viewport = page.viewport_size
    assert viewport is not None
    assert 0 <= box["x"] < viewport["width"] and 0 <= box["y"] < viewport["height"], (
        "the focused skip link is not on screen"
    )
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "no visible focus indicator on the skip link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    assert page.url.endswith("#main")


def test_language_links_are_reachable_and_usable_by_keyboard(tab: Tab) -> None:
    tab.goto("/")
    page = tab.page
    reached: list[str] = []
    for _ in range(10):
        page.keyboard.press("Tab")
        code = page.evaluate("document.activeElement.getAttribute('hreflang')")
        if code:
            reached.append(code)
        if code == LANGUAGES[-1]:
            break
    assert reached == list(LANGUAGES)
    page.keyboard.press("Enter")
    expect(page.locator("html")).to_have_attribute("lang", LANGUAGES[-1])
