"""Template rendering cases for the procedure texts pages (collected by
tests/klankbord/test_templates.py)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from klankbord.markdown import render_markdown
from klankbord.tenancy import Role, staff_context
from tenants.choices import Procedure
from tenants.default_texts import LANGUAGES
from tests.support.template_case import Case

BUREAU_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0101")
ORGANISATION_ID = UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0102")
ADMIN = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0103"),
    bureau_id=BUREAU_ID,
    bureau_admin=True,
)
CONTACT = staff_context(
    staff_user_id=UUID("0b8f6b1e-5d0c-4c52-9a51-0d7f1f7a0104"),
    bureau_id=BUREAU_ID,
    organisation_roles=[(ORGANISATION_ID, Role.ORGANISATION_CONTACT)],
)
BUREAU = {"id": BUREAU_ID, "name": "Vertrouwenspunt Oost & Co"}
ORGANISATION = {
    "id": ORGANISATION_ID,
    "bureau": BUREAU_ID,
    "name": "Zorggroep De Linde & Partners",
    "languages": "nl,en",
    "procedures": "integrity,rehabilitation",
}
BODY = "Welkom bij het meldpunt <van> het bureau."
HTML = render_markdown(BODY)  # one paragraph, the angle brackets escaped
NBSP = "\N{NO-BREAK SPACE}"
NOT_TRANSLATED = ["Procedure texts", "Built-in text", "Edit procedure text"]


def _entry(procedure: str, language: str, source: str, **extra: Any) -> dict[str, Any]:
    return {
        "procedure": procedure,
        "language": language,
        "source": source,
        "body": BODY,
        "html": HTML,
        **extra,
    }


LIBRARY = [
    _entry(procedure.value, language, "bureau" if number == 1 else "default")
    for number, (procedure, language) in enumerate(
        (procedure, language) for procedure in Procedure for language in LANGUAGES
    )
]

LIBRARY_TITLES: dict[str, str | None] = {
    "nl": "Procedureteksten",
    "en": "Procedure texts",
    "fr": "Textes des procédures",
}
EDIT_TITLES: dict[str, str | None] = {
    "nl": "Proceduretekst aanpassen",
    "en": "Edit procedure text",
    "fr": "Modifier le texte de la procédure",
}


def _error_titles(titles: dict[str, str | None]) -> dict[str, str | None]:
    return {
        "nl": f"Fout: {titles['nl']}",
        "en": f"Error: {titles['en']}",
        "fr": f"Erreur{NBSP}: {titles['fr']}",
    }


def _organisation_entries(errors: dict[str, str] | None = None, typed: str = "") -> list[Any]:
    entries = []
    for procedure in ("integrity", "rehabilitation"):
        for language, source in (("nl", "organisation"), ("en", "default")):
            entry = _entry(procedure, language, source, form_body=BODY, errors={})
            if errors is not None and (procedure, language) == ("integrity", "en"):
                entry.update(form_body=typed, errors=errors)
            entries.append(entry)
    return entries


ORGANISATION_PATH = f"/organisations/{ORGANISATION_ID}/procedure-texts"

CASES: list[Case] = [
    Case(
        id="procedure-texts-library",
        template="procedure_texts/library.html",
        context={"bureau": BUREAU, "entries": LIBRARY, "notice": "saved"},
        path="/bureau/procedure-texts",
        principal=ADMIN,
        titles=LIBRARY_TITLES,
        texts={
            "all": [
                "Vertrouwenspunt Oost &amp; Co",
                "/bureau/procedure-texts/edit?procedure=rehabilitation&amp;language=fr",
            ],
            "nl": ["Standaardtekst", "Tekst van het bureau", "is opgeslagen"],
            "en": ["Built-in text", "Bureau text", "The bureau text has been saved."],
            "fr": ["Texte standard", "Texte du bureau"],
        },
        absent=[BODY, "&lt;van&gt;"],  # the table shows sources, not texts
    ),
    Case(
        id="procedure-texts-library-removed",
        template="procedure_texts/library.html",
        context={"bureau": BUREAU, "entries": LIBRARY, "notice": "removed"},
        path="/bureau/procedure-texts",
        principal=ADMIN,
        titles=LIBRARY_TITLES,
        texts={"nl": ["De standaardtekst geldt weer."], "en": ["applies again"]},
    ),
    Case(
        id="procedure-texts-edit",
        template="procedure_texts/edit.html",
        context={
            "bureau": BUREAU,
            "procedure": "integrity",
            "text_language": "fr",
            "saved": _entry("integrity", "fr", "bureau"),
            "body": BODY,
            "errors": {},
            "max_body": 20_000,
        },
        path="/bureau/procedure-texts/edit",
        principal=ADMIN,
        titles=EDIT_TITLES,
        texts={
            "all": [
                'name="_csrf_token"',
                'name="procedure" value="integrity"',
                'name="language" value="fr"',
                '<div class="procedure-text" lang="fr"><p>Welkom bij het meldpunt &lt;van&gt;',
                ">\nWelkom bij het meldpunt &lt;van&gt; het bureau.</textarea>",
            ],
            "nl": ["Integriteitsschending", "Frans", "Voorbeeld van de opgeslagen tekst"],
            "en": ["Integrity violation", "French", "Preview of the saved text", "markdown"],
            "fr": ["Aperçu du texte enregistré"],
        },
        absent=['aria-invalid="true"', "<van>"],
    ),
    Case(
        id="procedure-texts-edit-errors",
        template="procedure_texts/edit.html",
        context={
            "bureau": BUREAU,
            "procedure": "whistleblowing",
            "text_language": "de",
            "saved": None,
            "body": "Mijn getypte tekst",
            "errors": {"procedure": "unknown", "language": "unknown", "body": "too_long"},
            "max_body": 20_000,
        },
        path="/bureau/procedure-texts/edit",
        principal=ADMIN,
        status_code=400,
        titles=_error_titles(EDIT_TITLES),
        texts={
            "all": ['aria-invalid="true"', 'href="#body"', ">\nMijn getypte tekst</textarea>"],
            "nl": ["Kies een procedure uit de lijst.", "hoogstens 20.000 tekens"],
            "en": ["Choose Dutch, English or French.", "at most 20,000 characters."],
            "fr": [f"20{NBSP}000 caractères au maximum."],
        },
        absent=['procedure-text"'],
    ),
    Case(
        id="procedure-texts-organisation-admin",
        template="procedure_texts/organisation.html",
        context={
            "organisation": ORGANISATION,
            "entries": _organisation_entries(),
            "is_admin": True,
            "notice": "saved",
            "errors": {},
            "unmatched": None,
            "error_target": "",
            "max_body": 20_000,
        },
        path=ORGANISATION_PATH,
        principal=ADMIN,
        titles=LIBRARY_TITLES,
        texts={
            "all": [
                "Zorggroep De Linde &amp; Partners",
                f'action="/organisations/{ORGANISATION_ID}/procedure-texts"',
                'id="body-rehabilitation-en"',
                '<div class="procedure-text" lang="nl"><p>Welkom',
            ],
            "nl": ["Tekst van deze organisatie", "Rehabilitatie (Engels)"],
            "en": ["Text of this organisation", "Integrity violation (Dutch)"],
            "fr": ["Texte de cette organisation"],
        },
        absent=['aria-invalid="true"', "<van>"],
    ),
    Case(
        id="procedure-texts-organisation-contact",
        template="procedure_texts/organisation.html",
        context={
            "organisation": ORGANISATION,
            "entries": _organisation_entries(),
            "is_admin": False,
            "notice": None,
            "errors": {},
            "unmatched": None,
            "error_target": "",
            "max_body": 20_000,
        },
        path=ORGANISATION_PATH,
        principal=CONTACT,
        titles=LIBRARY_TITLES,
        texts={"en": ["Reporters of Zorggroep De Linde &amp; Partners read these texts"]},
        absent=["<textarea", '<form method="post" action="/organisations'],
    ),
    Case(
        id="procedure-texts-organisation-errors",
        template="procedure_texts/organisation.html",
        context={
            "organisation": ORGANISATION,
            "entries": _organisation_entries({"body": "too_long"}, typed="Te lange tekst"),
            "is_admin": True,
            "notice": None,
            "errors": {"body": "too_long"},
            "unmatched": None,
            "error_target": "body-integrity-en",
            "max_body": 20_000,
        },
        path=ORGANISATION_PATH,
        principal=ADMIN,
        status_code=400,
        titles=_error_titles(LIBRARY_TITLES),
        texts={
            "all": [
                'href="#body-integrity-en"',
                'aria-invalid="true">\nTe lange tekst</textarea>',
                '<details class="procedure-text-edit" open>',
            ],
            "nl": ["Er is een probleem"],
        },
    ),
    Case(
        id="procedure-texts-organisation-unmatched",
        template="procedure_texts/organisation.html",
        context={
            "organisation": {**ORGANISATION, "procedures": "", "languages": ""},
            "entries": [],
            "is_admin": True,
            "notice": "removed",
            "errors": {"procedure": "not_enabled", "language": "not_used"},
            "unmatched": {"procedure": "integrity", "language": "fr", "body": "Mon texte"},
            "error_target": "unmatched-body",
            "max_body": 20_000,
        },
        path=ORGANISATION_PATH,
        principal=ADMIN,
        status_code=400,
        titles=_error_titles(LIBRARY_TITLES),
        texts={
            "all": [">\nMon texte</textarea>"],
            "nl": ["Deze procedure staat niet aan", "gebruikt deze taal niet", "nog geen"],
            "en": ["The text you typed (not saved)", "is not enabled for this organisation"],
        },
    ),
]
