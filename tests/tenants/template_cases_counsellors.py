"""Template rendering cases for the counsellors pages (collected by
tests/klankbord/test_templates.py)."""

from __future__ import annotations

from uuid import UUID

from klankbord.tenancy import staff_context
from tests.support.template_case import Case

NBSP = "\N{NO-BREAK SPACE}"
BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0001")
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0009"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)


def _date(iso: str, text: str) -> dict[str, str]:
    return {"iso": iso, "text": text}


SANNE = {
    "staff_user_id": UUID(int=61),
    "display_name": "Sanne de Vries & Co",
    "organisations": [
        {"name": "Zorggroep De Linde", "assignment": "primary"},
        {"name": "Ville de Namur", "assignment": "substitute"},
    ],
    "certified_on": _date("2024-02-29", "29 feb 2024"),
    "expires_on": _date("2028-02-29", "29 feb 2028"),
    "training_hours": 16,
    "state": "valid",
}
COUNSELLORS = [
    SANNE,
    {
        **SANNE,
        "staff_user_id": UUID(int=62),
        "display_name": "Karim El Amrani",
        "organisations": [{"name": "Ville de Namur", "assignment": "primary"}],
        "certified_on": _date("2022-01-10", "10 jan 2022"),
        "expires_on": _date("2026-01-10", "10 jan 2026"),
        "state": "expired",
    },
    {
        **SANNE,
        "staff_user_id": UUID(int=63),
        "display_name": "Noor Bakker",
        "certified_on": _date("2022-03-01", "1 mrt 2022"),
        "expires_on": _date("2026-03-01", "1 mrt 2026"),
        "state": "expiring",
    },
    {
        **SANNE,
        "staff_user_id": UUID(int=64),
        "display_name": "Lucas Martin",
        "organisations": [],
        "certified_on": None,
        "expires_on": None,
        "training_hours": None,
        "state": "missing",
    },
]
LIST_TITLES: dict[str, str | None] = {
    "nl": "Vertrouwenspersonen",
    "en": "Counsellors",
    "fr": "Personnes de confiance",
}

CASES: list[Case] = [
    Case(
        id="counsellors-list",
        template="counsellors/list.html",
        context={
            "counsellors": COUNSELLORS,
            "sort": "expiry",
            "saved": True,
            "warning_days": 90,
            "cycle_years": 4,
        },
        path="/bureau/counsellors",
        principal=ADMIN,
        titles=LIST_TITLES,
        texts={
            "en": [
                "Zorggroep De Linde (primary)",
                "Ville de Namur (substitute)",
                "Expired",
                "Expires within 90 days",
                "Not recorded",
                "Valid",
                "The credentials are saved.",
                'href="/bureau/counsellors">Sort by name',
            ],
            "nl": ["Verlopen", "Verloopt binnen 90 dagen", "Niet ingevuld", "(vervangend)"],
            "fr": ["Expirée", "Non renseignée", "(suppléante)"],
            "all": [
                "Sanne de Vries &amp; Co",
                '<time datetime="2028-02-29">29 feb 2028</time>',
                f'href="/bureau/counsellors/{UUID(int=62)}"',
                'aria-sort="ascending"',
                "credential-expired",
            ],
        },
    ),
    Case(
        id="counsellors-list-empty",
        template="counsellors/list.html",
        context={
            "counsellors": [],
            "sort": "name",
            "saved": False,
            "warning_days": 90,
            "cycle_years": 4,
        },
        path="/bureau/counsellors",
        principal=ADMIN,
        titles=LIST_TITLES,
        texts={"en": ["Your bureau has no counsellors yet."], "all": ['href="/bureau/staff"']},
        absent=["<table", 'role="status"'],
    ),
    *[
        Case(
            id=f"counsellor-edit{'-errors' if errors else ''}",
            template="counsellors/edit.html",
            context={
                "counsellor": COUNSELLORS[2],
                "form": (
                    {
                        "certified_on": "2022-03-01",
                        "expires_on": "2030-01-01",
                        "training_hours": "x",
                    }
                    if errors
                    else {
                        "certified_on": "2022-03-01",
                        "expires_on": "2026-03-01",
                        "training_hours": "16",
                    }
                ),
                "errors": errors,
                "today": "2026-01-20",
                "max_training_hours": 2000,
                "cycle_years": 4,
                "warning_days": 90,
            },
            path=f"/bureau/counsellors/{UUID(int=63)}",
            principal=ADMIN,
            status_code=400 if errors else 200,
            titles={
                "nl": f"{'Fout: ' if errors else ''}Certificering van Noor Bakker",
                "en": f"{'Error: ' if errors else ''}Credentials of Noor Bakker",
                "fr": f"{'Erreur' + NBSP + ': ' if errors else ''}Certification de Noor Bakker",
            },
            texts=(
                {
                    "en": [
                        "There is a problem",
                        "The expiry date can be at most 4 years after the certification date.",
                        "Enter a whole number of hours from 0 to 2000.",
                        "The certification date cannot be in the future.",
                    ],
                    "all": [
                        'href="#expires_on"',
                        'value="2030-01-01"',
                        'value="x"',
                        'aria-describedby="expires_on-hint expires_on-error" aria-invalid="true"',
                    ],
                }
                if errors
                else {
                    "en": ["Expires within 90 days", "Training hours", "All counsellors"],
                    "all": [
                        'type="date"',
                        'max="2026-01-20"',
                        'value="2026-03-01"',
                        'name="_csrf_token"',
                        f'action="/bureau/counsellors/{UUID(int=63)}"',
                    ],
                }
            ),
            absent=[] if errors else ['role="alert"'],
        )
        for errors in (
            {},
            {"certified_on": "in_future", "expires_on": "beyond_cycle", "training_hours": "x"},
        )
    ],
    Case(
        id="counsellor-edit-not-a-date",
        template="counsellors/edit.html",
        context={
            "counsellor": COUNSELLORS[3],
            "form": {"certified_on": "gisteren", "expires_on": "", "training_hours": ""},
            "errors": {
                "certified_on": "not_a_date",
                "expires_on": "before_certified",
                "training_hours": "required",
            },
            "today": "2026-01-20",
            "max_training_hours": 2000,
            "cycle_years": 4,
            "warning_days": 90,
        },
        path=f"/bureau/counsellors/{UUID(int=64)}",
        principal=ADMIN,
        status_code=400,
        titles={
            "nl": "Fout: Certificering van Lucas Martin",
            "en": "Error: Credentials of Lucas Martin",
            "fr": f"Erreur{NBSP}: Certification de Lucas Martin",
        },
        texts={
            "en": [
                "Enter a real date.",
                "The expiry date cannot be before the certification date.",
                "Enter the training hours (0 if none yet).",
                "Not recorded",
            ],
            "all": ['value="gisteren"'],
        },
    ),
]
