"""Jinja2 pages: one environment per app, the language's gettext added per render."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import (
    DateTimePattern,
    get_date_format,
    get_datetime_format,
    get_time_format,
    parse_pattern,
)
from babel.numbers import format_currency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Request
from litestar.enums import MediaType
from litestar.response import Template

from klankbord import i18n
from klankbord.app_state import app_settings
from klankbord.settings import Settings


def make_environment(settings: Settings) -> Environment:
    env = Environment(
        loader=FileSystemLoader(settings.frontend_dir / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.globals["LANGUAGE_NAMES"] = i18n.LANGUAGE_NAMES
    env.filters["datetime"] = _format_datetime
    env.filters["money"] = _format_money
    return env


_LOCAL_TIME = ZoneInfo("Europe/Amsterdam")


@lru_cache(maxsize=8)
def _medium_pattern(language: str) -> tuple[Locale, DateTimePattern, str]:
    """Babel's "medium" date-and-time format of `language` as one parsed pattern, and the
    pattern text itself: what `babel.dates.format_datetime(…, "medium")` assembles and parses
    again on every call."""
    locale = Locale.parse(language)
    outer = str(get_datetime_format("medium", locale=locale))
    combined = outer.replace("{0}", get_time_format("medium", locale=locale).pattern).replace(
        "{1}", get_date_format("medium", locale=locale).pattern
    )
    return locale, parse_pattern(combined), combined


# The medium patterns of our three languages, written out: a list page shows 100 dates, and
# Babel's general pattern machinery costs ~5 µs a date where this costs ~1. Any other pattern
# falls back to Babel (tests/klankbord/test_i18n.py compares both over a year of moments).
_DAY_FIRST = "d MMM y, HH:mm:ss"  # nl, fr
_MONTH_FIRST = "MMM d, y, h:mm:ss\u202fa"  # en


def _format_money(cents: int, currency: str = "eur", language: str = "nl") -> str:
    """An amount in cents as the language writes money ("€ 45,00", "€45.00", "45,00 €")."""
    return str(format_currency(cents / 100, currency.upper(), locale=language))


def _format_datetime(value: datetime, language: str = "nl") -> str:
    # Stored in UTC; shown in the time zone of the Netherlands and Belgium.
    locale, pattern, text = _medium_pattern(language)
    local = value.astimezone(_LOCAL_TIME)
    month = locale.months["format"]["abbreviated"][local.month]
    if text == _DAY_FIRST:
        return f"{local.day} {month} {local.year}, {local:%H:%M:%S}"
    if text == _MONTH_FIRST:
        hour = local.hour % 12 or 12
        period = locale.day_periods["format"]["abbreviated"]["am" if local.hour < 12 else "pm"]
        return f"{month} {local.day}, {local.year}, {hour}:{local:%M:%S}\u202f{period}"
    return str(pattern.apply(local, locale))


REPORTER_PREFIX = "/r/"


def is_reporter_path(path: str) -> bool:
    return path.startswith(REPORTER_PREFIX)


def request_language(request: Request[Any, Any, Any]) -> str:
    """Staff pages: the language cookie, else the browser's languages. Reporter pages set no
    cookie and read none: the language travels in the address (`?lang=`)."""
    settings = app_settings(request)
    if is_reporter_path(request.url.path):
        chosen = request.query_params.get("lang")
        return i18n.negotiate(
            chosen, request.headers.get("accept-language"), settings.default_language
        )
    return i18n.negotiate(
        request.cookies.get(i18n.COOKIE),
        request.headers.get("accept-language"),
        settings.default_language,
    )


def language_href(path: str, code: str) -> str:
    """Where a language link goes: the same reporter page in that language, or (staff) the
    language choice, which remembers it in a cookie and comes back."""
    if is_reporter_path(path):
        return f"{path}?lang={code}"
    return f"/language?lang={code}&next={quote(path)}"


class Page(Template):
    """A template response whose `csrf_input()` is ours (Litestar's would put a CSRF token,
    and so a cookie, into every page, form or not)."""

    def create_template_context(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        context = super().create_template_context(request)
        context["csrf_input"] = self.context["csrf_input"]
        return context


def page(
    request: Request[Any, Any, Any],
    template: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """Render `template` in the request's language."""
    settings = app_settings(request)
    language = request_language(request)
    catalog = i18n.translations(Path(settings.frontend_dir / "locales"), language)
    return Page(
        template_name=template,
        status_code=status_code,
        # A page is HTML whatever its handler returns otherwise (Litestar would take the
        # handler's media type, JSON for handlers that may also redirect or stream).
        media_type=MediaType.HTML,
        context={
            **i18n.gettext_callables(catalog),
            "language": language,
            "request_path": request.url.path,
            "reporter_page": is_reporter_path(request.url.path),
            "language_href": lambda code: language_href(request.url.path, code),
            "principal": request.scope.get("user"),
            # Set by a before-request hook for staff of a bureau with an overdue payment.
            "staff_banner": request.scope.get("staff_banner"),
            # A form's hidden CSRF field; calling it is what sets the cookie (pages without a
            # form set none).
            "csrf_input": lambda: request.app.state.csrf.input(request.scope),
            **context,
        },
    )
