"""Languages: every screen string translated into Dutch and French, placeholders intact,
the language chosen per request, and translated text that cannot smuggle in markup.

The strings are extracted here exactly as `make messages` extracts them (babel.cfg, Babel's
default keywords), so a string added to a template or to platform code without a Dutch and a
French translation fails this file, with the strings and where they are.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from markupsafe import Markup

from klankbord import i18n
from klankbord.settings import LANGUAGES, REPO_ROOT, Settings
from klankbord.templating import make_environment

LOCALES = REPO_ROOT / "frontend" / "locales"
TRANSLATED = ("nl", "fr")  # English is the source language: its catalog stays empty
PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>\w+)\))?[#0\- +]*\d*(?:\.\d+)?(?P<kind>[diouxXeEfFgGcrsa%])"
)


def _extracted() -> dict[str | tuple[str, ...], list[str]]:
    """Every msgid in the code and templates, with where it occurs (`path:line`)."""
    with (REPO_ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, "babel.cfg")
    found: dict[str | tuple[str, ...], list[str]] = defaultdict(list)
    for filename, lineno, message, _comments, _context in extract_from_dir(
        REPO_ROOT, method_map, options_map
    ):
        msgid = message if isinstance(message, str) else tuple(message)
        found[msgid].append(f"{filename}:{lineno}")
    return dict(found)


def _catalog(language: str) -> Catalog:
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def _singular(msgid: str | tuple[str, ...]) -> str:
    return msgid if isinstance(msgid, str) else msgid[0]


def _translated(message: Message | None) -> bool:
    if message is None or message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, (tuple, list)) else [message.string]
    return bool(strings) and all(strings)


def _placeholders(text: str) -> set[str]:
    """Named placeholders as `name`, positional ones as `%s`-style kinds; `%%` is no
    placeholder."""
    found = set()
    for match in PLACEHOLDER.finditer(text):
        if match["kind"] == "%":
            continue
        found.add(match["name"] or f"%{match['kind']}")
    return found


def _placeholder_problems(message: Message) -> list[str]:
    """What is wrong with a translation's placeholders, in words (empty when all is well)."""
    ids = [message.id] if isinstance(message.id, str) else list(message.id)
    strings = [message.string] if isinstance(message.string, str) else list(message.string)
    wanted: set[str] = set().union(*(_placeholders(text) for text in ids))
    problems = []
    for text in strings:
        if not text:
            continue
        got = _placeholders(text)
        if got - wanted:
            problems.append(f"{text!r} has {sorted(got - wanted)} which the msgid has not")
        if not message.pluralizable and wanted - got:
            problems.append(f"{text!r} lacks {sorted(wanted - got)}")
        if wanted or message.pluralizable:
            # gettext_callables formats with `%` whenever there are variables.
            try:
                text % {name: 1 for name in (*wanted, "num")}
            except (KeyError, TypeError, ValueError) as error:
                problems.append(f"{text!r} cannot be formatted: {error!r}")
    return problems


