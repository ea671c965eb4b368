"""Template rendering cases for the dashboard pages (collected by
tests/klankbord/test_templates.py)."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from dataclasses import is_dataclass
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from klankbord.tenancy import staff_context
from tenants.choices import Country, Sector
from tenants.counsellors import CredentialWarning
from tenants.dashboard import (
    STATUSES,
    CaseCounts,
    DashboardPage,
    DashboardQuery,
    DashboardRow,
)
from tests.support.template_case import Case

BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0001")
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0009"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)
CREATED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
NBSP = "\N{NO-BREAK SPACE}"
TITLES: dict[str, str | None] = {"nl": "Overzicht", "en": "Dashboard", "fr": "Tableau de bord"}

ROWS = [
    DashboardRow(
        id=UUID(int=71),
        name="Zorggroep De Linde & Partners",
        status="live",
        country="NL",
        sector="care",
        headcount=1250,
        counsellors=2,
        primary_counsellor=True,
        live_links=3,
        created_at=CREATED,
        cases=CaseCounts(open=4, this_period=9, deadline_breaches=1),
    ),
    DashboardRow(
        id=UUID(int=72),
        name="Ville de Namur",
        status="onboarding",
        country="BE",
        sector="",
        headcount=40,
        counsellors=0,
        primary_counsellor=False,
        live_links=0,
        created_at=CREATED,
    ),
]
WARNINGS = [
    CredentialWarning(
        staff_user_id=UUID(int=81),
        display_name="Karim El Amrani",
        expires_on=date(2026, 1, 10),
        state="expired",
    ),
    CredentialWarning(
        staff_user_id=UUID(int=82), display_name="Lucas Martin", expires_on=None, state="missing"
    ),
]


def _plain(value: Any) -> Any:
    """Dataclasses as namespaces (the template reads attributes either way), so the literal
    text check of test_templates.py sees the data strings inside them."""
    if is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _plain(getattr(value, f.name)) for f in dataclass_fields(value)}
        if isinstance(value, DashboardQuery):
            fields["filtered"] = value.filtered
        return SimpleNamespace(**fields)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _context(query: DashboardQuery, rows: list[DashboardRow], *, total: int, pages: int) -> Any:
    result = DashboardPage(
        query=query, rows=rows, total=total, pages=pages, warnings=WARNINGS if rows else []
    )
    return {
        "result": _plain(result),
        "query": _plain(query),
        "rows": _plain(rows),
        "payment_failed": {rows[0].id} if rows else set(),
        "created": {row.id: "2 nov 2026" for row in rows},
        "expires": {UUID(int=81): "10 jan 2026"},
        "sort_links": {
            key: f"/bureau/dashboard?sort={key}"
            for key in ("name", "status", "headcount", "counsellors", "created")
        },
        "previous_link": "/bureau/dashboard?page=1" if query.page > 1 else None,
        "next_link": "/bureau/dashboard?page=3" if query.page < pages else None,
        "export_link": "/bureau/dashboard.csv?sort=headcount",
        "countries": [c.value for c in Country],
        "sectors": [s.value for s in Sector],
        "statuses": STATUSES,
    }


CASES: list[Case] = [
    Case(
        id="dashboard",
        template="dashboard/dashboard.html",
        context=_context(
            DashboardQuery(sort="headcount", order="desc", page=2, country="NL"),
            ROWS,
            total=120,
            pages=3,
        ),
        path="/bureau/dashboard",
        principal=ADMIN,
        titles=TITLES,
        texts={
            "all": [
                "Zorggroep De Linde &amp; Partners",
                f'href="/organisations/{UUID(int=71)}"',
                f'href="/organisations/{UUID(int=71)}/billing"',  # its payment failed
                'aria-sort="descending"',
                'href="/bureau/dashboard.csv?sort=headcount"',
                'rel="prev"',
                'rel="next"',
                f'href="/bureau/counsellors/{UUID(int=81)}"',
                '<option value="NL" selected>',
            ],
            "nl": ["Organisaties: 120", "pagina 2 van 3", "In inrichting", "Zorg", "10 jan 2026"],
            "en": [
                "Organisations: 120",
                "page 2 of 3",
                "Live",
                "Onboarding",
                "certification expired on 10 jan 2026",
                "no certification recorded",
                "Deadlines missed",
            ],
            "fr": [
                f"Organisations{NBSP}: 120",
                "page 2 sur 3",
                "En service",
                "Personnes de confiance",
            ],
        },
        absent=['<form method="post"', "style="],
    ),
    Case(
        id="dashboard-empty-filtered",
        template="dashboard/dashboard.html",
        context=_context(DashboardQuery(name="<b>x</b>", status="inactive"), [], total=0, pages=1),
        path="/bureau/dashboard",
        principal=ADMIN,
        titles=TITLES,
        texts={
            "all": ['value="&lt;b&gt;x&lt;/b&gt;"', '<option value="inactive" selected>'],
            "nl": ["Organisaties: 0", "Geen organisatie past bij deze filters.", "Filters wissen"],
            "en": ["Organisations: 0", "No organisation matches these filters."],
            "fr": ["Aucune organisation ne correspond"],
        },
        absent=["<table", 'rel="next"', "Karim El Amrani"],
    ),
    Case(
        id="dashboard-empty",
        template="dashboard/dashboard.html",
        context=_context(DashboardQuery(), [], total=0, pages=1),
        path="/bureau/dashboard",
        principal=ADMIN,
        titles=TITLES,
        texts={
            "nl": ["Je bureau heeft nog geen organisaties."],
            "en": ["Your bureau has no organisations yet."],
            "fr": ["Votre bureau"],
        },
        absent=["<table", "Clear filters", "Filters wissen"],
    ),
]
