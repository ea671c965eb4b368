"""The case page's clock panel (`cases/_clocks.html`), rendered on its own in every language:
states in words, the forms while they apply, errors next to their field; and the settings
page is rendered by tests/casework/template_cases_clocks.py in test_templates.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime
from markupsafe import Markup

from klankbord import i18n
from klankbord.settings import LANGUAGES, Settings
from klankbord.templating import make_environment
from tests.casework.template_cases_clocks import CLOCKS

SETTINGS = Settings(environment="test")
ENV = make_environment(SETTINGS)
CASE = SimpleNamespace(id=UUID(int=99))
PANEL = (
    '{% from "cases/_clocks.html" import clock_panel with context %}'
    "{{ clock_panel(case, clocks, errors) }}"
)


def shown(moment: datetime) -> str:
    """A moment as the `datetime` filter shows it in English."""
    return format_datetime(moment, "medium", tzinfo=ZoneInfo("Europe/Amsterdam"), locale="en")


def render(language: str, clocks: Any = CLOCKS, errors: dict[str, str] | None = None) -> str:
    catalog = i18n.translations(SETTINGS.frontend_dir / "locales", language)
    return ENV.from_string(PANEL).render(
        **i18n.gettext_callables(catalog),
        language=language,
        csrf_input=lambda: Markup('<input type="hidden" name="_csrf_token" value="t">'),
        case=CASE,
        clocks=clocks,
        errors=errors or {},
    )


def test_clock_panel_states_in_words_and_forms():
    html = render("en")
    assert 'id="clocks"' in html
    assert f"Due soon: by {shown(datetime(2026, 12, 11, 15, tzinfo=UTC))}" in html
    assert (
        f"<strong>Overdue: was due {shown(datetime(2026, 12, 8, 15, tzinfo=UTC))}</strong>" in html
    )
    assert f"Done on {shown(datetime(2026, 12, 9, 11, tzinfo=UTC))}" in html
    assert f"Due by {shown(datetime(2027, 3, 11, 15, tzinfo=UTC))}" in html
    assert "First conversation (Belgian wellbeing law)" in html
    for action in ("acknowledge", "exception", "first-contact", "feedback"):
        assert f'action="/cases/{CASE.id}/clock/{action}"' in html
    assert html.count('name="_csrf_token"') == 4
    assert 'min="2026-12-04" max="2026-12-10" value="2026-12-10"' in html
    assert 'aria-invalid="true"' not in html


def test_clock_panel_errors_next_to_fields():
    html = render(
        "en", errors={"first_contact_date": "date_in_future", "exception_reason": "reason_required"}
    )
    assert 'id="first_contact_date-error"' in html
    assert "The date of the first contact cannot be in the future." in html
    assert "Choose why no acknowledgement is sent." in html
    assert 'aria-invalid="true"' in html


def test_clock_panel_closed_case_no_forms():
    closed = replace(
        CLOCKS,
        closed=True,
        can_acknowledge=False,
        can_record_first_contact=False,
        can_record_feedback=False,
        deadlines=[replace(item, state="stopped") for item in CLOCKS.deadlines],
        exception="would_endanger_identity",
    )
    html = render("en", closed, {"clocks": "case_closed"})
    assert "<form" not in html
    assert "The case is closed: its deadlines no longer run." in html
    due = shown(datetime(2026, 12, 11, 15, tzinfo=UTC))
    assert f"Not done: the case is closed (was due {due})" in html
    assert "This case is closed. Reopen it first." in html


def test_clock_panel_exception_state_names_reason():
    excepted = replace(
        CLOCKS,
        exception="reporter_declined",
        can_acknowledge=False,
        deadlines=[replace(CLOCKS.deadlines[0], state="excepted")],
    )
    html = render("en", excepted)
    assert "Not sent: the reporter did not want one" in html
    assert "/clock/exception" not in html


@pytest.mark.parametrize("language", LANGUAGES)
def test_clock_panel_translated(language):
    html = render(language)
    expected = {"nl": "Termijnen", "en": "Deadlines", "fr": "Délais"}[language]
    assert f'<h2 id="clocks-title">{expected}</h2>' in html