def test_babel_cfg_extraction_finds_template_and_python_strings():
    extracted = _extracted()
    assert "Welcome" in extracted  # home.html
    assert "Page not found" in extracted  # errors/error.html
    places = [place for places in extracted.values() for place in places]
    assert all(place.startswith(("platform/", "frontend/templates/")) for place in places)
    assert not any("piccolo_migrations" in place for place in places)


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalog_every_extracted_string_translated_not_fuzzy(language):
    catalog = _catalog(language)
    missing = [
        f"{_singular(msgid)!r} ({', '.join(places)})"
        for msgid, places in sorted(_extracted().items(), key=lambda item: _singular(item[0]))
        if not _translated(catalog.get(_singular(msgid)))
    ]
    assert not missing, (
        f"{len(missing)} string(s) without a {language} translation; run `make messages` "
        f"and fill in frontend/locales/{language}/LC_MESSAGES/messages.po:\n  "
        + "\n  ".join(missing)
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_placeholders_match_msgid(language):
    problems = [
        f"{message.id!r}: {problem}"
        for message in _catalog(language)
        if message.id
        for problem in _placeholder_problems(message)
    ]
    assert not problems, "\n".join(problems)


def test_placeholder_check_wrong_name_or_lone_percent_reported():
    assert _placeholder_problems(Message("Hello %(name)s", "Hallo %(name)s")) == []
    assert _placeholder_problems(Message("100%", "100%")) == []  # never formatted
    renamed = _placeholder_problems(Message("Hello %(name)s", "Hallo %(naam)s"))
    assert any("naam" in problem for problem in renamed)
    assert any("lacks ['name']" in problem for problem in renamed)
    lone = _placeholder_problems(Message("%(num)d of %(total)d", "%(num)d op %(total)d 100%"))
    assert any("cannot be formatted" in problem for problem in lone)


def test_catalog_english_stays_source_text():
    def filled(string: str | tuple[str, ...]) -> bool:  # a plural's msgstr is a tuple
        return any(string) if isinstance(string, tuple) else bool(string)

    translated = [message.id for message in _catalog("en") if message.id and filled(message.string)]
    assert not translated, f"en is the source language; leave msgstr empty: {translated}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_loaded_from_po_without_mo(language):
    catalog = i18n.translations(LOCALES, language)
    expected = {"nl": "Welkom", "en": "Welcome", "fr": "Bienvenue"}[language]
    assert catalog.gettext("Welcome") == expected
    assert not list(LOCALES.rglob("*.mo")), "catalogs are read from .po; no compiled files"


def test_translations_missing_language_falls_back_to_source(tmp_path: Path):
    catalog = i18n.translations(tmp_path, "nl")
    assert catalog.gettext("Welcome") == "Welcome"


def test_translations_untranslated_plural_falls_back_to_source(tmp_path: Path):
    folder = tmp_path / "en" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "%(num)d organisation"\nmsgid_plural "%(num)d organisations"\n'
        'msgstr[0] ""\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    catalog = i18n.translations(tmp_path, "en")
    assert catalog.ngettext("%(num)d organisation", "%(num)d organisations", 3) == (
        "%(num)d organisations"
    )
    assert catalog.ngettext("%(num)d organisation", "%(num)d organisations", 1) == (
        "%(num)d organisation"
    )


@pytest.mark.parametrize(
    ("cookie", "accept_language", "expected"),
    [
        ("fr", "en-GB,en;q=0.9", "fr"),  # the explicit choice beats the browser
        ("en", "nl-NL,nl;q=0.9", "en"),
        (None, "en-GB,en;q=0.9", "en"),  # then the browser
        (None, "fr-BE,fr;q=0.9,nl;q=0.8", "fr"),
        (None, "FR-be", "fr"),
        (None, "de-DE,de;q=0.9,fr;q=0.5", "fr"),  # unknown first choice skipped
        ("de", "fr-BE", "fr"),  # unknown cookie ignored
        ("", "en", "en"),
        ("xx", None, "nl"),  # then the default
        (None, "de-DE,es;q=0.8", "nl"),
        (None, "", "nl"),
        (None, "*", "nl"),
    ],
)
def test_negotiate_cookie_then_accept_language_then_default(cookie, accept_language, expected):
    assert i18n.negotiate(cookie, accept_language, "nl") == expected


def test_negotiate_default_is_the_configured_one():
    assert i18n.negotiate(None, "de", "fr") == "fr"
    assert i18n.negotiate("nl", "de", "fr") == "nl"


def test_negotiate_three_letter_language_not_mistaken_for_two_letter():
    assert i18n.negotiate(None, "frr", "nl") == "nl"


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("frp-FR,en;q=0.5", "en"),  # Arpitan is not French; the next choice is taken
        ("nds,fr;q=0.5", "fr"),  # Low German is not Dutch
        ("enm", "nl"),  # Middle English is not English
        ("fr_BE", "fr"),  # an underscore, as some clients send it
        ("nl_NL", "nl"),
        ("en-Latn-GB", "en"),
    ],
)
def test_negotiate_compares_the_whole_primary_subtag(accept_language, expected):
    assert i18n.negotiate(None, accept_language, "nl") == expected


def _catalog_with(translations: dict[str, str]) -> Translations:
    catalog = Translations()
    catalog._catalog.update(translations)
    return catalog


def test_gettext_callables_autoescape_variables_escaped_text_kept():
    callables = i18n.gettext_callables(_catalog_with({"Hello %(name)s": "Hallo <b>%(name)s</b>"}))
    result = callables["_"]("Hello %(name)s", name="<script>alert(1)</script>")
    assert isinstance(result, Markup)
    assert result == "Hallo <b>&lt;script&gt;alert(1)&lt;/script&gt;</b>"


def test_gettext_callables_ngettext_escapes_and_counts():
    callables = i18n.gettext_callables(NullTranslations())
    one = callables["ngettext"](
        "%(num)d report by %(who)s", "%(num)d reports by %(who)s", 1, who="<i>"
    )
    many = callables["ngettext"](
        "%(num)d report by %(who)s", "%(num)d reports by %(who)s", 3, who="<i>"
    )
    assert one == "1 report by &lt;i&gt;"
    assert many == "3 reports by &lt;i&gt;"


def test_gettext_callables_without_autoescape_plain_text():
    callables = i18n.gettext_callables(NullTranslations(), autoescape=False)
    result = callables["gettext"]("Hello %(name)s", name="<script>")
    assert result == "Hello <script>"
    assert not isinstance(result, Markup)


def test_gettext_callables_in_app_environment_injected_script_escaped():
    env = make_environment(Settings())
    callables = i18n.gettext_callables(_catalog_with({"Hello %(name)s": "Hallo %(name)s"}))
    template = env.from_string(
        '<p title="{{ _("Hello %(name)s", name=who) }}">{{ _("Hello %(name)s", name=who) }}</p>'
        "{% trans name=who %}Hello {{ name }}{% endtrans %}"
    )
    html = template.render(**callables, who='"><script>alert(1)</script>')
    assert "<script>" not in html
    assert "&#34;&gt;&lt;script&gt;" in html
    assert html.count("Hallo") == 3  # `{% trans %}` goes through the same escaping gettext


@pytest.mark.parametrize("language", LANGUAGES)
def test_datetime_filter_same_as_babel_format_datetime(language):
    """The template filter's cached pattern gives exactly what Babel's "medium" gives."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from babel.dates import format_datetime

    from klankbord.templating import _format_datetime

    zone = ZoneInfo("Europe/Amsterdam")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for step in range(0, 400 * 37, 37):  # across both daylight-saving changes
        moment = start + timedelta(hours=step, minutes=step % 60)
        expected = format_datetime(moment, "medium", tzinfo=zone, locale=language)
        assert _format_datetime(moment, language) == expected
