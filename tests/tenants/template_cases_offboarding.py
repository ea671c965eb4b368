"""Template rendering cases for the offboarding pages (collected by
tests/klankbord/test_templates.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from klankbord.tenancy import staff_context
from tests.support.template_case import Case

BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0001")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0002")
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0009"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)
NAME = "Zorggroep De Linde & Partners"
NBSP = "\N{NO-BREAK SPACE}"
PATH = f"/organisations/{ORGANISATION_ID}/offboarding"
ORGANISATION = {
    "id": ORGANISATION_ID,
    "bureau": BUREAU_ID,
    "name": NAME,
    "export_made_at": None,
    "created_at": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
}
TITLES: dict[str, str | None] = {
    "nl": f"{NAME} afsluiten",
    "en": f"Offboard {NAME}",
    "fr": f"Clôturer {NAME}",
}
ERROR_TITLES: dict[str, str | None] = {
    "nl": f"Fout: {NAME} afsluiten",
    "en": f"Error: Offboard {NAME}",
    "fr": f"Erreur{NBSP}: Clôturer {NAME}",
}


def _context(*, exported: bool, errors: dict[str, str], typed_name: str = "") -> dict[str, object]:
    made = datetime(2026, 11, 20, 14, 5, tzinfo=UTC) if exported else None
    return {
        "organisation": {**ORGANISATION, "export_made_at": made},
        "intake_links": 3,
        "memberships": 2,
        "errors": errors,
        "typed_name": typed_name,
    }


CASES: list[Case] = [
    Case(
        id="offboarding",
        template="offboarding/offboarding.html",
        context=_context(exported=False, errors={}),
        path=PATH,
        principal=ADMIN,
        titles=TITLES,
        texts={
            "en": [
                "everything of it is deleted for good",
                "Its intake links (3): they stop working at once.",
                "organisation contacts (2)",
                "backups can no longer be read either",
                "The export holds everything of this organisation",
                "delete it as soon as you no longer need it",
                "bureau's audit log",
                "You can delete the organisation once you have downloaded the export.",
            ],
            "nl": [
                "voorgoed verwijderd",
                "De meldlinks (3)",
                "Verwijder de export zodra je hem niet meer nodig hebt.",
                "logboek van het bureau",
                "Download de export",
            ],
            "fr": [
                f"Ses liens de signalement (3){NBSP}:",
                "supprimez-le dès que vous n'en avez plus besoin",
                "journal d'audit du bureau",
            ],
            "all": [
                f'action="{PATH}/export"',
                f'action="{PATH}/delete"',
                'name="_csrf_token"',
                'type="checkbox" id="confirm-yes" name="confirm" value="1"',
                f'href="/organisations/{ORGANISATION_ID}"',
                "Zorggroep De Linde &amp; Partners",
            ],
        },
        absent=['role="alert"', "aria-invalid", "An export was downloaded"],
    ),
    Case(
        id="offboarding-errors",
        template="offboarding/offboarding.html",
        context=_context(
            exported=True,
            errors={"name": "mismatch", "confirm": "required"},
            typed_name="zorggroep <de linde>",
        ),
        path=PATH,
        principal=ADMIN,
        status_code=400,
        titles=ERROR_TITLES,
        texts={
            "en": [
                "There is a problem",
                "The name you typed is not the name of this organisation.",
                "Tick the box to confirm that the deletion is for good.",
                "An export was downloaded on",
            ],
            "nl": ["Er is een probleem", "dezelfde hoofdletters", "Vink het vakje aan"],
            "fr": ["Il y a un problème", "Cochez la case"],
            "all": [
                'href="#name"',
                'href="#confirm"',
                'aria-describedby="name-hint name-error" aria-invalid="true"',
                'value="zorggroep &lt;de linde&gt;"',
            ],
        },
        absent=["<de linde>", "once you have downloaded the export"],
    ),
    Case(
        id="offboarding-export-first",
        template="offboarding/offboarding.html",
        context=_context(exported=False, errors={"export": "export_first", "name": "required"}),
        path=PATH,
        principal=ADMIN,
        status_code=400,
        titles=ERROR_TITLES,
        texts={
            "en": ["Download the export first (step 1).", "Type the name of the organisation."],
            "nl": ["Download eerst de export (stap 1)."],
            "fr": ["Téléchargez d'abord l'export (étape 1)."],
            "all": ['href="#export"', 'id="export" aria-describedby="export-error"'],
        },
    ),
]
