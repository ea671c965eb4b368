"""Template rendering cases for the counsellor's time overview (collected by
tests/klankbord/test_templates.py); the overview imports cases/_time.html, whose panel macro
is rendered on its own in tests/casework/test_time_entries.py.

`PANEL_CONTEXT` is what the case page adds for the panel (`time` from
`time_entries.case_time`), for the case page's own rendering case."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from uuid import UUID

from klankbord.tenancy import Role, staff_context
from tests.support.template_case import Case

BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0301")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0302")
OTHER_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0303")
COUNSELLOR = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0304"),
    bureau_id=BUREAU_ID,
    organisation_roles=[(ORGANISATION_ID, Role.COUNSELLOR), (OTHER_ID, Role.COUNSELLOR)],
)
NBSP = "\N{NO-BREAK SPACE}"
TITLES: dict[str, str | None] = {"nl": "Mijn tijd", "en": "My time", "fr": "Mon temps"}
DAY_1, DAY_2 = date(2026, 11, 20), date(2026, 11, 3)


def _row(name: str, reference: str, day: date, activity: str, minutes: int) -> SimpleNamespace:
    return SimpleNamespace(
        organisation_name=name,
        case_reference=reference,
        spent_on=day,
        activity=activity,
        minutes=minutes,
    )


ROWS = [
    _row("Zorggroep De Linde & Partners", "2026-K7QM2X", DAY_1, "conversation", 90),
    _row("Ville de Namur", "2026-P3RT9B", DAY_1, "travel", 45),
    _row("Zorggroep De Linde & Partners", "2026-W2HN4C", DAY_2, "consultation", 30),
]


def _context(rows: list[SimpleNamespace], *, next_link: str | None) -> dict[str, object]:
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.organisation_name] = totals.get(row.organisation_name, 0) + row.minutes
    return {
        "overview": SimpleNamespace(
            month=date(2026, 11, 1),
            rows=rows,
            totals=sorted(totals.items()),
            total_minutes=sum(totals.values()),
        ),
        "month_label": "november 2026",
        "days": {DAY_1: "20 nov 2026", DAY_2: "3 nov 2026"},
        "previous_link": "/time?month=2026-10",
        "next_link": next_link,
    }


CASES: list[Case] = [
    Case(
        id="time-overview",
        template="time/overview.html",
        context=_context(ROWS, next_link="/time?month=2026-12"),
        path="/time",
        principal=COUNSELLOR,
        titles=TITLES,
        texts={
            "all": [
                "Zorggroep De Linde &amp; Partners",
                "2026-K7QM2X",
                "2026-W2HN4C",
                'href="/time?month=2026-10" rel="prev"',
                'href="/time?month=2026-12" rel="next"',
                '<time datetime="2026-11-20">20 nov 2026</time>',
                "november 2026",
            ],
            "nl": ["Gesprek", "Reistijd", "2 u 0 min", "1 u 30 min", "45 min", "Per organisatie"],
            "en": ["Conversation", "Travel", "2 h 0 min", "1 h 30 min", "45 min", "Total"],
            "fr": ["Entretien", "Déplacement", "2 h 0 min", "Par organisation"],
        },
        absent=["<form", "style=", "No time recorded"],
    ),
    Case(
        id="time-overview-empty",
        template="time/overview.html",
        context=_context([], next_link=None),
        path="/time",
        principal=COUNSELLOR,
        titles=TITLES,
        texts={
            "nl": ["In deze maand is geen tijd geregistreerd."],
            "en": ["No time recorded in this month."],
            "fr": ["Aucun temps saisi pour ce mois."],
        },
        absent=["<table", 'rel="next"'],
    ),
]

# For the case page's rendering case: the panel with an own entry that can still be deleted,
# a colleague's entry, and an error on the minutes with what was typed.
PANEL_CONTEXT = {
    "time": SimpleNamespace(
        entries=[
            SimpleNamespace(
                id=UUID(int=0x301),
                minutes=45,
                activity="phone_call",
                spent_on=DAY_1,
                own=True,
                deletable=True,
            ),
            SimpleNamespace(
                id=UUID(int=0x302),
                minutes=90,
                activity="conversation",
                spent_on=DAY_2,
                own=False,
                deletable=False,
            ),
        ],
        total_minutes=135,
    ),
    "errors": {"time_minutes": "minutes_over_entry_limit"},
    "values": {"time_minutes": "800", "time_activity": "travel", "time_spent_on": ""},
}
