"""Markdown written by bureaus, read by reporters: ordinary markdown renders; scripts, raw
HTML, images, event handlers and dangerous link schemes never reach the page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from markupsafe import Markup

from klankbord.markdown import render_markdown

REL = 'rel="nofollow noopener noreferrer"'


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.extend(name for name, _ in attrs)


def _parsed(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


def _attributes(html: str) -> list[str]:
    return _parsed(html).attributes


def _tags(html: str) -> set[str]:
    return _parsed(html).tags


def _hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def test_markdown_ordinary_text_renders():
    html = render_markdown(
        "# Kop\n\n## Tweede kop\n\nEen *klein* en **vet** woord.\n\n- een\n- twee\n\n1. eerst\n"
    )
    assert isinstance(html, Markup)
    assert "<h1>Kop</h1>" in html and "<h2>Tweede kop</h2>" in html
    assert "<em>klein</em>" in html and "<strong>vet</strong>" in html
    assert "<ul>\n<li>een</li>" in html and "<ol>\n<li>eerst</li>" in html


@pytest.mark.parametrize(
    ("source", "href"),
    [
        ("[site](https://example.org/a?b=1)", "https://example.org/a?b=1"),
        ("[site](http://example.org)", "http://example.org"),
        ("[mail](mailto:vp@example.org)", "mailto:vp@example.org"),
        ("[bel](tel:+31201234567)", "tel:+31201234567"),
        ("<https://example.org>", "https://example.org"),
        ("<mailto:vp@example.org>", "mailto:vp@example.org"),
    ],
)
def test_markdown_allowed_link_rendered_with_rel(source: str, href: str):
    html = render_markdown(source)
    assert _hrefs(html) == [href]
    assert REL in html


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](  javascript:alert(1))",
        "[x](java\tscript:alert(1))",
        "[x](javascript&#58;alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox(1))",
        "[x](file:///etc/passwd)",
        "[x](/relative/path)",
        "[x](//evil.example/path)",
        "<javascript:alert(1)>",
        "<data:text/html,hi>",
        "[x]\n\n[x]: javascript:alert(1)",
    ],
)
def test_markdown_unsafe_link_rendered_as_text(source: str):
    html = render_markdown(source)
    assert "<a" not in html and "href" not in html


def test_markdown_script_and_raw_html_escaped():
    html = render_markdown(
        '<script>alert(1)</script>\n\nText <b onclick="alert(1)">bold</b> '
        '<a href="javascript:alert(1)">x</a> <iframe src="https://evil.example"></iframe>'
    )
    assert "<script" not in html and "<b " not in html and "<iframe" not in html
    assert "<a " not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_event_handler_attributes_never_rendered():
    html = render_markdown(
        '[x](https://example.org "a\\" onmouseover=\\"alert(1)")\n\n'
        '<img src=x onerror="alert(1)">\n\n<div onclick="x">y</div>'
    )
    # Parsed as a browser would: no element carries an on* attribute (a quote inside the
    # title stays inside the title).
    assert [name for name in _attributes(html) if name.startswith("on")] == []
    assert _tags(html) == {"p", "a"}


def test_markdown_images_not_loaded():
    html = render_markdown("![logo](https://tracker.example/pixel.png)")
    assert "<img" not in html and "src=" not in html


def test_markdown_images_with_unsafe_scheme_not_linked():
    html = render_markdown("![x](javascript:alert(1))")
    assert "<img" not in html and "<a" not in html


def test_markdown_autolinks_only_safe_schemes_and_bare_urls_stay_text():
    html = render_markdown("Zie www.example.org of https://example.org zonder haken.")
    assert "<a" not in html  # no linkify: a bare address stays text
    assert "www.example.org" in html


def test_markdown_empty_text_renders_nothing():
    assert render_markdown("") == Markup("")
