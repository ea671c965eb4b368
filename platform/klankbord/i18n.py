"""Languages: Babel catalogs for nl (default), en and fr, and the choice per request.

Catalogs are the `.po` files under `frontend/locales/<lang>/LC_MESSAGES/`, read once per
process; no compiled `.mo` files to forget. Source strings are English, so the `en` catalog
may stay empty.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from markupsafe import Markup

from klankbord.settings import LANGUAGES

LANGUAGE_NAMES = {"nl": "Nederlands", "en": "English", "fr": "Français"}
COOKIE = "klankbord_lang"


@lru_cache(maxsize=16)
def translations(locales_dir: Path, language: str) -> NullTranslations:
    path = locales_dir / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    result = Translations()
    for message in catalog:
        string = message.string
        # An untranslated plural is ("", ""): not empty as a tuple, but nothing to show.
        if isinstance(string, (tuple, list)) and not any(string):
            continue
        if not message.id or not string or message.fuzzy:
            continue
        if isinstance(message.id, (tuple, list)):
            plural_forms = tuple(string) if isinstance(string, (tuple, list)) else (string,)
            singular = str(message.id[0])
            for index, text in enumerate(plural_forms):
                result._catalog[(singular, index)] = str(text)
            result._catalog[singular] = str(plural_forms[0])
        else:
            result._catalog[message.id] = str(string)
    return result


def negotiate(cookie: str | None, accept_language: str | None, default: str) -> str:
    """The reporter's or staff member's explicit choice, else the browser's, else default."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        # The primary subtag, whole: "fr-BE" is French, "frr" (North Frisian) is not.
        code = tag.replace("_", "-").split("-")[0]
        if code in LANGUAGES:
            return code
    return default


def gettext_callables(
    catalog: NullTranslations, *, autoescape: bool = True
) -> dict[str, Callable[..., Any]]:
    """`gettext`/`ngettext`/`_` for Jinja's i18n extension in newstyle mode (variables are
    keyword arguments and are escaped when the template autoescapes)."""

    def gettext(message: str, **variables: Any) -> str:
        text: Any = catalog.gettext(message)
        if autoescape:
            text = Markup(text)  # noqa: S704 - our own catalog text; Markup % escapes variables
        return text % variables if variables else text  # type: ignore[no-any-return]

    def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        text: Any = catalog.ngettext(singular, plural, num)
        if autoescape:
            text = Markup(text)  # noqa: S704 - our own catalog text; Markup % escapes variables
        return text % variables  # type: ignore[no-any-return]

    return {"gettext": gettext, "ngettext": ngettext, "_": gettext}
