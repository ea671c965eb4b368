"""Helpers for the browser tests: the running server, a watched browser tab, catalogs, axe."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Response

REPO = Path(__file__).resolve().parents[2]
LOCALES = REPO / "frontend" / "locales"
LANGUAGE_COOKIE = "klankbord_lang"
LANGUAGES = ("nl", "en", "fr")

# A browser language Klankbord does not offer, so the configured default (nl) applies.
# (Playwright's own default would send `Accept-Language: en-US`, which the app honours.)
UNOFFERED_LOCALE = "de-DE"

# Marks what the init script reports from `securitypolicyviolation` events.
CSP_EVENT = "klankbord-e2e securitypolicyviolation:"
_CSP_LISTENER = (
    "document.addEventListener('securitypolicyviolation', (e) => console.error("
    f"'{CSP_EVENT} ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));"
)
FAVICON = "/favicon.ico"


@dataclass(frozen=True)
class DemoUser:
    role: str
    email: str
    name: str


@dataclass(frozen=True)
class IntakeLink:
    organisation: str
    procedure: str
    url: str


@dataclass
class Server:
    base_url: str
    users: list[DemoUser] = field(default_factory=list)
    links: list[IntakeLink] = field(default_factory=list)

    @property
    def organisations(self) -> set[str]:
        return {link.organisation for link in self.links}


_USER = re.compile(r"^\s+(\S+)\s+(\S+@\S+)\s+(.+?)\s*$")
_LINK = re.compile(r"^\s+(.+?)\s+(\S+)\s+(https?://\S+)\s*$")


def parse_seed_output(text: str) -> tuple[list[DemoUser], list[IntakeLink]]:
    """The users and intake links `klankbord seed-demo` prints (lenient: unknown lines pass)."""
    users: list[DemoUser] = []
    links: list[IntakeLink] = []
    section = ""
    for line in text.splitlines():
        if line.startswith("Staff sign-in"):
            section = "users"
        elif line.startswith("Intake links"):
            section = "links"
        elif section == "users" and (m := _USER.match(line)):
            users.append(DemoUser(*m.groups()))
        elif section == "links" and (m := _LINK.match(line)):
            links.append(IntakeLink(*m.groups()))
    return users, links


@dataclass(frozen=True)
class ConsoleEntry:
    type: str
    text: str
    url: str


class Tab:
    """One page in its own context, with everything it did: requests, console, CSP, JS errors."""

    def __init__(self, context: BrowserContext, base_url: str) -> None:
        self.context = context
        self.base_url = base_url
        self.requests: list[str] = []
        self.console: list[ConsoleEntry] = []
        self.page_errors: list[str] = []
        context.on("request", lambda request: self.requests.append(request.url))
        context.add_init_script(script=_CSP_LISTENER)
        self.page: Page = context.new_page()
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _on_console(self, message: ConsoleMessage) -> None:
        location: dict[str, Any] = dict(message.location or {})
        self.console.append(ConsoleEntry(message.type, message.text, str(location.get("url", ""))))

    def goto(self, path: str) -> Response:
        response = self.page.goto(self.base_url + path)
        assert response is not None, f"no response for {path}"
        return response

    def settle(self) -> None:
        """Let late events (sub-resources, console messages) arrive."""
        self.page.wait_for_load_state("networkidle")

    @property
    def lang(self) -> str | None:
        return self.page.locator("html").get_attribute("lang")

    @property
    def csp_violations(self) -> list[str]:
        return [
            entry.text
            for entry in self.console
            if entry.text.startswith(CSP_EVENT)
            or "Content Security Policy" in entry.text
            or entry.text.startswith("Refused to")
        ]

    def console_errors(self, *, expected_status_urls: tuple[str, ...] = ()) -> list[str]:
        """Console errors, less the browser's note on a document we asked to be an error page
        and the favicon (its 404 has a test of its own)."""
        allowed = {self.base_url + path for path in expected_status_urls}
        allowed.add(self.base_url + FAVICON)
        return [
            f"{entry.text} ({entry.url})"
            for entry in self.console
            if entry.type == "error"
            and not (entry.text.startswith("Failed to load resource") and entry.url in allowed)
        ]

    def wait_for(self, condition: Any, timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)


def catalog(language: str) -> dict[str, str]:
    """The translated, non-fuzzy entries of a language's catalog (empty while there is none)."""
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        messages = read_po(handle, locale=language)
    return {
        message.id: message.string
        for message in messages
        if isinstance(message.id, str)
        and message.id
        and isinstance(message.string, str)
        and message.string
        and not message.fuzzy
    }


def tr(language: str, message: str) -> str:
    """What the page should say for `message` in `language`: the catalog's text, else the
    English source (what the app shows for an untranslated string)."""
    return catalog(language).get(message, message)


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_source() -> str | None:
    """axe-core as shipped inside the `axe-playwright-python` wheel (no CDN, no npm)."""
    try:
        return (resources.files("axe_playwright_python") / "axe.min.js").read_text("utf-8")
    except ModuleNotFoundError:
        return None


def run_axe(page: Page, source: str) -> list[dict[str, Any]]:
    """The WCAG 2.1 A/AA violations axe finds on the current page.

    `page.evaluate` runs in the page through the DevTools protocol, which the page's CSP
    (no inline script) does not apply to, so the CSP stays on while axe runs."""
    page.evaluate(source)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        AXE_TAGS,
    )
    return list(result["violations"])


def describe_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['html']}")
            if node.get("failureSummary"):
                lines.append("      " + node["failureSummary"].replace("\n", "\n      "))
    return "\n".join(lines)
