"""Template rendering cases for the onboarding pages (collected by
tests/klankbord/test_templates.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import UUID

from klankbord.tenancy import platform_context, staff_context
from tenants.onboarding import STEPS
from tests.support.template_case import Case

NBSP = "\N{NO-BREAK SPACE}"
BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0101")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0102")
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0103"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)
OPERATOR = platform_context(UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0104"))
BASE = f"/organisations/{ORGANISATION_ID}/onboarding"

ORGANISATION: dict[str, Any] = {
    "id": ORGANISATION_ID,
    "bureau": BUREAU_ID,
    "name": "Woonstichting De Brug & Co",
    "country": "NL",
    "sector": "housing",
    "headcount": 240,
    "active": True,
    "languages": "nl,en",
    "procedures": "unwanted_behaviour,integrity",
    "onboarding_step": "review",
    "onboarded_at": None,
    "retention_months_closed": 24,
    "retention_months_no_follow_up": 2,
    "created_at": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
}
COUNSELLORS = [
    {
        "id": UUID(int=201),
        "assignment": "primary",
        "staff_user_id": UUID(int=211),
        "display_name": "Sanne de Vries",
    },
    {
        "id": UUID(int=202),
        "assignment": "substitute",
        "staff_user_id": UUID(int=212),
        "display_name": "Luc Dubois",
    },
]
CANDIDATES = [{"id": UUID(int=221), "display_name": "Ilse Jansen", "email": "ilse@example.test"}]
AUTHORITIES = [
    {
        "id": UUID(int=231),
        "name": "Huis voor Klokkenluiders",
        "contact": "https://example.test/hvk",
    },
    {"id": UUID(int=232), "name": "Politie", "contact": ""},
]


def _state(**changes: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "organisation": ORGANISATION,
        "counsellors": COUNSELLORS,
        "candidates": CANDIDATES,
        "authorities": AUTHORITIES,
        "live_links": False,
        "step": "review",
        "languages": ["nl", "en"],
        "procedures": ["unwanted_behaviour", "integrity"],
        "duties": True,
        "has_primary": True,
    }
    values.update(changes)
    return SimpleNamespace(**values)


def _wizard(step: str, form: dict[str, Any], errors: dict[str, str] | None = None, **more: Any):
    index = STEPS.index(step)
    return {
        "organisation": more.pop("organisation", ORGANISATION),
        "state": more.pop("state", _state()),
        "step": step,
        "steps": STEPS,
        "action": f"{BASE}/{step}",
        "back": f"/organisations/{ORGANISATION_ID}" if index == 0 else f"{BASE}/{STEPS[index - 1]}",
        "form": form,
        "errors": errors or {},
        "countries": ["NL", "BE"],
        "sectors": ["education", "care", "housing", "financial"],
        "languages": ["nl", "en", "fr"],
        "procedures": ["unwanted_behaviour", "integrity", "rehabilitation"],
        "wizard": True,
        "bureau_name": "",
        **more,
    }


def _error_titles(nl: str, en: str, fr: str) -> dict[str, str | None]:
    return {"nl": f"Fout: {nl}", "en": f"Error: {en}", "fr": f"Erreur{NBSP}: {fr}"}


PROFILE_TITLES: dict[str, str | None] = {
    "nl": "Gegevens van de organisatie",
    "en": "Organisation details",
    "fr": "Données de l'organisation",
}
PROFILE_FORM = {"name": "", "country": "NL", "sector": "", "headcount": ""}

CASES: list[Case] = [
    Case(
        id="onboarding-bureau-new",
        template="onboarding/bureau_new.html",
        context={
            "form": {"bureau_name": "", "admin_name": "", "admin_email": "", "language": "nl"},
            "errors": {},
            "created": True,
            "bureaus": [{"id": BUREAU_ID, "name": "Vertrouwenspunt Oost"}],
            "languages": ["nl", "en", "fr"],
        },
        path="/platform/bureaus/new",
        principal=OPERATOR,
        titles={"nl": "Nieuw bureau", "en": "New bureau", "fr": "Nouveau bureau"},
        texts={
            "all": ["Vertrouwenspunt Oost", 'name="_csrf_token"', 'role="status"'],
            "nl": ["De bureaubeheerder krijgt een e-mail"],
            "fr": ["Créer le bureau et envoyer l'invitation"],
        },
        absent=["error-summary"],
    ),
    Case(
        id="onboarding-bureau-new-errors",
        template="onboarding/bureau_new.html",
        context={
            "form": {
                "bureau_name": "Bureau <Oost>",
                "admin_name": "",
                "admin_email": "wrong",
                "language": "fr",
            },
            "errors": {"bureau_name": "taken", "admin_name": "required", "admin_email": "invalid"},
            "created": False,
            "bureaus": [],
            "languages": ["nl", "en", "fr"],
        },
        path="/platform/bureaus/new",
        principal=OPERATOR,
        status_code=400,
        titles=_error_titles("Nieuw bureau", "New bureau", "Nouveau bureau"),
        texts={
            "all": ['href="#bureau_name"', 'value="Bureau &lt;Oost&gt;"', 'aria-invalid="true"'],
            "nl": ["Er is al een bureau met deze naam.", "Nog geen bureau."],
            "en": ["Enter the name of the bureau admin."],
        },
    ),
    Case(
        id="onboarding-organisation-new",
        template="onboarding/profile.html",
        context={
            "organisation": None,
            "bureau_name": "Vertrouwenspunt Oost",
            "action": "/organisations/new",
            "back": "/organisations",
            "step": "profile",
            "steps": STEPS,
            "form": PROFILE_FORM,
            "errors": {},
            "countries": ["NL", "BE"],
            "sectors": ["education", "care", "financial"],
        },
        path="/organisations/new",
        principal=ADMIN,
        titles=PROFILE_TITLES,
        texts={
            "all": ["Vertrouwenspunt Oost", 'action="/organisations/new"', 'aria-current="step"'],
            "nl": ["Nieuwe organisatie voor", "Stap 1 van 6"],
            "fr": ["Étape 1 sur 6", "Pays-Bas"],
        },
        absent=["error-summary", f"{BASE}/scope"],
    ),
    Case(
        id="onboarding-profile-errors",
        template="onboarding/profile.html",
        context=_wizard(
            "profile",
            {"name": "De Brug", "country": "BE", "sector": "care", "headcount": "abc"},
            {"headcount": "not_a_number", "name": "taken"},
        ),
        path=f"{BASE}/profile",
        principal=ADMIN,
        status_code=400,
        titles=_error_titles(
            "Gegevens van de organisatie", "Organisation details", "Données de l'organisation"
        ),
        texts={
            "all": ['value="abc"', 'href="#headcount"', 'id="headcount-error"'],
            "nl": ["Vul het aantal medewerkers in als heel getal", "Er is een probleem"],
            "en": ["Enter the headcount as a whole number, like 120."],
            "fr": ["Votre bureau a déjà une organisation de ce nom."],
        },
    ),
    Case(
        id="onboarding-scope-duties",
        template="onboarding/scope.html",
        context=_wizard(
            "scope",
            {"languages": ["nl"], "procedures": ["unwanted_behaviour"]},
            {"procedures": "integrity_required"},
        ),
        path=f"{BASE}/scope",
        principal=ADMIN,
        status_code=400,
        titles=_error_titles(
            "Talen en procedures", "Languages and procedures", "Langues et procédures"
        ),
        texts={
            "all": [
                'id="language-nl" name="languages" value="nl" checked',
                f'href="{BASE}/profile"',
            ],
            "nl": ["De klokkenluiderswet geldt voor deze organisatie."],
            "en": ["enable the integrity procedure"],
        },
    ),
    Case(
        id="onboarding-scope-no-duties",
        template="onboarding/scope.html",
        context=_wizard("scope", {"languages": [], "procedures": []}, state=_state(duties=False)),
        path=f"{BASE}/scope",
        principal=ADMIN,
        titles={
            "nl": "Talen en procedures",
            "en": "Languages and procedures",
            "fr": "Langues et procédures",
        },
        texts={"en": ["does not oblige this organisation"]},
        absent=[" checked", "error-summary"],
    ),
    Case(
        id="onboarding-counsellors",
        template="onboarding/counsellors.html",
        context=_wizard(
            "counsellors",
            {"staff_user_id": "", "assignment": "primary"},
            {"form": "last_counsellor_with_live_links"},
        ),
        path=f"{BASE}/counsellors",
        principal=ADMIN,
        status_code=400,
        titles=_error_titles("Vertrouwenspersonen", "Counsellors", "Personnes de confiance"),
        texts={
            "all": ["Sanne de Vries", "Luc Dubois", "Ilse Jansen", 'value="continue"'],
            "nl": ["Dit is de laatste vertrouwenspersoon", "Vervangend"],
            "fr": ["Suppléante"],
        },
    ),
    Case(
        id="onboarding-counsellors-manage",
        template="onboarding/counsellors.html",
        context={
            **_wizard(
                "counsellors",
                {"staff_user_id": "", "assignment": "primary"},
                state=_state(candidates=[]),
            ),
            "action": f"/organisations/{ORGANISATION_ID}/counsellors",
            "back": f"/organisations/{ORGANISATION_ID}",
            "wizard": False,
        },
        path=f"/organisations/{ORGANISATION_ID}/counsellors",
        principal=ADMIN,
        titles={"nl": "Vertrouwenspersonen", "en": "Counsellors", "fr": "Personnes de confiance"},
        texts={
            "all": [f'action="/organisations/{ORGANISATION_ID}/counsellors/remove"'],
            "en": ["Every staff member who can be a counsellor here is assigned already."],
        },
        absent=['value="continue"', "wizard-steps"],
    ),
    Case(
        id="onboarding-authorities",
        template="onboarding/authorities.html",
        context=_wizard(
            "authorities",
            {"authority_name": "", "authority_contact": "x" * 301},
            {"authority_name": "required", "authority_contact": "too_long"},
        ),
        path=f"{BASE}/authorities",
        principal=ADMIN,
        status_code=400,
        titles=_error_titles(
            "Bevoegde autoriteiten", "Competent authorities", "Autorités compétentes"
        ),
        texts={
            "all": ["Huis voor Klokkenluiders", "https://example.test/hvk", 'name="authority_id"'],
            "nl": ["Vul de naam van de autoriteit in."],
            "fr": ["Saisissez 300 caractères au maximum."],
        },
    ),
    Case(
        id="onboarding-authorities-empty",
        template="onboarding/authorities.html",
        context=_wizard(
            "authorities",
            {"authority_name": "", "authority_contact": ""},
            state=_state(authorities=[]),
        ),
        path=f"{BASE}/authorities",
        principal=ADMIN,
        titles={
            "nl": "Bevoegde autoriteiten",
            "en": "Competent authorities",
            "fr": "Autorités compétentes",
        },
        texts={"nl": ["Nog geen bevoegde autoriteit."]},
    ),
    Case(
        id="onboarding-retention",
        template="onboarding/retention.html",
        context=_wizard(
            "retention",
            {"retention_months_closed": "24", "retention_months_no_follow_up": "30"},
            {"retention_months_no_follow_up": "out_of_range"},
        ),
        path=f"{BASE}/retention",
        principal=ADMIN,
        status_code=400,
        titles=_error_titles("Bewaartermijnen", "Retention", "Durées de conservation"),
        texts={
            "all": [
                'value="30"',
                'aria-describedby="retention_months_no_follow_up-hint'
                ' retention_months_no_follow_up-error"',
            ],
            "en": ["Enter a whole number of months from 1 to 24."],
            "nl": ["Meestal 24."],
        },
    ),
    Case(
        id="onboarding-review",
        template="onboarding/review.html",
        context=_wizard("review", {}),
        path=f"{BASE}/review",
        principal=ADMIN,
        titles={
            "nl": "Controleren en afronden",
            "en": "Check and finish",
            "fr": "Vérifier et terminer",
        },
        texts={
            "all": [
                "Woonstichting De Brug &amp; Co",
                "Sanne de Vries",
                "Politie",
                f'action="{BASE}/review"',
            ],
            "en": ["The plan is set by billing.", "Finish"],
            "nl": ["Het abonnement wordt ingesteld via de facturatie."],
        },
        absent=["error-summary"],
    ),
    Case(
        id="onboarding-review-refused",
        template="onboarding/review.html",
        context=_wizard(
            "review",
            {},
            {"procedures": "required", "counsellors": "primary_required"},
            organisation={**ORGANISATION, "procedures": ""},
            state=_state(counsellors=[], procedures=[], authorities=[]),
        ),
        path=f"{BASE}/review",
        principal=ADMIN,
        status_code=400,
        titles=_error_titles("Controleren en afronden", "Check and finish", "Vérifier et terminer"),
        texts={
            "all": [f'href="{BASE}/counsellors">', f'href="{BASE}/scope">'],
            "en": ["Assign at least one primary counsellor.", "Choose at least one procedure."],
        },
    ),
    Case(
        id="onboarding-review-done",
        template="onboarding/review.html",
        context=_wizard(
            "review",
            {},
            organisation={**ORGANISATION, "onboarded_at": datetime(2026, 11, 3, tzinfo=UTC)},
        ),
        path=f"{BASE}/review",
        principal=ADMIN,
        titles={
            "nl": "Controleren en afronden",
            "en": "Check and finish",
            "fr": "Vérifier et terminer",
        },
        texts={
            "en": ["This organisation is onboarded."],
            "fr": ["Cette organisation est intégrée."],
        },
        absent=[f'action="{BASE}/review"'],
    ),
]
