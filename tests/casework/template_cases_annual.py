"""Template rendering cases for the annual report pages (collected by
tests/klankbord/test_templates.py): the list with the start form, the contact's empty list, a
draft report with errors and what was typed, a final report as the contact reads it, and the
bureau-wide figures. The figures are real: counted values suppressed by `annual_figures`."""

from __future__ import annotations

from collections import Counter
from datetime import date
from types import SimpleNamespace
from uuid import UUID

from casework.annual_figures import BUREAU_TABLES, Counts, publish
from casework.annual_model import ReportStatus, TableKey
from klankbord.tenancy import Role, staff_context
from tests.support.template_case import Case

BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0801")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0802")
COUNSELLOR = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0803"),
    bureau_id=BUREAU_ID,
    organisation_roles=[(ORGANISATION_ID, Role.COUNSELLOR)],
)
CONTACT = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0804"),
    bureau_id=BUREAU_ID,
    organisation_roles=[(ORGANISATION_ID, Role.ORGANISATION_CONTACT)],
)
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0805"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)
NAME = "Zorggroep De Linde & Partners"
BASE = f"/organisations/{ORGANISATION_ID}/annual-reports"
TITLES: dict[str, str | None] = {"nl": None, "en": None, "fr": None}


def _counts(cases: dict[TableKey, dict[str, int]], contacts: int, minutes: int) -> Counts:
    total = sum(cases[TableKey.PROCEDURE].values())
    return Counts(
        cases=total,
        contacts=contacts,
        minutes=minutes,
        tables={key: Counter(values) for key, values in cases.items()},
    )


CURRENT = _counts(
    {
        TableKey.PROCEDURE: {"unwanted_behaviour": 14, "integrity": 5, "rehabilitation": 1},
        TableKey.CATEGORY: {"bullying": 9, "intimidation": 4, "fraud": 2},
        TableKey.OUTCOME: {"listening_only": 8, "informal_solution": 6, "": 6},
        TableKey.ROLE: {"employee": 16, "manager": 4},
        TableKey.CHANNEL: {"online": 12, "phone": 6, "walk_in": 2},
        TableKey.SECTOR: {"care": 20},
    },
    contacts=41,
    minutes=2130,
)
PREVIOUS = _counts(
    {
        TableKey.PROCEDURE: {"unwanted_behaviour": 11, "integrity": 3},
        TableKey.OUTCOME: {"listening_only": 9, "": 5},
        TableKey.ROLE: {"employee": 14},
        TableKey.CHANNEL: {"online": 14},
        TableKey.SECTOR: {"care": 14},
    },
    contacts=30,
    minutes=1500,
)
FIGURES = publish(CURRENT, year=2025, k=3, previous=PREVIOUS)
BUREAU = publish(CURRENT, year=2025, k=3, previous=PREVIOUS, tables=BUREAU_TABLES)


def _report(status: ReportStatus, *, may_edit: bool) -> SimpleNamespace:
    return SimpleNamespace(
        id=UUID(int=0x801),
        organisation_id=ORGANISATION_ID,
        organisation_name=NAME,
        bureau_name="Bureau Vertrouwen <Oost>",
        year=2025,
        status=status,
        k=3,
        narrative="Meer vragen na de reorganisatie.\n\nAdvies: <b>teamleiders</b> trainen.",
        preventive="Twee workshops.",
        figures=FIGURES,
        finalised_on=date(2026, 2, 3) if status is ReportStatus.FINAL else None,
        may_edit=may_edit,
    )


def _report_context(status: ReportStatus, *, may_edit: bool, **extra: object) -> dict[str, object]:
    report = _report(status, may_edit=may_edit)
    return {
        "report": report,
        "figures": FIGURES,
        # Charts are rendered (and tested) by casework.report_charts, in the page's language.
        "charts": {},
        "base": f"{BASE}/2025",
        "values": {"narrative": report.narrative, "preventive": report.preventive, "k": "3"},
        "errors": {},
        **extra,
    }


CASES: list[Case] = [
    Case(
        id="annual-reports-index",
        template="annual_reports/index.html",
        context={
            "organisation_id": ORGANISATION_ID,
            "organisation_name": NAME,
            "reports": [
                SimpleNamespace(year=2025, status="review", finalised_on=None),
                SimpleNamespace(year=2024, status="final", finalised_on=date(2025, 2, 1)),
            ],
            "may_start": True,
            "year": "2023",
            "errors": {},
        },
        path=BASE,
        principal=COUNSELLOR,
        titles=TITLES,
        texts={
            "all": [
                "Zorggroep De Linde &amp; Partners",
                f'href="{BASE}/2024"',
                "01-02-2025",
                'value="2023"',
            ]
        },
    ),
    Case(
        id="annual-reports-index-contact-empty",
        template="annual_reports/index.html",
        context={
            "organisation_id": ORGANISATION_ID,
            "organisation_name": NAME,
            "reports": [],
            "may_start": False,
            "year": "2025",
            "errors": {},
        },
        path=BASE,
        principal=CONTACT,
        titles=TITLES,
        absent=["<form", "<table"],
    ),
    Case(
        id="annual-report-draft-errors",
        template="annual_reports/report.html",
        context=_report_context(
            ReportStatus.DRAFT,
            may_edit=True,
            errors={"k": "k_out_of_range"},
            values={"narrative": "Typed <i>text</i>", "preventive": "", "k": "1"},
        ),
        path=f"{BASE}/2025",
        principal=COUNSELLOR,
        titles=TITLES,
        texts={
            "all": [
                "Typed &lt;i&gt;text&lt;/i&gt;",
                'id="error-summary"',
                'aria-invalid="true"',
                f'action="{BASE}/2025/review"',
                "report.pdf?lang=fr",
                "&lt; 3",
                "Bureau Vertrouwen &lt;Oost&gt;",
            ]
        },
        absent=["<b>teamleiders</b>", "/final"],
        status_code=422,
    ),
    Case(
        id="annual-report-final-contact",
        template="annual_reports/report.html",
        context=_report_context(ReportStatus.FINAL, may_edit=False),
        path=f"{BASE}/2025",
        principal=CONTACT,
        titles=TITLES,
        texts={
            "all": [
                "Meer vragen na de reorganisatie.",
                "&lt;b&gt;teamleiders&lt;/b&gt;",
                "03-02-2026",
                "+6",  # 20 cases against 14
            ]
        },
        absent=["<form", "<textarea"],
    ),
    Case(
        id="annual-report-bureau",
        template="annual_reports/bureau.html",
        context={
            "bureau_name": "Bureau Vertrouwen <Oost>",
            "figures": BUREAU,
            "charts": {},
            "year": 2025,
            "years": [2026, 2025, 2024],
            "default_k": 3,
        },
        path="/bureau/annual-report",
        principal=ADMIN,
        titles=TITLES,
        texts={
            "all": [
                "Bureau Vertrouwen &lt;Oost&gt;",
                'id="table-sector"',
                '<option value="2025" selected>',
                "report.csv?year=2025&amp;lang=nl",
            ]
        },
    ),
]
