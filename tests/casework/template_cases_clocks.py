"""Template rendering cases for the clock settings page (collected by
tests/klankbord/test_templates.py), and a sample `ClockView` for the case page's clock panel
(`cases/_clocks.html`, rendered on its own by tests/casework/test_clocks_panel.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from uuid import UUID

from casework.acknowledgement import ClockView, DeadlineView
from casework.clock_settings import LIMITS, form_values
from casework.clocks import ClockRules
from klankbord.tenancy import Role, staff_context
from tests.support.template_case import Case

BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0201")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0202")
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0203"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)
CONTACT = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0204"),
    bureau_id=BUREAU_ID,
    organisation_roles=[(ORGANISATION_ID, Role.ORGANISATION_CONTACT)],
)
ORGANISATION = {"id": ORGANISATION_ID, "bureau": BUREAU_ID, "name": "Ville de Namur & Co"}
RULES = ClockRules(
    acknowledge_days=6,
    feedback_reminder_days=20,
    holidays=frozenset({date(2026, 12, 25), date(2026, 12, 26)}),
)
PATH = f"/organisations/{ORGANISATION_ID}/clocks"
NBSP = "\N{NO-BREAK SPACE}"
TITLES: dict[str, str | None] = {"nl": "Termijnen", "en": "Deadlines", "fr": "Délais"}
ERROR_TITLES: dict[str, str | None] = {
    "nl": "Fout: Termijnen",
    "en": "Error: Deadlines",
    "fr": f"Erreur{NBSP}: Délais",
}

RECEIVED = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
CLOCKS = ClockView(
    deadlines=[
        DeadlineView("acknowledgement", datetime(2026, 12, 11, 15, tzinfo=UTC), "due_soon", None),
        DeadlineView("first_contact", datetime(2026, 12, 8, 15, tzinfo=UTC), "overdue", None),
        DeadlineView(
            "first_conversation",
            datetime(2026, 12, 14, 15, tzinfo=UTC),
            "met",
            datetime(2026, 12, 9, 11, tzinfo=UTC),
        ),
        DeadlineView("feedback", datetime(2027, 3, 11, 15, tzinfo=UTC), "pending", None),
    ],
    exception="",
    closed=False,
    can_acknowledge=True,
    can_record_first_contact=True,
    can_record_feedback=True,
    received_on=date(2026, 12, 4),
    today=date(2026, 12, 10),
)


def _view(rules: ClockRules, *, custom: bool, may_edit: bool) -> SimpleNamespace:
    """A `clock_settings.SettingsView`, as a namespace: the literal-text check of
    test_templates.py reads the organisation's name inside it as data."""
    return SimpleNamespace(
        organisation=ORGANISATION,
        rules=rules,
        custom=custom,
        may_edit=may_edit,
    )


CASES: list[Case] = [
    Case(
        id="clock-settings-admin",
        template="clocks/settings.html",
        context={
            "clock_settings": _view(RULES, custom=True, may_edit=True),
            "values": form_values(RULES),
            "errors": {},
            "limits": LIMITS,
            "saved": True,
        },
        path=PATH,
        principal=ADMIN,
        titles=TITLES,
        texts={
            "all": [
                "Ville de Namur &amp; Co",
                f'action="{PATH}"',
                'name="_csrf_token"',
                'id="acknowledge_days" name="acknowledge_days"',
                'value="6"',
                ">\n2026-12-25\n2026-12-26</textarea>",
            ],
            "nl": ["De termijnen zijn opgeslagen.", "heeft eigen termijnen"],
            "en": ["The deadlines are saved.", "Days to acknowledge receipt"],
            "fr": ["Les délais sont enregistrés."],
        },
        absent=['aria-invalid="true"'],
    ),
    Case(
        id="clock-settings-errors",
        template="clocks/settings.html",
        context={
            "clock_settings": _view(RULES, custom=False, may_edit=True),
            "values": {**form_values(RULES), "acknowledge_days": "99", "holidays": "25-12"},
            "errors": {"acknowledge_days": "out_of_range", "holidays": "holiday_invalid"},
            "limits": LIMITS,
            "saved": False,
        },
        path=PATH,
        principal=ADMIN,
        status_code=422,
        titles=ERROR_TITLES,
        texts={
            "all": ['href="#acknowledge_days"', 'href="#holidays"', 'aria-invalid="true"'],
            "nl": ["Er is een probleem", "Vul een heel getal in, van 1 tot en met 60."],
            "en": ["Enter a whole number from 1 to 60.", "like 2026-12-25, one per line"],
            "fr": ["Saisissez un nombre entier de 1 à 60."],
        },
    ),
    Case(
        id="clock-settings-read-only",
        template="clocks/settings.html",
        context={
            "clock_settings": _view(RULES, custom=False, may_edit=False),
            "values": form_values(RULES),
            "errors": {},
            "limits": LIMITS,
            "saved": False,
        },
        path=PATH,
        principal=CONTACT,
        titles=TITLES,
        texts={
            "all": ["2026-12-25, 2026-12-26", "<dd>6</dd>", "<dd>20</dd>"],
            "en": ["Only the bureau admin can change the deadlines.", "The standard deadlines"],
        },
        absent=['<form method="post"', "<textarea"],
    ),
]
